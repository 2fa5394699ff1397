import { setMaxListeners } from 'node:events';
import { onStopSignals, type StopSignal } from '../signals.js';

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
  private stopListening: (() => void) | undefined;

  constructor(private readonly graceMs: number) {
    setMaxListeners(0, this.graceful.signal, this.hard.signal); // shards and their requests listen to both
  }

  install(proc: NodeJS.Process = process): this {
    this.stopListening = onStopSignals((name) => this.stop(name), proc);
    return this;
  }

  uninstall(): void {
    this.stopListening?.();
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
