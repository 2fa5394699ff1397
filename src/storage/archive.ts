import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, rm, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { StorageError, UsageError, VerificationError } from '../errors.js';
import { sha256Of } from './bag-check.js';
import { fsyncDir, fsyncFile, moveIntoPlace, storageErrorFrom } from './files.js';

/**
 * The archive layout (`fleetclip archive --dest <dest>`), clips regrouped by day:
 *   <dest>/<YYYY-MM-DD>/<vehicle>/<camera>/<clip file>            the day in the archive's time zone
 *   <dest>/<YYYY-MM-DD>/<vehicle>/<camera>/.<clip file>.partial   a copy in progress, in the very folder of the clip, so
 *                                                                 the rename that completes it never crosses filesystems
 * The temporary's name is fixed: a copy interrupted by a kill is overwritten by the next attempt at that clip.
 * Paths are relative to `<dest>` and use `/`, which both a folder and an rclone remote take.
 */
export function archiveRelPathOf(day: string, vehicle: string, camera: string, fileName: string): string {
  return `${day}/${vehicle}/${camera}/${fileName}`;
}

export function archiveTempOf(relPath: string): string {
  const slash = relPath.lastIndexOf('/');
  return `${relPath.slice(0, slash + 1)}.${relPath.slice(slash + 1)}.partial`;
}

/** What a copy must be: the size and sha256 the manifest recorded for the clip. */
export interface ExpectedFile {
  bytes: number;
  sha256: string;
}

/** A file against what it must be: there and the same, not there, or there with other bytes. */
export type FileCheck = 'verified' | 'absent' | 'differs';

export function compareFile(found: { bytes: number; sha256?: string } | undefined, want: ExpectedFile): FileCheck {
  if (found === undefined) return 'absent';
  return found.bytes === want.bytes && found.sha256 === want.sha256 ? 'verified' : 'differs';
}

export function verificationError(where: string, found: { bytes: number; sha256?: string }, want: ExpectedFile): VerificationError {
  return new VerificationError(
    `verification failed: the copy at ${where} has ${found.bytes} bytes, sha256 ${found.sha256?.slice(0, 12) ?? '?'}…; ` +
      `the manifest says ${want.bytes} bytes, sha256 ${want.sha256.slice(0, 12)}…`,
    { path: where },
  );
}

/** A file's size, or undefined when there is none. */
export async function sizeOfFile(filePath: string): Promise<number | undefined> {
  try {
    return (await stat(filePath)).size;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw storageErrorFrom(err, filePath, 'stat');
  }
}

/** Reads the file only when its size is right. */
export async function checkFile(filePath: string, want: ExpectedFile): Promise<FileCheck> {
  const bytes = await sizeOfFile(filePath);
  if (bytes === undefined) return 'absent';
  return compareFile({ bytes, ...(bytes === want.bytes && { sha256: await sha256Of(filePath) }) }, want);
}

/**
 * Copies `source` to `finalPath` through the temporary beside it: write, fsync, read back and compare size and
 * sha256 with `want`, and only then rename. Across filesystems as within one (never a rename of the source). A copy
 * that does not match is deleted and a VerificationError thrown; the source is never touched.
 */
export async function copyVerified(
  source: string,
  finalPath: string,
  want: ExpectedFile,
  opts: { onBytes?: (bytes: number) => void; signal?: AbortSignal } = {},
): Promise<void> {
  const tmpPath = archiveTempOf(finalPath);
  const counted = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      opts.onBytes?.(chunk.length);
      done(null, chunk);
    },
  });
  await mkdir(path.dirname(finalPath), { recursive: true }).catch((err: unknown) => {
    throw storageErrorFrom(err, path.dirname(finalPath), 'create folder');
  });
  try {
    await pipeline(createReadStream(source), counted, createWriteStream(tmpPath), { signal: opts.signal });
  } catch (err) {
    throw storageErrorFrom(err, (err as NodeJS.ErrnoException).path ?? tmpPath, 'copy into');
  }
  await fsyncFile(tmpPath);
  const bytes = (await stat(tmpPath)).size;
  const found = { bytes, ...(bytes === want.bytes && { sha256: await sha256Of(tmpPath) }) };
  if (compareFile(found, want) !== 'verified') {
    await rm(tmpPath, { force: true });
    throw verificationError(finalPath, found, want);
  }
  await moveIntoPlace(tmpPath, finalPath);
}

/** Deletes a file for good (the unlink fsynced into its folder); false when it was not there. */
export async function removeFile(filePath: string): Promise<boolean> {
  try {
    await unlink(filePath);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw storageErrorFrom(err, filePath, 'delete');
  }
  await fsyncDir(path.dirname(filePath));
  return true;
}

/**
 * A destination folder must exist (a typo is not silently created) and take a file: a probe is written, fsynced and
 * deleted. UsageError for a missing folder or a file in the way, StorageError (EACCES, EROFS, ENOSPC…) for the rest.
 */
export async function assertWritableFolder(dir: string): Promise<void> {
  let isDirectory: boolean;
  try {
    isDirectory = (await stat(dir)).isDirectory();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT')
      throw new UsageError(`the destination ${dir} does not exist: create it first`, { path: dir });
    throw storageErrorFrom(err, dir, 'use the destination');
  }
  if (!isDirectory) throw new UsageError(`the destination ${dir} is not a folder`, { path: dir });
  const probe = path.join(dir, `.fleetclip-write-test-${process.pid}`);
  try {
    const handle = await open(probe, 'w');
    try {
      await handle.write('fleetclip archive write test\n');
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch (err) {
    throw new StorageError(`the destination ${dir} is not writable: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, {
      path: dir,
    });
  } finally {
    await rm(probe, { force: true }).catch(() => undefined);
  }
}
