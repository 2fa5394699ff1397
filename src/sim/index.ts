export { startSimulator, parseRange } from './server.js';
export type { RunningSimulator, SimStats, Endpoint } from './server.js';
export { SIM_DEFAULTS, NO_FAULTS, VIDEO_SHAPES, DOWNLOAD_SHAPES, MIN_CLIP_BYTES, normalizeSimConfig } from './config.js';
export type { SimConfig, SimConfigInput, SimFaults, VideoShape, DownloadShape } from './config.js';
export { clipBagBytes } from './clips.js';
export type { TruthSlot, TruthQuery, ClipVariant } from './clips.js';
export { mintToken, expiryOf, writeTokenFile } from './tokens.js';
export { CLIP_SECONDS, COMPRESSED_IMAGE_TYPE, COMPRESSED_IMAGE_MD5, topicOf } from './bag.js';
