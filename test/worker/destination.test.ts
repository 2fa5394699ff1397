import { afterAll, describe, expect, test } from '@jest/globals';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { LeaseLostError } from '../../src/errors.js';
import { OWNER_ONLY } from '../../src/file-modes.js';
import { openWorkerManifest, type Claim, type WorkerManifest } from '../../src/manifest/index.js';
import { clipFileName, clipPathOf, partialDirOf } from '../../src/storage/index.js';
import { campaignDestination } from '../../src/worker/destination.js';
import type { ValidClip } from '../../src/worker/index.js';
import { owner, plannedManifest } from '../manifest/helpers.js';

const runs: string[] = [];
afterAll(() => runs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

const BUCKET_CAP = 1_000_000;
const BAG = { topics: ['/camera/front/image/compressed'], messageCount: 1, firstMessageTime: 0, lastMessageTime: 1 };

/** One slot's clip as a worker holds it after validation: a complete temporary in `<out>/.partial/`. */
function validTemporary(outDir: string, claim: Claim, bytes: string, tag: string): { tmpPath: string; clip: ValidClip } {
  const slot = { vehicle: claim.vehicle, camera: 'front', start: claim.hourStart };
  const fileName = clipFileName(slot.vehicle, slot.camera, slot.start);
  const tmpPath = path.join(partialDirOf(outDir), `${fileName}.${tag}.part`);
  fs.mkdirSync(path.dirname(tmpPath), { recursive: true });
  fs.writeFileSync(tmpPath, bytes);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  return { tmpPath, clip: { ...slot, fileName, bytes: Buffer.byteLength(bytes), sha256, bag: BAG } };
}

/** What a worker records once its clip is placed. */
function recordPlaced(manifest: WorkerManifest, claim: Claim, clip: ValidClip, bucket: number): void {
  const { vehicle, camera, start, bytes, sha256, bag } = clip;
  manifest.recordSlots(claim, [{ vehicle, camera, start, outcome: 'ok', bucket, bytes, sha256, bag, attempts: 1, atMs: Date.now() }]);
}

/**
 * Two workers on one manifest file (two connections) and one output folder: `old` claimed the shard with a lease
 * that has long lapsed, `fresh` takes it over (fence + 1).
 */
function takeoverPair() {
  const { file, settings } = plannedManifest(runs, 1);
  const old = openWorkerManifest(file);
  const fresh = openWorkerManifest(file);
  const lost = old.claimNextShard(owner('old'), { nowMs: 0, leaseMs: 1000 })!;
  return { old, fresh, lost, outDir: settings.outDir, takeOver: () => fresh.claimNextShard(owner('fresh'))! };
}

/** The slot's row in the manifest, and what lies on disk where the row says its clip is. */
function recordedAndOnDisk(manifest: WorkerManifest, outDir: string, clip: ValidClip) {
  const row = manifest.slotResults(1).find((r) => r.camera === clip.camera && r.start === clip.start)!;
  const onDisk = fs.readFileSync(clipPathOf(outDir, clip.vehicle, row.bucket!, clip.fileName));
  return {
    row: { bytes: row.bytes, sha256: row.sha256 },
    file: { bytes: onDisk.length, sha256: createHash('sha256').update(onDisk).digest('hex') },
  };
}

describe("placing a clip is fenced: a worker that lost its lease never replaces the new owner's clip", () => {
  test('the old owner is placing its clip when the shard is taken over and the new owner places and records the same clip', async () => {
    const { old, fresh, lost, outDir, takeOver } = takeoverPair();
    const late = validTemporary(outDir, lost, 'old owner!!!\n', 'old'); // 13 bytes
    const placing = campaignDestination(old, () => lost, { outDir, bucketCapBytes: BUCKET_CAP, fileModes: OWNER_ONLY })
      .place(late.tmpPath, late.clip)
      .then(
        (placed) => placed,
        (err: unknown) => err,
      );

    // before the old owner's placement goes on: the new owner takes over, places its own copy (9 bytes) and records it
    const taker = takeOver();
    expect(taker).toMatchObject({ shardId: lost.shardId, fence: lost.fence + 1 });
    const mine = validTemporary(outDir, taker, 'new owner', 'fresh');
    const bucket = fresh.reserveBucket(taker, mine.clip, mine.clip.bytes, BUCKET_CAP);
    const finalPath = clipPathOf(outDir, mine.clip.vehicle, bucket, mine.clip.fileName);
    fs.mkdirSync(path.dirname(finalPath), { recursive: true });
    fs.renameSync(mine.tmpPath, finalPath);
    recordPlaced(fresh, taker, mine.clip, bucket);

    // the old owner's attempt ends in LeaseLostError: at its placement, or at the latest when it records the clip
    const placed = await placing;
    if (!(placed instanceof LeaseLostError)) {
      expect(placed).toMatchObject({ bucket });
      expect(() => recordPlaced(old, lost, late.clip, bucket)).toThrow(LeaseLostError);
    }
    const sizes = { bytes: mine.clip.bytes, sha256: mine.clip.sha256 };
    expect(recordedAndOnDisk(fresh, outDir, mine.clip)).toEqual({ row: sizes, file: sizes });
    old.close();
    fresh.close();
  });

  test('the shard was taken over before the old owner places: LeaseLostError, nothing moved', async () => {
    const { old, fresh, lost, outDir, takeOver } = takeoverPair();
    const taker = takeOver();
    const mine = validTemporary(outDir, taker, 'new owner', 'fresh');
    const placed = await campaignDestination(fresh, () => taker, { outDir, bucketCapBytes: BUCKET_CAP, fileModes: OWNER_ONLY }).place(
      mine.tmpPath,
      mine.clip,
    );
    recordPlaced(fresh, taker, mine.clip, placed.bucket!);

    const late = validTemporary(outDir, lost, 'old owner!!!\n', 'old');
    await expect(
      campaignDestination(old, () => lost, { outDir, bucketCapBytes: BUCKET_CAP, fileModes: OWNER_ONLY }).place(late.tmpPath, late.clip),
    ).rejects.toThrow(LeaseLostError);
    expect(fs.existsSync(late.tmpPath)).toBe(true); // not moved (the clip pipeline deletes its temporary)
    const sizes = { bytes: mine.clip.bytes, sha256: mine.clip.sha256 };
    expect(recordedAndOnDisk(fresh, outDir, mine.clip)).toEqual({ row: sizes, file: sizes });
    old.close();
    fresh.close();
  });
});
