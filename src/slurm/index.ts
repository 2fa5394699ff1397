export { arraySpec, splitArray } from './array.js';
export type { ArrayRange } from './array.js';
export { SUBMIT_ENV_DROPPED, execaSlurmClient } from './client.js';
export type { SlurmClient, SlurmClientOptions, SlurmCommand } from './client.js';
export { slurmTaskOf, workerIdOf } from './env.js';
export type { SlurmTask } from './env.js';
export {
  SACCT_FORMAT,
  SQUEUE_FORMAT,
  parseArrayIndices,
  parseMaxArraySize,
  parseSacct,
  parseSbatchParsable,
  parseSqueue,
  parseSqueueEndTime,
} from './parse.js';
export type { TaskState } from './parse.js';
export { PROFILE_NAMES, checkTimeLimit, loadProfile, parseTimeLimit } from './profile.js';
export type { SlurmProfile } from './profile.js';
export { renderArrayScript } from './script.js';
export type { ArrayScript } from './script.js';
export { isFinalState, slurmStateOf } from './states.js';
export type { SlurmState } from './states.js';
export { SlurmCommandError } from '../errors.js';
