import type { Buckets } from './buckets.js';
import { checkSlotOfClaim, shardOfClaim, type Claims } from './claims.js';
import type { Dictionary } from './dictionary.js';
import { bySlot, type SlotRecord } from './replay.js';
import type { ClipRequests } from './requests.js';
import { decodeSlot, encodeSlot, SLOT_COLUMNS, slotRowValues, type ShardKey, type SlotRow } from './slot-row.js';
import type { Store } from './store.js';
import type { Claim, SlotResult } from './types.js';

const MINUTE_MS = 60_000;

/** `slot_result` (the counters follow by trigger) and `recent_outcome`, the per-minute tally of what was recorded. */
export class Slots {
  private readonly sql;

  constructor(
    private readonly store: Store,
    private readonly claims: Claims,
    private readonly requests: ClipRequests,
    private readonly buckets: Buckets,
    private readonly cameras: Dictionary,
    private readonly topicSets: Dictionary,
  ) {
    const p = (text: string) => store.db.prepare(text);
    this.sql = {
      upsert: p(`INSERT INTO slot_result (${SLOT_COLUMNS.join(', ')}) VALUES (${SLOT_COLUMNS.map(() => '?').join(', ')})
                 ON CONFLICT (shard_id, camera_no, slot_no) DO UPDATE SET
                   ${SLOT_COLUMNS.slice(3)
                     .map((c) => `${c} = excluded.${c}`)
                     .join(', ')}`),
      ofShard: p(`SELECT r.*, s.vehicle, s.hour_start FROM slot_result r JOIN shard s ON s.id = r.shard_id WHERE r.shard_id = ?`),
      countRecent: p(`INSERT INTO recent_outcome (minute, vehicle, count) VALUES (?, ?, ?)
                      ON CONFLICT (minute, vehicle) DO UPDATE SET count = count + excluded.count`),
    };
  }

  recordSlots(claim: Claim, results: readonly SlotResult[]): void {
    if (results.length === 0) return;
    for (const r of results) checkSlotOfClaim(claim, r);
    const shard = shardOfClaim(claim);
    this.store.write(claim.workerId, (receipt) => {
      this.claims.assertHolds(claim);
      this.put(
        shard,
        results.map((result) => ({ fence: claim.fence, result })),
      );
      // clip_request holds slots in flight only; a reservation that did not become the slot's clip is given back
      const reserved = this.requests.take(shard, results);
      results.forEach((r, i) => {
        const was = reserved[i];
        if (was && !(r.outcome === 'ok' && r.bucket === was.bucket)) this.buckets.add(shard.vehicle, was.bucket, -was.reservedBytes);
      });
      receipt({ t: 'slots', shardId: claim.shardId, fence: claim.fence, workerId: claim.workerId, results: [...results] });
    });
  }

  /** Inside a write: the rows of one shard, and their minutes in recent_outcome. */
  put(shard: ShardKey, records: readonly Pick<SlotRecord, 'fence' | 'result'>[]): void {
    const perMinute = new Map<number, number>();
    for (const { fence, result: r } of records) {
      const topicSet = r.bag ? this.topicSets.idOf(JSON.stringify(r.bag.topics)) : null;
      this.sql.upsert.run(slotRowValues(encodeSlot(shard, fence, r, this.cameras.idOf(r.camera), topicSet)));
      const minute = Math.floor(r.atMs / MINUTE_MS);
      perMinute.set(minute, (perMinute.get(minute) ?? 0) + 1);
    }
    for (const [minute, count] of perMinute) this.sql.countRecent.run(minute, shard.vehicle, count);
  }

  slotResults(shardId: number): SlotResult[] {
    return this.slotRecords(shardId).map((r) => r.result);
  }

  /** A shard's rows with the fence each was written under, by camera then slot. */
  slotRecords(shardId: number): SlotRecord[] {
    type Row = SlotRow & { vehicle: string; hour_start: number };
    const records = this.store.read(() =>
      (this.sql.ofShard.all(shardId) as Row[]).map((row): SlotRecord => {
        const shard = { id: shardId, vehicle: row.vehicle, hourStart: row.hour_start };
        const topics = row.topic_set === null ? undefined : (JSON.parse(this.topicSets.textOf(row.topic_set)) as string[]);
        return { shardId, fence: row.fence, result: decodeSlot(row, shard, this.cameras.textOf(row.camera_no), topics) };
      }),
    );
    return records.sort(bySlot);
  }
}
