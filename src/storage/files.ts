import { randomBytes } from 'node:crypto';
import { chmodSync, renameSync } from 'node:fs';
import { mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { QuotaError, StorageError } from '../errors.js';
import { type FileModes, OWNER_ONLY, makeDir } from '../file-modes.js';

/** Turns a filesystem failure into a StorageError (QuotaError for a full disk or quota) naming the path. */
export function storageErrorFrom(err: unknown, filePath: string, doing: string): StorageError {
  const code = (err as NodeJS.ErrnoException)?.code ?? 'unknown error';
  const Type = code === 'ENOSPC' || code === 'EDQUOT' ? QuotaError : StorageError;
  return new Type(`cannot ${doing} ${filePath}: ${code}`, { path: filePath }, { cause: err });
}

async function guarded<T>(filePath: string, doing: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    throw storageErrorFrom(err, filePath, doing);
  }
}

/** A new private folder under the machine's temporary folder (TMPDIR), for local scratch copies; a StorageError if none can be made. */
export async function makeScratchDir(prefix: string): Promise<string> {
  const parent = os.tmpdir();
  return guarded(parent, 'create a scratch folder in', () => mkdtemp(path.join(parent, prefix)));
}

/** A fresh, unique temporary path for `finalName` inside `partialDir` (created with `modes` if needed); nothing is written yet. */
export async function newPartialPath(partialDir: string, finalName: string, modes: Readonly<FileModes> = OWNER_ONLY): Promise<string> {
  await guarded(partialDir, 'create folder', () => makeDir(partialDir, modes));
  return path.join(partialDir, `${finalName}.${process.pid}-${randomBytes(4).toString('hex')}.part`);
}

export async function fsyncFile(filePath: string): Promise<void> {
  await guarded(filePath, 'fsync', async () => {
    const handle = await open(filePath, 'r+');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  });
}

/** fsync of the folder makes a rename or an unlink durable; some filesystems refuse it on a directory, which is harmless. */
export async function fsyncDir(dir: string): Promise<void> {
  try {
    const handle = await open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    /* best effort (EINVAL/EISDIR on some filesystems) */
  }
}

/**
 * Runs the rename that puts a file under its final name. A worker passes its manifest's fence check
 * (`WorkerManifest.placeUnderFence`), which runs the rename synchronously under the manifest's write lock.
 */
export type RenameGuard = (rename: () => void) => void;

/**
 * Atomically moves a complete, fsynced temporary to its final path (replacing an older copy), with `modes.file` (the
 * temporary was created with the umask's mode by whoever wrote it), the rename itself through `guard`; the folder is
 * made (with `modes.dir`) before and fsynced after, outside it.
 */
export async function moveIntoPlace(
  tmpPath: string,
  finalPath: string,
  modes: Readonly<FileModes> = OWNER_ONLY,
  guard: RenameGuard = (rename) => rename(),
): Promise<string> {
  const dir = path.dirname(finalPath);
  await guarded(dir, 'create folder', () => makeDir(dir, modes));
  guard(() => {
    try {
      chmodSync(tmpPath, modes.file);
      renameSync(tmpPath, finalPath);
    } catch (err) {
      throw storageErrorFrom(err, finalPath, 'rename into');
    }
  });
  await fsyncDir(dir);
  return finalPath;
}

export async function removeQuietly(filePath: string): Promise<void> {
  await rm(filePath, { force: true }).catch(() => undefined);
}

/**
 * Writes a small file whole (a report, a listing): a temporary beside `finalPath`, fsynced, then renamed over it, so
 * a reader never sees half of it under the final name. Returns the bytes written.
 */
export async function writeFileAtomically(finalPath: string, text: string, modes: Readonly<FileModes> = OWNER_ONLY): Promise<number> {
  const dir = path.dirname(finalPath);
  await guarded(dir, 'create folder', () => makeDir(dir, modes));
  const tmp = path.join(dir, `.${path.basename(finalPath)}.${process.pid}-${randomBytes(4).toString('hex')}.part`);
  try {
    await guarded(tmp, 'write', () => writeFile(tmp, text));
    await fsyncFile(tmp);
    await moveIntoPlace(tmp, finalPath, modes);
  } catch (err) {
    await removeQuietly(tmp);
    throw err;
  }
  return Buffer.byteLength(text);
}
