export { startRcloneDaemon } from './daemon.js';
export type { RcloneClient, RemoteFile } from './daemon.js';
