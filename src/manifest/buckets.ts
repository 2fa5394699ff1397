import { checkSlotOfClaim, shardOfClaim, type Claims } from './claims.js';
import type { ClipRequests } from './requests.js';
import type { Store } from './store.js';
import type { Claim } from './types.js';

/**
 * `storage_bucket`: bytes counted per `<outDir>/<vehicle>/download<N>`, changed in the transactions that reserve,
 * correct or give back room, so workers on many nodes never overfill a bucket and the workspace in use is one sum.
 */
export class Buckets {
  private readonly sql;

  constructor(
    private readonly store: Store,
    private readonly claims: Claims,
    private readonly requests: ClipRequests,
  ) {
    const p = (text: string) => store.db.prepare(text);
    this.sql = {
      withRoom: p(`SELECT n FROM storage_bucket WHERE vehicle = @vehicle AND bytes + @bytes <= @cap ORDER BY n LIMIT 1`).pluck(),
      next: p(`SELECT coalesce(max(n), 0) + 1 FROM storage_bucket WHERE vehicle = ?`).pluck(),
      add: p(`INSERT INTO storage_bucket (vehicle, n, bytes) VALUES (@vehicle, @n, max(0, @bytes))
              ON CONFLICT (vehicle, n) DO UPDATE SET bytes = max(0, bytes + @bytes)`),
      total: p(`SELECT coalesce(sum(bytes), 0) FROM storage_bucket`).pluck(),
    };
  }

  reserveBucket(claim: Claim, slot: { camera: string; start: number }, bytes: number, capBytes: number): number {
    checkSlotOfClaim(claim, slot);
    return this.store.write(undefined, () => {
      this.claims.assertHolds(claim);
      const key = this.requests.keyOf(shardOfClaim(claim), slot);
      const earlier = this.requests.reservationOf(key);
      const n =
        earlier?.bucket ??
        (((this.sql.withRoom.get({ vehicle: claim.vehicle, bytes, cap: capBytes }) as number | undefined) ??
          this.sql.next.get(claim.vehicle)) as number);
      this.add(claim.vehicle, n, bytes - (earlier?.reservedBytes ?? 0));
      this.requests.reserve(key, n, bytes);
      return n;
    });
  }

  adjustBucket(vehicle: string, bucket: number, deltaBytes: number): void {
    this.store.write(undefined, () => this.add(vehicle, bucket, deltaBytes));
  }

  workspaceBytes(): number {
    return this.store.read(() => this.sql.total.get() as number);
  }

  /** Inside a write. A count never goes below 0 (a correction larger than what was counted). */
  add(vehicle: string, n: number, bytes: number): void {
    this.sql.add.run({ vehicle, n, bytes });
  }
}
