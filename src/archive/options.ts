import path from 'node:path';
import { UsageError } from '../errors.js';
import { parseArchiveDestination, validateTimeZone, type ArchiveDestination } from '../plan/index.js';

/** Every default of `fleetclip archive`. Help texts quote this object. */
export const ARCHIVE_DEFAULTS = {
  /** `--watch` without a value: seconds between passes */
  watchSeconds: 30,
  /** clips copied at once (rclone's own default for its transfers) */
  transfers: 4,
  /** archived clips recorded in one manifest transaction at most; a kill loses at most these records (re-verified next time) */
  recordEvery: 64,
  progress: 'auto',
  /** seconds between progress lines without a terminal */
  progressIntervalMs: 30_000,
} as const;

/** The shortest `--watch` interval: every pass reads the manifest that workers are writing. */
export const MIN_ARCHIVE_WATCH_SECONDS = 1;

export interface ArchiveOptionsInput {
  manifestPath: string;
  dest: string;
  move?: boolean;
  /** default: the campaign's time zone */
  tz?: string;
  dryRun?: boolean;
  /** `''` when `--watch` was given without a value */
  watch?: string | number;
}

export interface ArchiveOptions {
  manifestPath: string;
  /** a folder is absolute */
  destination: ArchiveDestination;
  move: boolean;
  timeZone?: string;
  dryRun: boolean;
  /** undefined: one pass */
  watchSeconds?: number;
  transfers: number;
  recordEvery: number;
}

export function normalizeArchiveOptions(input: ArchiveOptionsInput): ArchiveOptions {
  const parsed = parseArchiveDestination(input.dest);
  const destination: ArchiveDestination = parsed.kind === 'folder' ? { kind: 'folder', path: path.resolve(parsed.path) } : parsed;
  let watchSeconds: number | undefined;
  if (input.watch !== undefined) {
    watchSeconds = input.watch === '' ? ARCHIVE_DEFAULTS.watchSeconds : Number(input.watch);
    if (!(Number.isFinite(watchSeconds) && watchSeconds >= MIN_ARCHIVE_WATCH_SECONDS))
      throw new UsageError(`--watch takes seconds, at least ${MIN_ARCHIVE_WATCH_SECONDS}, got '${input.watch}'`);
  }
  const dryRun = input.dryRun ?? false;
  if (dryRun && watchSeconds !== undefined) throw new UsageError('--dry-run and --watch exclude each other: a dry run is one listing');
  return {
    manifestPath: path.resolve(input.manifestPath),
    destination,
    move: input.move ?? false,
    ...(input.tz !== undefined && { timeZone: validateTimeZone(input.tz) }),
    dryRun,
    ...(watchSeconds !== undefined && { watchSeconds }),
    transfers: ARCHIVE_DEFAULTS.transfers,
    recordEvery: ARCHIVE_DEFAULTS.recordEvery,
  };
}
