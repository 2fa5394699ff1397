import type { ShardRow } from './claims.js';
import { outcomeOf, SLOTS_PER_SHARD } from './slot-row.js';
import type { Store } from './store.js';
import type { ShardStatusRow, SlotCountRow } from './types.js';

/**
 * Rows per read. With a rollback journal a reader holds the shared lock for as long as its statement runs, and no
 * writer can commit meanwhile: a month's 37,200 shards are read in short reads of this many, so a worker's commit
 * waits for one of them at most.
 */
const ROWS_PER_READ = 2000;

const MINUTE_MS = 60_000;

/**
 * What `status` and a worker's pre-claim estimate read: counters only (kept by triggers and recordSlots in the
 * transactions that write the slot rows), never slot_result, so their cost does not grow with the slot results.
 */
export class StatusQueries {
  private readonly sql;

  constructor(private readonly store: Store) {
    const p = (text: string) => store.db.prepare(text);
    this.sql = {
      shards: p(`SELECT s.id, s.vehicle, s.hour_start, s.cameras, s.state, s.attempts, s.owner_worker, s.lease_until_ms, s.last_error, s.release_reason,
                   c.ok, c.missing, c.invalid, c.failed, c.bytes
                 FROM shard s LEFT JOIN shard_count c ON c.shard_id = s.id WHERE s.id > ? ORDER BY s.id LIMIT ${ROWS_PER_READ}`),
      cameraCounts: p(`SELECT s.vehicle, cam.name AS camera, s.hour_start AS hourStart, c.outcome, c.count, c.bytes
                       FROM camera_count c JOIN shard s ON s.id = c.shard_id JOIN camera cam ON cam.no = c.camera_no
                       WHERE c.shard_id > ? AND c.shard_id <= ? AND c.count > 0 ORDER BY c.shard_id, c.camera_no, c.outcome`),
      lastShard: p(`SELECT coalesce(max(id), 0) FROM shard`).pluck(),
      recent: p(`SELECT vehicle, sum(count) AS count FROM recent_outcome WHERE minute >= ? GROUP BY vehicle ORDER BY vehicle`),
      recentTotal: p(`SELECT coalesce(sum(count), 0) FROM recent_outcome WHERE minute >= ?`).pluck(),
      running: p(`SELECT count(*) FROM shard WHERE state = 'running'`).pluck(),
    };
  }

  shardRows(): ShardStatusRow[] {
    type Row = Pick<ShardRow, 'id' | 'vehicle' | 'hour_start' | 'cameras' | 'state' | 'attempts' | 'owner_worker' | 'lease_until_ms' | 'last_error' | 'release_reason'> &
      Partial<Record<'ok' | 'missing' | 'invalid' | 'failed' | 'bytes', number | null>>;
    const rows: ShardStatusRow[] = [];
    for (let after = 0, chunk: Row[]; ; after = chunk[chunk.length - 1]!.id) {
      chunk = this.store.read(() => this.sql.shards.all(after) as Row[]);
      for (const r of chunk) {
        const cameras = JSON.parse(r.cameras) as string[];
        rows.push({
          id: r.id,
          vehicle: r.vehicle,
          hourStart: r.hour_start,
          cameras,
          state: r.state,
          attempts: r.attempts,
          ...(r.owner_worker !== null && { owner: r.owner_worker }),
          ...(r.lease_until_ms !== null && { leaseUntilMs: r.lease_until_ms }),
          ...(r.last_error !== null && { lastError: r.last_error }),
          ...(r.release_reason !== null && { releaseReason: r.release_reason }),
          slotsTotal: cameras.length * SLOTS_PER_SHARD,
          ok: r.ok ?? 0,
          missing: r.missing ?? 0,
          invalid: r.invalid ?? 0,
          failed: r.failed ?? 0,
          bytes: r.bytes ?? 0,
        });
      }
      if (chunk.length < ROWS_PER_READ) return rows;
    }
  }

  /** per (vehicle, camera, hour, outcome), in shard order, read a range of shards at a time */
  slotCounts(): SlotCountRow[] {
    type Row = Omit<SlotCountRow, 'outcome'> & { outcome: number };
    const last = this.store.read(() => this.sql.lastShard.get() as number);
    const counts: SlotCountRow[] = [];
    // a shard of 5 cameras has up to 20 rows (5 cameras x 4 outcomes)
    const shardsPerRead = ROWS_PER_READ / 20;
    for (let after = 0; after < last; after += shardsPerRead) {
      const chunk = this.store.read(() => this.sql.cameraCounts.all(after, after + shardsPerRead) as Row[]);
      for (const { outcome, ...count } of chunk) counts.push({ ...count, outcome: outcomeOf(outcome) });
    }
    return counts;
  }

  recentOutcomes(sinceMs: number): { vehicle: string; count: number }[] {
    return this.store.read(() => this.sql.recent.all(firstMinute(sinceMs)) as { vehicle: string; count: number }[]);
  }

  recentOutcomeCount(sinceMs: number): number {
    return this.store.read(() => this.sql.recentTotal.get(firstMinute(sinceMs)) as number);
  }

  runningShardCount(): number {
    return this.store.read(() => this.sql.running.get() as number);
  }
}

/** Counted per whole minute: the window starts at the minute nearest `sinceMs`, so it is within 30 s of what was asked. */
function firstMinute(sinceMs: number): number {
  return Math.round(sinceMs / MINUTE_MS);
}
