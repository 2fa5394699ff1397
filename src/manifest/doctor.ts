import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import Database from 'better-sqlite3';
import { UsageError } from '../errors.js';
import { isBusy } from './busy.js';
import { assessLocation, mountFor, parseProcMounts, STATFS_MAGIC, type LockTestResult, type LocationVerdict } from './filesystem.js';

export interface FilesystemReport extends LocationVerdict {
  /** the manifest path inspected (it may not exist yet: its folder is what counts) */
  manifest: string;
  lockTest: LockTestResult;
  journalMode?: string;
}

const LOCK_TEST_TIMEOUT_MS = 20_000;

/**
 * Inspects the filesystem that holds (or will hold) the manifest: type from statfs and /proc/mounts,
 * Lustre lock mode, a two-process SQLite lock self-test in that folder, and the verdict.
 */
export async function inspectFilesystem(manifestPath: string): Promise<FilesystemReport> {
  const manifest = path.resolve(manifestPath);
  const dir = path.dirname(manifest);
  if (!fs.existsSync(dir)) throw new UsageError(`folder ${dir} does not exist; create it or point --manifest elsewhere`, { path: dir });
  const realDir = fs.realpathSync(dir);
  const magic = fs.statfsSync(realDir).type;
  const mounts = fs.existsSync('/proc/mounts') ? parseProcMounts(fs.readFileSync('/proc/mounts', 'utf8')) : [];
  const mount = mountFor(realDir, mounts);
  const journalMode = fs.existsSync(manifest) ? journalModeOf(manifest) : undefined;
  const lockTest = await lockSelfTest(realDir);
  const verdict = assessLocation({
    path: realDir,
    fsType: STATFS_MAGIC[magic] ?? `unknown (statfs 0x${magic.toString(16)})`,
    ...(mount && { mount }),
    lockTest,
    ...(journalMode !== undefined && { journalMode }),
  });
  return { manifest, ...verdict, lockTest, ...(journalMode !== undefined && { journalMode }) };
}

/** For `submit`: refuses a location unsafe for workers on many nodes unless the user overrides it. */
export function assertSafeForManyNodes(report: FilesystemReport, overrideFlag: string): void {
  if (report.safeForManyNodes) return;
  throw new UsageError(
    `${report.manifest} is not safe for workers on many nodes (${report.reasons[0] ?? report.fsType}); run \`fleetclip doctor\` for details, or pass ${overrideFlag} to go ahead anyway`,
    { path: report.manifest },
  );
}

function journalModeOf(file: string): string | undefined {
  try {
    const db = new Database(file, { readonly: true, fileMustExist: true });
    try {
      return String(db.pragma('journal_mode', { simple: true })).toLowerCase();
    } finally {
      db.close();
    }
  } catch {
    return undefined; // a damaged file: `manifest verify` is the tool for that
  }
}

/** Runs in a child process: takes an EXCLUSIVE lock on the test file, says so, holds it until stdin closes. */
const HOLDER = `
const Database = require(process.argv[1]);
const db = new Database(process.argv[2], { timeout: 0 });
db.exec('BEGIN EXCLUSIVE');
process.stdout.write('held\\n');
process.stdin.resume();
process.stdin.on('end', () => { db.exec('COMMIT'); db.close(); process.stdout.write('released\\n'); });
`;

/**
 * Two processes, one SQLite file in `dir`: while the child holds an exclusive lock, this process must be
 * refused both a read and a write lock; once the child lets go, it must get the write lock. On one node this
 * proves that locking works at all here, not that it is coherent across nodes (see the mount check).
 */
export async function lockSelfTest(dir: string): Promise<LockTestResult> {
  const file = path.join(dir, `.fleetclip-locktest-${process.pid}-${Date.now()}.sqlite`);
  try {
    new Database(file).close();
    const betterSqlite = createRequire(import.meta.url).resolve('better-sqlite3');
    const child = spawn(process.execPath, ['-e', HOLDER, betterSqlite, file], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const lines = linesOf(child);
    const timer = setTimeout(() => child.kill('SIGKILL'), LOCK_TEST_TIMEOUT_MS);
    try {
      if ((await lines.next()).value !== 'held')
        return { ok: false, detail: `the lock-holding process failed: ${stderr.trim().split('\n').at(-1) ?? 'no output'}` };
      const whileHeld = probe(file);
      child.stdin.end();
      if ((await lines.next()).value !== 'released') return { ok: false, detail: 'the lock-holding process did not release its lock' };
      const afterRelease = probe(file);
      if (whileHeld.read || whileHeld.write) {
        return {
          ok: false,
          detail: `a second process got a ${whileHeld.write ? 'write' : 'read'} lock while another held an exclusive lock`,
        };
      }
      if (!afterRelease.write) return { ok: false, detail: 'the write lock stayed taken after the holder released it' };
      return { ok: true, detail: 'a second process was refused the lock while it was held, and got it after release' };
    } finally {
      clearTimeout(timer);
      child.kill();
    }
  } catch (err) {
    return { ok: false, detail: `cannot run the lock test in ${dir}: ${(err as Error).message}` };
  } finally {
    for (const suffix of ['', '-journal']) fs.rmSync(file + suffix, { force: true });
  }
}

/** Whether this process can take a read lock and a write lock on `file` right now (no waiting). */
function probe(file: string): { read: boolean; write: boolean } {
  const db = new Database(file, { timeout: 0 });
  try {
    const attempt = (sql: string): boolean => {
      try {
        db.exec(sql);
        return true;
      } catch (err) {
        if (isBusy(err)) return false;
        throw err;
      }
    };
    const read = attempt('BEGIN; SELECT count(*) FROM sqlite_master; COMMIT');
    if (db.inTransaction) db.exec('ROLLBACK');
    const write = attempt('BEGIN IMMEDIATE; COMMIT');
    if (db.inTransaction) db.exec('ROLLBACK');
    return { read, write };
  } finally {
    db.close();
  }
}

async function* linesOf(child: ReturnType<typeof spawn>): AsyncGenerator<string> {
  let buffered = '';
  for await (const chunk of child.stdout!) {
    buffered += (chunk as Buffer).toString();
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      yield buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
    }
  }
}
