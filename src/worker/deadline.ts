
/**
 * `squeue -h -j $SLURM_JOB_ID -o %e` prints the job's end time in the cluster's local time without a zone
 * (`2026-06-15T18:00:00`), or `N/A` / `Unknown` / `NONE` when there is none. Undefined when it says nothing usable.
 */
export function parseSqueueEndTime(text: string): number | undefined {
  const line = text.trim().split('\n')[0]?.trim() ?? '';
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$/.test(line)) return undefined;
  const ms = Date.parse(line); // no zone: local time, which is what squeue prints
  return Number.isFinite(ms) ? ms : undefined;
}

/** The Slurm end time of this job, or undefined outside Slurm or when squeue cannot tell (never fatal). */
export async function slurmEndTime(env: NodeJS.ProcessEnv = process.env): Promise<number | undefined> {
  if (!env.SLURM_JOB_ID) return undefined;
  try {
    const { execa } = await import('execa'); // only under Slurm: keeps ~15 MB out of every local worker
    const { stdout } = await execa('squeue', ['-h', '-j', env.SLURM_JOB_ID, '-o', '%e'], { timeout: 15_000 });
    return parseSqueueEndTime(stdout);
  } catch {
    return undefined;
  }
}

export interface ShardDurationEvidence {
  /** how long this worker's own shards took, ms */
  ownShardMs: readonly number[];
  /** from the manifest: final slot outcomes recorded campaign-wide in the last `windowMs` */
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
  if (e.recentSlots <= 0 || e.runningShards <= 0) return undefined;
  const slotsPerMsPerShard = e.recentSlots / e.windowMs / e.runningShards;
  return e.slotsPerShard / slotsPerMsPerShard;
}

/** May a worker claim another shard? Not when the typical shard (plus a margin) would run past the deadline. */
export function hasTimeForShard(nowMs: number, deadlineMs: number | undefined, shardMs: number | undefined, marginMs: number): boolean {
  if (deadlineMs === undefined) return true;
  return nowMs + (shardMs ?? 0) + marginMs <= deadlineMs;
}
