import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { ManifestError, UsageError } from '../errors.js';
import { type FileModes, OWNER_ONLY, makeDirSync, openCreatingSync } from '../file-modes.js';
import { isBusy, retryBusy } from './busy.js';
import { MANIFEST_DEFAULTS } from './defaults.js';
import { checkSchema, migrate, probeSchema } from './schema.js';
import type { OpenManifestOptions } from './types.js';

const SQLITE_HEADER = 'SQLite format 3\0';

/**
 * Opens the SQLite file of a manifest. Nothing is written to a file until it is known to be a fleetclip manifest
 * of this or an older schema (which is then migrated); a missing file is created only with `create` (`plan`).
 */
export function openDatabase(file: string, opts: OpenManifestOptions = {}): { db: Database.Database; file: string } {
  const abs = path.resolve(file);
  const exists = fs.existsSync(abs);
  if (!exists && !opts.create) throw new UsageError(`no manifest at ${abs}; \`fleetclip plan\` creates one`, { path: abs });
  if (exists) checkHeader(abs);
  else createEmptyFile(abs, opts.modes ?? OWNER_ONLY);
  let db: Database.Database;
  try {
    db = new Database(abs, {
      readonly: opts.readonly ?? false,
      fileMustExist: exists,
      timeout: opts.busyTimeoutMs ?? MANIFEST_DEFAULTS.busyTimeoutMs,
    });
  } catch (err) {
    throw asManifestError(err, abs);
  }
  try {
    const kind = retryBusy(() => afterHotJournal(abs, () => checkSchema(abs, probeSchema(db))), MANIFEST_DEFAULTS.retryDeadlineMs);
    if (kind === 'blank' && exists)
      throw new ManifestError(`${abs} is an empty SQLite database, not a fleetclip manifest; left untouched`, { path: abs });
    if (opts.readonly) {
      if (kind === 'older') {
        throw new ManifestError(`${abs} has an older manifest schema; run a command that writes to it (e.g. a worker) to migrate it`, {
          path: abs,
        });
      }
    } else {
      db.pragma('synchronous = FULL');
      if (!exists) setJournalMode(db, opts.journal ?? MANIFEST_DEFAULTS.journal, abs);
      if (kind !== 'current') retryBusy(() => migrate(db), MANIFEST_DEFAULTS.retryDeadlineMs);
    }
  } catch (err) {
    db.close();
    throw asManifestError(err, abs);
  }
  return { db, file: abs };
}

/**
 * The run folder and an empty manifest with its final mode, before SQLite opens it: SQLite would create it with the
 * umask's, and it gives the journal, -wal and -shm files it creates the manifest's own mode.
 */
function createEmptyFile(file: string, modes: Readonly<FileModes>): void {
  makeDirSync(path.dirname(file), modes);
  fs.closeSync(openCreatingSync(file, 'a', modes).fd);
}

/** A truncated or foreign file is recognised from its first bytes, before SQLite is let near it. */
function checkHeader(file: string): void {
  const fd = fs.openSync(file, 'r');
  const head = Buffer.alloc(SQLITE_HEADER.length);
  let got: number;
  try {
    got = fs.readSync(fd, head, 0, head.length, 0);
  } finally {
    fs.closeSync(fd);
  }
  if (got === 0) {
    throw new ManifestError(`${file} is empty (truncated?); \`fleetclip manifest rebuild\` restores it from the receipts`, { path: file });
  }
  if (head.subarray(0, got).toString('latin1') !== SQLITE_HEADER) {
    throw new ManifestError(`${file} is not a SQLite database (corrupt or a foreign file); left untouched`, { path: file });
  }
}

function setJournalMode(db: Database.Database, mode: 'delete' | 'wal', file: string): void {
  const got = db.pragma(`journal_mode = ${mode.toUpperCase()}`, { simple: true }) as string;
  if (got.toLowerCase() !== mode)
    throw new ManifestError(`cannot switch ${file} to journal_mode=${mode} (SQLite kept ${got})`, { path: file });
}

/**
 * Runs a read on a read-only connection; if a writer was killed mid-transaction (SIGKILL, OOM, node failure), its hot
 * rollback journal must be rolled back before anyone can read, and a read-only connection may not: a short-lived
 * read-write connection does it (what any worker would do on its next write), then the read runs again.
 */
export function afterHotJournal<T>(file: string, read: () => T): T {
  try {
    return read();
  } catch (err) {
    if ((err as { code?: unknown }).code !== 'SQLITE_READONLY_ROLLBACK') throw err;
    rollBackHotJournal(file);
    return read();
  }
}

function rollBackHotJournal(file: string): void {
  let db: Database.Database | undefined;
  try {
    db = new Database(file, { fileMustExist: true, timeout: 0 }); // busy: retried by the caller's retryBusy
    db.prepare('SELECT count(*) FROM sqlite_master').pluck().get(); // the first read rolls a hot journal back
  } catch (err) {
    if (isBusy(err)) throw err; // another process holds the lock (maybe rolling it back itself): the caller retries
    throw new ManifestError(
      `${file}: a worker was killed in the middle of a write and left its rollback journal (${path.basename(file)}-journal), ` +
        `which only a process allowed to write the manifest can roll back: run this again with write access, or start any worker (${(err as Error).message})`,
      { path: file },
      { cause: err },
    );
  } finally {
    db?.close();
  }
}

/** SQLite's own words for a damaged file, turned into a ManifestError that says what to do. */
export function asManifestError(err: unknown, file: string): unknown {
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && /^SQLITE_(NOTADB|CORRUPT|IOERR|CANTOPEN|FULL|READONLY)/.test(code)) {
    return new ManifestError(
      `${file}: ${(err as Error).message} (${code}); \`fleetclip manifest verify\` checks it against the receipts`,
      { path: file },
      {
        cause: err,
      },
    );
  }
  return err;
}
