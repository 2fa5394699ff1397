import type { Statement } from 'better-sqlite3';
import { selectionOf } from './campaign.js';
import { outcomeOf, SLOTS_PER_SHARD } from './slot-row.js';
import type { Store } from './store.js';
import type { CampaignProgress, ShardState, ShardStatusRow, SlotCountRow } from './types.js';

/**
 * Rows per read. With a rollback journal a reader holds the shared lock for as long as its statement runs, and no
 * writer can commit meanwhile: a month's 37,200 shards are read in short reads of this many (about 2 ms each), so
 * a worker's commit waits for one of them at most.
 */
const ROWS_PER_READ = 1000;

const MINUTE_MS = 60_000;

type ShardStatusTuple = [
  id: number,
  vehicle: string,
  hourStart: number,
  cameras: string,
  slots: string | null,
  state: ShardState,
  attempts: number,
  owner: string | null,
  leaseUntilMs: number | null,
  lastError: string | null,
  releaseReason: string | null,
  ok: number | null,
  missing: number | null,
  invalid: number | null,
  failed: number | null,
  bytes: number | null,
];
type CameraCountTuple = [shardId: number, cameraNo: number, outcome: number, count: number, bytes: number, camera: string];

/**
 * What `status` and a worker's pre-claim estimate read: counters only (kept by triggers and recordSlots in the
 * transactions that write the slot rows), never slot_result, so their cost does not grow with the slot results.
 * Rows come as arrays (`raw`): a third of the time of objects, for 37,200 shards.
 */
export class StatusQueries {
  private readonly sql;

  constructor(private readonly store: Store) {
    const p = (text: string) => store.db.prepare(text);
    this.sql = {
      shards:
        p(`SELECT s.id, s.vehicle, s.hour_start, s.cameras, s.slots, s.state, s.attempts, s.owner_worker, s.lease_until_ms, s.last_error, s.release_reason,
                   c.ok, c.missing, c.invalid, c.failed, c.bytes
                 FROM shard s LEFT JOIN shard_count c ON c.shard_id = s.id WHERE s.id > ? ORDER BY s.id LIMIT ${ROWS_PER_READ}`).raw(),
      cameraCounts:
        p(`SELECT c.shard_id, c.camera_no, c.outcome, c.count, c.bytes, cam.name FROM camera_count c JOIN camera cam ON cam.no = c.camera_no
                       WHERE (c.shard_id, c.camera_no, c.outcome) > (?, ?, ?) AND c.count > 0
                       ORDER BY c.shard_id, c.camera_no, c.outcome LIMIT ${ROWS_PER_READ}`).raw(),
      recent: p(`SELECT vehicle, sum(count) AS count FROM recent_outcome WHERE minute >= ? GROUP BY vehicle ORDER BY vehicle`),
      recentTotal: p(`SELECT coalesce(sum(count), 0) AS slots, min(minute) AS firstMinute FROM recent_outcome WHERE minute >= ?`),
      running: p(`SELECT count(*) FROM shard WHERE state = 'running'`).pluck(),
      shardTotals: p(`SELECT count(*) AS total, coalesce(sum(state = 'failed'), 0) AS failed,
                        coalesce(sum(state IN ('pending', 'released') OR (state = 'running' AND lease_until_ms < ?)), 0) AS claimable,
                        coalesce(sum(state IN ('pending', 'released', 'running')), 0) AS unfinished,
                        coalesce(sum(CASE WHEN slots IS NULL THEN json_array_length(cameras) * ${SLOTS_PER_SHARD}
                                     ELSE (SELECT sum(json_array_length(j.value)) FROM json_each(slots) j) END), 0) AS slots
                      FROM shard`),
      slotTotals: p(`SELECT coalesce(sum(ok), 0) AS ok, coalesce(sum(ok + missing + invalid + failed), 0) AS done FROM shard_count`),
    };
  }

  shardRows(): ShardStatusRow[] {
    const cameraLists = new Map<string, string[]>(); // every shard of a campaign names the same few lists
    return this.pages<ShardStatusTuple>(this.sql.shards, [0], ([id]) => [id]).map(
      ([
        id,
        vehicle,
        hourStart,
        camerasText,
        slotsText,
        state,
        attempts,
        owner,
        leaseUntilMs,
        lastError,
        releaseReason,
        ok,
        missing,
        invalid,
        failed,
        bytes,
      ]) => {
        if (!cameraLists.has(camerasText)) cameraLists.set(camerasText, JSON.parse(camerasText) as string[]);
        const cameras = [...cameraLists.get(camerasText)!];
        const { slots } = selectionOf(slotsText);
        return {
          id,
          vehicle,
          hourStart,
          cameras,
          state,
          attempts,
          ...(owner !== null && { owner }),
          ...(leaseUntilMs !== null && { leaseUntilMs }),
          ...(lastError !== null && { lastError }),
          ...(releaseReason !== null && { releaseReason }),
          slotsTotal: slots ? Object.values(slots).reduce((n, slotNos) => n + slotNos.length, 0) : cameras.length * SLOTS_PER_SHARD,
          ...(slots && { slots }),
          ok: ok ?? 0,
          missing: missing ?? 0,
          invalid: invalid ?? 0,
          failed: failed ?? 0,
          bytes: bytes ?? 0,
        };
      },
    );
  }

  /** per (vehicle, camera, hour, outcome), in shard order */
  slotCounts(): SlotCountRow[] {
    const shards = new Map(this.shardRows().map((s) => [s.id, s]));
    const counts = this.pages<CameraCountTuple>(this.sql.cameraCounts, [0, 0, 0], ([shardId, cameraNo, outcome]) => [
      shardId,
      cameraNo,
      outcome,
    ]);
    return counts.map(([shardId, , outcome, count, bytes, camera]) => {
      const shard = shards.get(shardId)!;
      return { vehicle: shard.vehicle, camera, hourStart: shard.hourStart, outcome: outcomeOf(outcome), count, bytes };
    });
  }

  recentOutcomes(sinceMs: number): { vehicle: string; count: number }[] {
    return this.store.read(() => this.sql.recent.all(firstMinute(sinceMs)) as { vehicle: string; count: number }[]);
  }

  recentOutcomeCount(sinceMs: number): { slots: number; fromMs?: number } {
    const row = this.store.read(() => this.sql.recentTotal.get(firstMinute(sinceMs)) as { slots: number; firstMinute: number | null });
    return { slots: row.slots, ...(row.firstMinute !== null && { fromMs: row.firstMinute * MINUTE_MS }) };
  }

  /** The campaign in a few numbers (two aggregate reads, no rows to the client): what a progress bar shows each second. */
  progress(nowMs: number): CampaignProgress {
    return this.store.read(() => {
      const { slots: slotsTotal, ...shards } = this.sql.shardTotals.get(nowMs) as CampaignProgress['shards'] & { slots: number };
      const slots = this.sql.slotTotals.get() as { ok: number; done: number };
      return { shards, slots: { total: slotsTotal, ...slots } };
    });
  }

  runningShardCount(): number {
    return this.store.read(() => this.sql.running.get() as number);
  }

  /** A keyset-paged statement (its parameters: the key of the last row read) to the end, one short read per page. */
  private pages<T extends unknown[]>(page: Statement, first: unknown[], keyOf: (last: T) => unknown[]): T[] {
    const all: T[] = [];
    for (let key = first; ;) {
      const rows = this.store.read(() => page.all(...key) as T[]);
      for (const row of rows) all.push(row);
      if (rows.length < ROWS_PER_READ) return all;
      key = keyOf(rows[rows.length - 1]!);
    }
  }
}

/** Counted per whole minute: the window starts at the minute nearest `sinceMs`, so it is within 30 s of what was asked. */
function firstMinute(sinceMs: number): number {
  return Math.round(sinceMs / MINUTE_MS);
}
