/**
 * The signals that ask a fleetclip process to stop: Ctrl-C, `kill`/`scancel`, and what Slurm sends ahead of a time
 * limit (`--signal=B:USR1@…`). Every command that stops on a signal listens through `onStopSignals`, so they all
 * agree on which signals those are.
 */
export const STOP_SIGNALS = ['SIGTERM', 'SIGINT', 'SIGUSR1'] as const;
export type StopSignal = (typeof STOP_SIGNALS)[number];

/** Calls `handler` on each stop signal until the returned function is called. */
export function onStopSignals(handler: (signal: StopSignal) => void, proc: NodeJS.Process = process): () => void {
  const listener = (name: NodeJS.Signals): void => handler(name as StopSignal);
  for (const s of STOP_SIGNALS) proc.on(s, listener);
  return () => {
    for (const s of STOP_SIGNALS) proc.off(s, listener);
  };
}
