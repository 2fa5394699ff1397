export { checkClipFile, sha256Of } from './bag-check.js';
export type { ClipCheck, ClipCheckOptions } from './bag-check.js';
export {
  assertNamePart,
  assertOnSlotGrid,
  clipFileName,
  compactUtcStamp,
  parseSlotInstant,
  slotIso,
  slotStartOf,
} from './clip-name.js';
export {
  PARTIAL_DIR_NAME,
  fsyncFile,
  moveIntoPlace,
  newPartialPath,
  partialDirOf,
  removeQuietly,
  storageErrorFrom,
} from './files.js';
export type { BagSummary } from './types.js';
