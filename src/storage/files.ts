import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { QuotaError, StorageError } from '../errors.js';

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

/** A fresh, unique temporary path for `finalName` inside `partialDir` (created if needed); nothing is written yet. */
export async function newPartialPath(partialDir: string, finalName: string): Promise<string> {
  await guarded(partialDir, 'create folder', () => mkdir(partialDir, { recursive: true }));
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

/** Atomically moves a complete, fsynced temporary to its final path (replacing an older copy). */
export async function moveIntoPlace(tmpPath: string, finalPath: string): Promise<string> {
  const dir = path.dirname(finalPath);
  await guarded(dir, 'create folder', () => mkdir(dir, { recursive: true }));
  await guarded(finalPath, 'rename into', () => rename(tmpPath, finalPath));
  await fsyncDir(dir);
  return finalPath;
}

export async function removeQuietly(filePath: string): Promise<void> {
  await rm(filePath, { force: true }).catch(() => undefined);
}
