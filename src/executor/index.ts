export { workerEnvironment } from './environment.js';
export type { WorkerEnvironment } from './environment.js';
export { EXECUTOR_DEFAULTS, defaultWorkerCount, judgeWorkerExit, localExecutor, maxWorkerCount } from './local.js';
export type { LocalExecutorOptions, LocalRunResult } from './local.js';
export { workerNodeOptions } from './node-options.js';
export type { Executor, LaunchRequest, LaunchResult } from './types.js';
export { runThisWorker } from './this-worker.js';
export {
  SUBMIT_DEFAULTS,
  cancelCampaign,
  liveTaskCount,
  reconcileCampaign,
  resubmitCampaign,
  slurmExecutor,
  slurmView,
  submitCampaign,
} from './slurm.js';
export type {
  CancelResult,
  ReconcileReport,
  ResubmitOptions,
  ResubmitResult,
  SlurmDeps,
  SubmissionView,
  SubmitOptions,
  SubmitResult,
} from './slurm.js';
