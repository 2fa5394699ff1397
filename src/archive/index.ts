export { archiveCampaign, emptyArchiveCounts, listArchive } from './archive.js';
export type { ArchiveControl, ArchiveCounts, ArchiveFailure, ArchiveHooks, ArchiveListing, ArchiveReport } from './archive.js';
export { ARCHIVE_DEFAULTS, MIN_ARCHIVE_WATCH_SECONDS, normalizeArchiveOptions } from './options.js';
export type { ArchiveOptions, ArchiveOptionsInput } from './options.js';
