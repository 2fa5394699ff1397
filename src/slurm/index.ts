export { execaSlurmClient } from './client.js';
export type { SlurmClient } from './client.js';
export { slurmTaskOf, workerIdOf } from './env.js';
export type { SlurmTask } from './env.js';
export { parseSqueueEndTime } from './parse.js';
export { formatSlurmTime, parseSlurmTime } from './duration.js';
