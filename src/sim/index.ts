export { startSimulator } from './server.js';
export type { RunningSimulator, SimStats, Endpoint } from './server.js';
export { SIM_DEFAULTS, VIDEO_SHAPES, DOWNLOAD_SHAPES, NEVER_READY_STATUSES, normalizeSimConfig } from './config.js';
export type { SimConfig, SimConfigInput, SimFaults, MsRange, NeverReadyStatus, VideoShape, DownloadShape } from './config.js';
export { clipBagBytes } from './clips.js';
export type { TruthSlot, TruthQuery, ClipVariant } from './clips.js';
export { mintToken, expiryOf, writeTokenFile } from './tokens.js';
export { COMPRESSED_IMAGE_MD5 } from './bag.js';
