import os from 'node:os';
import type { WorkerIdentity } from '../manifest/index.js';
import { execaSlurmClient, slurmTaskOf, workerIdOf, type SlurmClient } from '../slurm/index.js';
import { localIdentity } from '../worker/index.js';

/** Who a worker is and until when it may work: what its executor knows and the worker does not. */
export interface WorkerEnvironment {
  identity: WorkerIdentity;
  /** epoch ms: the scheduler's end of this job, if any */
  deadlineMs?: number;
}

/**
 * The environment of a worker started here: under Slurm its name is `<array job>_<task>` and its deadline the job's end
 * time (one squeue call, at start); elsewhere `local-<host>-<pid>` and no deadline. `workerId` (from `--worker-id`)
 * overrides the name.
 */
export async function workerEnvironment({
  env = process.env,
  workerId,
  slurm = execaSlurmClient(),
}: { env?: NodeJS.ProcessEnv; workerId?: string; slurm?: Pick<SlurmClient, 'jobEndTime'> } = {}): Promise<WorkerEnvironment> {
  const task = slurmTaskOf(env);
  if (!task) return { identity: localIdentity(workerId) };
  const identity: WorkerIdentity = {
    workerId: workerId ?? workerIdOf(task),
    host: os.hostname(),
    pid: process.pid,
    slurmJobId: task.arrayJobId ?? task.jobId,
    ...(task.arrayTaskId !== undefined && { slurmArrayTaskId: task.arrayTaskId }),
  };
  const deadlineMs = await slurm.jobEndTime(task.jobId);
  return { identity, ...(deadlineMs !== undefined && { deadlineMs }) };
}
