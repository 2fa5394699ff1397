import { checkSlotOfClaim, shardOfClaim, type Claims } from './claims.js';
import type { Dictionary } from './dictionary.js';
import { slotNoOf, startOf, type ShardKey } from './slot-row.js';
import type { Store } from './store.js';
import type { Claim, RememberedRequest } from './types.js';

/** The key of a slot in clip_request and slot_result. */
export interface SlotKey {
  shard_id: number;
  camera_no: number;
  slot_no: number;
}

export interface Reservation {
  bucket: number;
  reservedBytes: number;
}

/**
 * `clip_request`: what is known of each slot in flight (the server's file name, the bucket reserved for its clip).
 * A row lives from the first request or reservation until the slot's result is recorded, so the table stays small.
 */
export class ClipRequests {
  private readonly sql;

  constructor(
    private readonly store: Store,
    private readonly claims: Claims,
    private readonly cameras: Dictionary,
  ) {
    const p = (text: string) => store.db.prepare(text);
    this.sql = {
      remember: p(`INSERT INTO clip_request (shard_id, camera_no, slot_no, filename, requested_ms)
                   VALUES (@shard_id, @camera_no, @slot_no, @filename, @requestedMs)
                   ON CONFLICT (shard_id, camera_no, slot_no) DO UPDATE SET filename = excluded.filename, requested_ms = excluded.requested_ms`),
      ofShard: p(`SELECT q.camera_no, q.slot_no, q.filename, q.requested_ms, q.bucket, s.hour_start
                  FROM clip_request q JOIN shard s ON s.id = q.shard_id WHERE q.shard_id = ? AND q.filename IS NOT NULL`),
      reservation: p(`SELECT bucket, reserved_bytes AS reservedBytes FROM clip_request
                      WHERE shard_id = @shard_id AND camera_no = @camera_no AND slot_no = @slot_no AND bucket IS NOT NULL`),
      reserve: p(`INSERT INTO clip_request (shard_id, camera_no, slot_no, bucket, reserved_bytes)
                  VALUES (@shard_id, @camera_no, @slot_no, @bucket, @bytes)
                  ON CONFLICT (shard_id, camera_no, slot_no) DO UPDATE SET bucket = excluded.bucket, reserved_bytes = excluded.reserved_bytes`),
      take: p(`DELETE FROM clip_request WHERE shard_id = ? AND (camera_no, slot_no) IN (SELECT value ->> 0, value ->> 1 FROM json_each(?))
               RETURNING camera_no, slot_no, bucket, reserved_bytes`),
    };
  }

  rememberRequests(claim: Claim, requests: readonly RememberedRequest[]): void {
    if (requests.length === 0) return;
    for (const r of requests) checkSlotOfClaim(claim, r);
    const shard = shardOfClaim(claim);
    this.store.write(undefined, () => {
      this.claims.assertHolds(claim);
      for (const r of requests) this.sql.remember.run({ ...this.keyOf(shard, r), filename: r.filename, requestedMs: r.requestedAtMs });
    });
  }

  rememberedRequests(shardId: number): RememberedRequest[] {
    type Row = { camera_no: number; slot_no: number; filename: string; requested_ms: number; bucket: number | null; hour_start: number };
    const requests = this.store.read(() =>
      (this.sql.ofShard.all(shardId) as Row[]).map((r) => ({
        camera: this.cameras.textOf(r.camera_no),
        start: startOf({ hourStart: r.hour_start }, r.slot_no),
        filename: r.filename,
        requestedAtMs: r.requested_ms,
        ...(r.bucket !== null && { bucket: r.bucket }),
      })),
    );
    return requests.sort((a, b) => a.camera.localeCompare(b.camera) || a.start - b.start);
  }

  /** Inside a write: the slot's key, its camera numbered. */
  keyOf(shard: ShardKey, slot: { camera: string; start: number }): SlotKey {
    return { shard_id: shard.id, camera_no: this.cameras.idOf(slot.camera), slot_no: slotNoOf(shard, slot.start) };
  }

  /** Inside a write. */
  reservationOf(key: SlotKey): Reservation | undefined {
    return this.sql.reservation.get(key) as Reservation | undefined;
  }

  /** Inside a write. */
  reserve(key: SlotKey, bucket: number, bytes: number): void {
    this.sql.reserve.run({ ...key, bucket, bytes });
  }

  /**
   * Inside a write: forgets these slots of one shard (their results are being recorded), in one statement, and
   * returns what had been reserved for each (by index).
   */
  take(shard: ShardKey, slots: readonly { camera: string; start: number }[]): (Reservation | undefined)[] {
    const keys = slots.map((s) => this.keyOf(shard, s));
    type Row = Pick<SlotKey, 'camera_no' | 'slot_no'> & { bucket: number | null; reserved_bytes: number | null };
    const taken = this.sql.take.all(shard.id, JSON.stringify(keys.map((k) => [k.camera_no, k.slot_no]))) as Row[];
    const reserved = new Map(
      taken
        .filter((r) => r.bucket !== null)
        .map((r) => [`${r.camera_no} ${r.slot_no}`, { bucket: r.bucket!, reservedBytes: r.reserved_bytes ?? 0 }]),
    );
    return keys.map((k) => reserved.get(`${k.camera_no} ${k.slot_no}`));
  }
}
