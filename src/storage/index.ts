export { checkClipFile, sha256Of } from './bag-check.js';
export type { ClipCheck, ClipCheckOptions } from './bag-check.js';
export { assertOnSlotGrid, clipFileName, parseSlotInstant, slotIso } from './clip-name.js';
export { fsyncFile, makeScratchDir, moveIntoPlace, newPartialPath, removeQuietly, storageErrorFrom, writeFileAtomically } from './files.js';
export { clipPathOf, partialDirOf, placeClip, removeStaleTemporaries } from './layout.js';
export type { BagSummary } from './types.js';
export { WorkspaceGuard } from './workspace.js';
export type { WorkspaceLimits } from './workspace.js';
export {
  archiveRelPathOf,
  archiveTempOf,
  assertWritableFolder,
  checkFile,
  compareFile,
  copyVerified,
  removeFile,
  sizeOfFile,
  verificationError,
} from './archive.js';
export type { ExpectedFile, FileCheck } from './archive.js';
