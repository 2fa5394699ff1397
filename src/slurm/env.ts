/** What Slurm tells a process about the job it runs in, from the `SLURM_*` environment variables. Pure. */
export interface SlurmTask {
  /** the job to ask the scheduler about (`SLURM_JOB_ID`: each array task has its own) */
  jobId: string;
  /** the array's job id and this task's index, in an array job */
  arrayJobId?: string;
  arrayTaskId?: string;
  /** how many times Slurm requeued this job (`SLURM_RESTART_COUNT`) */
  restartCount: number;
}

/** The Slurm job this process runs in, or undefined outside Slurm. */
export function slurmTaskOf(env: NodeJS.ProcessEnv): SlurmTask | undefined {
  if (!env.SLURM_JOB_ID) return undefined;
  const restartCount = Number(env.SLURM_RESTART_COUNT ?? 0);
  return {
    jobId: env.SLURM_JOB_ID,
    ...(env.SLURM_ARRAY_JOB_ID && env.SLURM_ARRAY_TASK_ID
      ? { arrayJobId: env.SLURM_ARRAY_JOB_ID, arrayTaskId: env.SLURM_ARRAY_TASK_ID }
      : {}),
    restartCount: Number.isInteger(restartCount) && restartCount > 0 ? restartCount : 0,
  };
}

/** `<array job>_<task>` in an array, the job id in a plain job; `-r<N>` after a requeue, so a rerun gets a fresh name. */
export function workerIdOf(task: SlurmTask): string {
  const base = task.arrayJobId !== undefined ? `${task.arrayJobId}_${task.arrayTaskId}` : task.jobId;
  return task.restartCount > 0 ? `${base}-r${task.restartCount}` : base;
}
