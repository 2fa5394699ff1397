import { setMaxListeners } from 'node:events';

/** The signals that stop a worker: Ctrl-C, `kill`/`scancel`, and what Slurm sends ahead of a time limit (`--signal`). */
export const STOP_SIGNALS = ['SIGTERM', 'SIGINT', 'SIGUSR1'] as const;
export type StopSignal = (typeof STOP_SIGNALS)[number];

/**
 * Two-stage stop. The first signal aborts `graceful` (claim nothing more, let in-flight clips finish) and arms a
 * timer that aborts `hard` after the grace period; a second signal aborts `hard` at once (in-flight downloads are
 * abandoned and their temporaries deleted).
 */
export class StopController {
  readonly graceful = new AbortController();
  readonly hard = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  /** the first signal received */
  signal: StopSignal | undefined;
  private readonly onSignal = (name: NodeJS.Signals): void => this.stop(name as StopSignal);

  constructor(private readonly graceMs: number) {
    setMaxListeners(0, this.graceful.signal, this.hard.signal); // shards and their requests listen to both
  }

  install(proc: NodeJS.Process = process): this {
    for (const s of STOP_SIGNALS) proc.on(s, this.onSignal);
    return this;
  }

  uninstall(proc: NodeJS.Process = process): void {
    for (const s of STOP_SIGNALS) proc.off(s, this.onSignal);
    if (this.timer) clearTimeout(this.timer);
  }

  stop(name: StopSignal): void {
    if (this.graceful.signal.aborted) {
      this.hard.abort(new Error(`second signal ${name}`));
      return;
    }
    this.signal = name;
    this.graceful.abort(new Error(name));
    this.timer = setTimeout(() => this.hard.abort(new Error(`grace period over after ${name}`)), this.graceMs);
    this.timer.unref();
  }

  get stopping(): boolean {
    return this.graceful.signal.aborted;
  }
}
