import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { type FileModes, OWNER_ONLY } from '../file-modes.js';
import { moveIntoPlace, storageErrorFrom, type RenameGuard } from './files.js';

/**
 * The disk layout of a campaign's output root (`<out>`):
 *   <out>/<vehicle>/download<N>/<clip file>   validated clips, in buckets of at most the bucket cap (N >= 1)
 *   <out>/.partial/<clip file>.<pid>-<rand>.part   downloads in progress (same filesystem: the final rename is atomic)
 * The manifest records a clip's bucket N, never a path: the path follows from the output root, the vehicle, N and the
 * clip's name, so a moved campaign folder leaves no row stale.
 */
const PARTIAL_DIR_NAME = '.partial';

export function partialDirOf(outDir: string): string {
  return path.join(outDir, PARTIAL_DIR_NAME);
}

function bucketDirOf(outDir: string, vehicle: string, bucket: number): string {
  return path.join(outDir, vehicle, `download${bucket}`);
}

export function clipPathOf(outDir: string, vehicle: string, bucket: number, fileName: string): string {
  return path.join(bucketDirOf(outDir, vehicle, bucket), fileName);
}

/**
 * Moves a complete, fsynced, validated temporary into its bucket (replacing an earlier attempt's copy of that clip);
 * a worker's `guard` is its fence check (the rename happens only while it holds the shard).
 */
export function placeClip(
  tmpPath: string,
  outDir: string,
  vehicle: string,
  bucket: number,
  fileName: string,
  modes: Readonly<FileModes> = OWNER_ONLY,
  guard?: RenameGuard,
): Promise<string> {
  return moveIntoPlace(tmpPath, clipPathOf(outDir, vehicle, bucket, fileName), modes, guard);
}

/** Deletes temporaries left by a dead or interrupted attempt at these clips (the caller's claim makes them its own). */
export async function removeStaleTemporaries(outDir: string, fileNames: readonly string[]): Promise<number> {
  const dir = partialDirOf(outDir);
  const names = new Set(fileNames);
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw storageErrorFrom(err, dir, 'read folder'); // a file in the way, no permission: the output folder is unusable
  }
  let removed = 0;
  for (const entry of entries) {
    const clip = /^(.+\.bag)\.[^.]+\.part$/.exec(entry)?.[1];
    if (clip && names.has(clip)) {
      const file = path.join(dir, entry);
      await rm(file, { force: true }).catch((err: unknown) => {
        throw storageErrorFrom(err, file, 'remove');
      });
      removed++;
    }
  }
  return removed;
}
