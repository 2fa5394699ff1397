import { runWorker, type WorkerRunInput, type WorkerRunResult } from '../worker/index.js';
import { workerEnvironment } from './environment.js';

/**
 * `fleetclip work`: one worker in this process, told who it is and until when it may work by the environment it was
 * started in (a Slurm array task, the local executor, a shell).
 */
export async function runThisWorker(
  input: Omit<WorkerRunInput, 'identity' | 'deadlineMs'> & { workerId?: string },
  io: { stderr: { write(text: string): unknown; isTTY?: boolean } },
  env: NodeJS.ProcessEnv = process.env,
): Promise<WorkerRunResult> {
  const { workerId, ...rest } = input;
  const { identity, deadlineMs } = await workerEnvironment({ env, ...(workerId !== undefined && { workerId }) });
  return runWorker({ ...rest, identity, ...(deadlineMs !== undefined && { deadlineMs }) }, io);
}
