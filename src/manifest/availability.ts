import { ManifestError } from '../errors.js';
import { selectionOf } from './campaign.js';
import { checkSlotOfShard } from './claims.js';
import type { Dictionary } from './dictionary.js';
import { slotNoOf, startOf } from './slot-row.js';
import type { Store } from './store.js';
import type { SlotAvailability } from './types.js';

interface AvailabilityRow {
  camera_no: number;
  slot_no: number;
  available: number;
  checked_ms: number;
}

/**
 * `slot_availability`: what `fleetclip scan` learned of a slot without downloading it. Kept apart from slot_result, so
 * a scan never counts as a download in status or receipts; a worker reads it to settle the slots without data.
 */
export class AvailabilityTable {
  private readonly sql;

  constructor(
    private readonly store: Store,
    private readonly cameras: Dictionary,
  ) {
    const p = (text: string) => store.db.prepare(text);
    this.sql = {
      shard: p(`SELECT id, vehicle, hour_start AS hourStart, cameras, slots FROM shard WHERE id = ?`),
      ofShard: p(`SELECT camera_no, slot_no, available, checked_ms FROM slot_availability WHERE shard_id = ? ORDER BY camera_no, slot_no`),
      upsert: p(`INSERT INTO slot_availability (shard_id, camera_no, slot_no, available, checked_ms) VALUES (?, ?, ?, ?, ?)
                 ON CONFLICT (shard_id, camera_no, slot_no) DO UPDATE SET available = excluded.available, checked_ms = excluded.checked_ms`),
    };
  }

  recordAvailability(shardId: number, answers: readonly SlotAvailability[]): void {
    if (answers.length === 0) return;
    this.store.write(undefined, () => {
      const row = this.sql.shard.get(shardId) as
        { id: number; vehicle: string; hourStart: number; cameras: string; slots: string | null } | undefined;
      if (!row) throw new ManifestError(`shard ${shardId} is not in ${this.store.path}`, { shardId });
      const { slots, cameras, ...key } = row;
      const shard = { ...key, cameras: JSON.parse(cameras) as string[], ...selectionOf(slots) };
      for (const a of answers) {
        checkSlotOfShard(shard, a);
        this.sql.upsert.run(shardId, this.cameras.idOf(a.camera), slotNoOf(shard, a.start), a.available ? 1 : 0, a.checkedMs);
      }
    });
  }

  slotAvailability(shardId: number): SlotAvailability[] {
    return this.store.read(() => {
      const shard = this.sql.shard.get(shardId) as { hourStart: number } | undefined;
      if (!shard) return [];
      return (this.sql.ofShard.all(shardId) as AvailabilityRow[]).map((r) => ({
        camera: this.cameras.textOf(r.camera_no),
        start: startOf(shard, r.slot_no),
        available: r.available === 1,
        checkedMs: r.checked_ms,
      }));
    });
  }
}
