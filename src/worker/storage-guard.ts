import { readdir, rm, stat, statfs } from 'node:fs/promises';
import path from 'node:path';
import { QuotaError } from '../errors.js';
import type { Claim, Manifest } from '../manifest/index.js';
import { PARTIAL_DIR_NAME, moveIntoPlace, partialDirOf } from '../storage/index.js';

const BUCKET_DIR = /^download(\d+)$/;

function bucketDirOf(outDir: string, vehicle: string, bucket: number): string {
  return path.join(outDir, vehicle, `download${bucket}`);
}

async function entriesOf(dir: string) {
  try {
    return await readdir(dir, { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

/** Bytes of clips under `<out>/<vehicle>/download<N>/`: the workspace not yet archived (moved away). */
export async function workspaceBytes(outDir: string): Promise<number> {
  let total = 0;
  for (const vehicle of await entriesOf(outDir)) {
    if (!vehicle.isDirectory() || vehicle.name === PARTIAL_DIR_NAME) continue;
    for (const bucket of await entriesOf(path.join(outDir, vehicle.name))) {
      if (!bucket.isDirectory() || !BUCKET_DIR.test(bucket.name)) continue;
      const dir = path.join(outDir, vehicle.name, bucket.name);
      for (const file of await entriesOf(dir)) {
        if (file.isFile()) total += (await stat(path.join(dir, file.name)).catch(() => ({ size: 0 }))).size;
      }
    }
  }
  return total;
}

/** The bucket (and size) already holding `fileName` for `vehicle`, if a former attempt placed it. */
async function existingCopy(outDir: string, vehicle: string, fileName: string): Promise<{ bucket: number; bytes: number } | undefined> {
  for (const entry of await entriesOf(path.join(outDir, vehicle))) {
    const m = BUCKET_DIR.exec(entry.name);
    if (!m || !entry.isDirectory()) continue;
    const s = await stat(path.join(outDir, vehicle, entry.name, fileName)).catch(() => undefined);
    if (s?.isFile()) return { bucket: Number(m[1]), bytes: s.size };
  }
  return undefined;
}

/**
 * Moves a validated temporary into `<out>/<vehicle>/download<N>/`. The bucket is chosen and counted in one manifest
 * transaction, so workers on different nodes never overfill one. A clip that an earlier, interrupted attempt already
 * placed is replaced where it is: one clip, one file, whatever happened before.
 */
export async function placeClip(
  manifest: Manifest,
  claim: Claim,
  opts: { outDir: string; bucketCapBytes: number },
  tmpPath: string,
  info: { vehicle: string; camera: string; start: number; fileName: string; bytes: number },
): Promise<{ path: string; bucket: number }> {
  const existing = await existingCopy(opts.outDir, info.vehicle, info.fileName);
  let bucket: number;
  if (existing) {
    bucket = existing.bucket;
    if (existing.bytes !== info.bytes) manifest.adjustBucket(info.vehicle, bucket, info.bytes - existing.bytes);
  } else {
    bucket = manifest.reserveBucket(claim, info, info.bytes, opts.bucketCapBytes);
  }
  return { path: await moveIntoPlace(tmpPath, path.join(bucketDirOf(opts.outDir, info.vehicle, bucket), info.fileName)), bucket };
}

/** Deletes temporaries left by a dead or interrupted attempt at these clips (the claim makes them ours). */
export async function removeStaleTemporaries(outDir: string, fileNames: readonly string[]): Promise<number> {
  const dir = partialDirOf(outDir);
  const names = new Set(fileNames);
  let removed = 0;
  for (const entry of await entriesOf(dir)) {
    const clip = /^(.+\.bag)\.[^.]+\.part$/.exec(entry.name)?.[1];
    if (clip && names.has(clip)) {
      await rm(path.join(dir, entry.name), { force: true });
      removed++;
    }
  }
  return removed;
}

/**
 * The two storage limits a worker obeys before each download: real free disk space, and the campaign's workspace cap
 * on bytes not yet archived. The workspace is measured from disk when a shard starts and at each heartbeat; between
 * measurements this worker adds what it wrote (other workers' bytes show up at the next measurement).
 */
export class StorageGuard {
  private measuredBytes = 0;
  private addedBytes = 0;

  constructor(
    private readonly opts: { outDir: string; workspaceCapBytes: number; minFreeBytes: number; clipBytesEstimate: number },
  ) {}

  async measure(): Promise<number> {
    this.measuredBytes = await workspaceBytes(this.opts.outDir);
    this.addedBytes = 0;
    return this.measuredBytes;
  }

  added(bytes: number): void {
    this.addedBytes += bytes;
  }

  get usedBytes(): number {
    return this.measuredBytes + this.addedBytes;
  }

  /** Throws QuotaError when the workspace cap is reached or the disk has no room for one more clip. */
  async check(inflightClips: number): Promise<void> {
    const { workspaceCapBytes, clipBytesEstimate, minFreeBytes, outDir } = this.opts;
    if (this.usedBytes + inflightClips * clipBytesEstimate >= workspaceCapBytes) {
      throw new QuotaError(
        `workspace cap reached: ${gib(this.usedBytes)} of ${gib(workspaceCapBytes)} GiB not yet archived under ${outDir}; ` +
          'archive (move away) finished download folders, then resubmit',
        { path: outDir },
      );
    }
    const fs = await statfs(outDir).catch(() => undefined);
    if (fs && fs.bavail * fs.bsize < clipBytesEstimate * (inflightClips + 1) + minFreeBytes) {
      throw new QuotaError(`disk nearly full at ${outDir}: ${gib(fs.bavail * fs.bsize)} GiB free; free space, then resubmit`, { path: outDir });
    }
  }
}

function gib(bytes: number): string {
  return (bytes / 2 ** 30).toFixed(2);
}
