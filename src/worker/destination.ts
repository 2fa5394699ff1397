import type { FileModes } from '../file-modes.js';
import type { Claim, WorkerManifest } from '../manifest/index.js';
import { placeClip } from '../storage/index.js';
import type { ClipDestination } from './clip.js';

/**
 * A worker's destination: the campaign's buckets. A clip's bucket is chosen and counted in one fenced manifest
 * transaction (workers on different nodes never overfill one); a slot an earlier, interrupted attempt already placed
 * keeps its bucket, so the file is replaced where it is. The rename into the bucket is fenced again, under the
 * manifest's write lock (`placeUnderFence`): between the reservation and the rename the shard may have been taken
 * over, and the new owner may have placed the clip already. `claim` is read each time: heartbeats renew it.
 */
export function campaignDestination(
  manifest: WorkerManifest,
  claim: () => Claim,
  campaign: { outDir: string; bucketCapBytes: number; fileModes: Readonly<FileModes>; workspace?: ClipDestination['space'] },
): ClipDestination {
  return {
    outDir: campaign.outDir,
    modes: campaign.fileModes,
    ...(campaign.workspace && { space: campaign.workspace }),
    async place(tmpPath, clip) {
      const bucket = manifest.reserveBucket(claim(), { camera: clip.camera, start: clip.start }, clip.bytes, campaign.bucketCapBytes);
      const fenced = (rename: () => void): void => manifest.placeUnderFence(claim(), rename);
      return { bucket, path: await placeClip(tmpPath, campaign.outDir, clip.vehicle, bucket, clip.fileName, campaign.fileModes, fenced) };
    },
  };
}
