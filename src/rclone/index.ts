export { RCLONE_DEFAULTS, startRcloneDaemon } from './daemon.js';
export type { RcloneClient, RemoteFile, RemoteStat } from './daemon.js';
