/** What any executor is asked: run `workers` workers (`fleetclip work --manifest …`) on a campaign. */
export interface LaunchRequest {
  manifestPath: string;
  workers: number;
  /** options every worker gets after `work --manifest PATH` */
  workerArgs: readonly string[];
}

export interface LaunchResult {
  /** the command's exit code (docs/exit-codes.md) */
  exitCode: number;
  /** one line for the user: how it ended */
  summary: string;
}

/**
 * Where workers run. The local executor starts them as child processes and supervises them to the end; a scheduler
 * executor (Slurm) submits them as array tasks and returns once they are queued. Workers are the same either way: they
 * are handed their identity and deadline (environment.ts) and know nothing of who started them.
 */
export interface Executor<R extends LaunchResult = LaunchResult> {
  readonly kind: 'local' | 'slurm';
  launch(request: LaunchRequest): Promise<R>;
}
