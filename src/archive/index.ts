export { archiveCampaign, emptyArchiveCounts, listArchive } from './archive.js';
export type { ArchiveCounts, ArchiveFailure, ArchiveListing, ArchiveReport } from './archive.js';
export { ARCHIVE_DEFAULTS, MIN_ARCHIVE_WATCH_SECONDS, normalizeArchiveOptions } from './options.js';
