/** The campaign-wide rate is evidence only once it covers this long. */
export const MIN_EVIDENCE_MS = 3 * 60_000;

export interface ShardDurationEvidence {
  /** how long this worker's own shards took, ms */
  ownShardMs: readonly number[];
  /** from the manifest: final slot outcomes recorded campaign-wide over the last `windowMs` (at most) */
  recentSlots: number;
  windowMs: number;
  /** shards running now, campaign-wide (each is one worker's stream of outcomes) */
  runningShards: number;
  slotsPerShard: number;
}

/**
 * The typical time one worker needs for one shard: the median of its own shards once it has some, else what the
 * whole campaign has been doing lately (slots per second per running shard). Undefined when nothing is known yet.
 */
export function typicalShardMs(e: ShardDurationEvidence): number | undefined {
  if (e.ownShardMs.length > 0) {
    const sorted = [...e.ownShardMs].sort((a, b) => a - b);
    return sorted[Math.floor(sorted.length / 2)];
  }
  // a rate over less than this is mostly start-up (workers starting, windows growing): too early to judge by
  if (e.recentSlots <= 0 || e.runningShards <= 0 || e.windowMs < MIN_EVIDENCE_MS) return undefined;
  const slotsPerMsPerShard = e.recentSlots / e.windowMs / e.runningShards;
  return e.slotsPerShard / slotsPerMsPerShard;
}

/** May a worker claim another shard? Not when the typical shard (plus a margin) would run past the deadline. */
export function hasTimeForShard(nowMs: number, deadlineMs: number | undefined, shardMs: number | undefined, marginMs: number): boolean {
  if (deadlineMs === undefined) return true;
  return nowMs + (shardMs ?? 0) + marginMs <= deadlineMs;
}
