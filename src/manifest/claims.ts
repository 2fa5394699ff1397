import { LeaseLostError, ManifestError } from '../errors.js';
import { SHARD_SECONDS, SLOT_SECONDS } from '../plan/types.js';
import { selectionOf } from './campaign.js';
import { MANIFEST_DEFAULTS } from './defaults.js';
import type { ShardKey } from './slot-row.js';
import type { Store } from './store.js';
import type { Claim, RunningClaim, ShardState, WorkerIdentity } from './types.js';

/** A `shard` row. */
export interface ShardRow {
  id: number;
  vehicle: string;
  hour_start: number;
  cameras: string;
  slots: string | null;
  state: ShardState;
  fence: number;
  attempts: number;
  owner_worker: string | null;
  owner_host: string | null;
  owner_pid: number | null;
  owner_job: string | null;
  owner_task: string | null;
  lease_until_ms: number | null;
  last_error: string | null;
  release_reason: string | null;
}

/**
 * A slot written for a shard must be one of its slots (vehicle, camera, hour, and a sample shard's selection), or two
 * shards could fight over it and the counters would count slots the shard does not hold.
 */
export function checkSlotOfShard(
  shard: { id: number } & Pick<Claim, 'vehicle' | 'hourStart' | 'cameras' | 'slots'>,
  slot: { vehicle?: string; camera: string; start: number },
): void {
  const inside =
    (slot.vehicle ?? shard.vehicle) === shard.vehicle &&
    shard.cameras.includes(slot.camera) &&
    slot.start >= shard.hourStart &&
    slot.start < shard.hourStart + SHARD_SECONDS &&
    (!shard.slots || (shard.slots[slot.camera] ?? []).includes((slot.start - shard.hourStart) / SLOT_SECONDS));
  if (!inside || slot.start % SLOT_SECONDS !== 0) {
    throw new ManifestError(`slot ${slot.vehicle ?? shard.vehicle} ${slot.camera} ${slot.start} is not a slot of shard ${shard.id}`, {
      shardId: shard.id,
      vehicle: shard.vehicle,
      camera: slot.camera,
    });
  }
}

export function checkSlotOfClaim(claim: Claim, slot: { vehicle?: string; camera: string; start: number }): void {
  checkSlotOfShard({ ...claim, id: claim.shardId }, slot);
}

export function shardOfClaim(claim: Claim): ShardKey {
  return { id: claim.shardId, vehicle: claim.vehicle, hourStart: claim.hourStart };
}

/** Shards' lifecycle: claims with leases and fences, their end, and the operator's resets. */
export class Claims {
  private readonly sql;

  constructor(private readonly store: Store) {
    const p = (text: string) => store.db.prepare(text);
    this.sql = {
      shard: p(`SELECT fence, state, owner_worker FROM shard WHERE id = ?`),
      expiredLease: p(`SELECT id FROM shard WHERE state = 'running' AND lease_until_ms < ? ORDER BY lease_until_ms LIMIT 1`).pluck(),
      firstInState: p(`SELECT id FROM shard WHERE state = ? ORDER BY id LIMIT 1`).pluck(),
      take: p(`UPDATE shard SET state = 'running', fence = fence + 1, attempts = attempts + 1,
                 owner_worker = @workerId, owner_host = @host, owner_pid = @pid, owner_job = @job, owner_task = @task,
                 lease_until_ms = @until, release_reason = NULL, updated_ms = @now
               WHERE id = @id RETURNING id, vehicle, hour_start, cameras, slots, fence, attempts`),
      extendLease: p(`UPDATE shard SET lease_until_ms = @until, updated_ms = @now WHERE id = @id AND fence = @fence AND state = 'running'`),
      end: p(`UPDATE shard SET state = @state, lease_until_ms = NULL, updated_ms = @now,
                last_error = CASE @state WHEN 'failed' THEN @note WHEN 'done' THEN NULL ELSE last_error END,
                release_reason = CASE @state WHEN 'released' THEN @note ELSE NULL END
              WHERE id = @id AND fence = @fence AND state = 'running'`),
      failedShards: p(`SELECT id, fence FROM shard WHERE state = 'failed' ORDER BY id`),
      resettable: p(`SELECT id, fence FROM shard WHERE id = ? AND state != 'running'`),
      reset: p(
        `UPDATE shard SET state = 'pending', attempts = CASE WHEN @keepAttempts THEN attempts ELSE 0 END,
           owner_worker = NULL, lease_until_ms = NULL, updated_ms = @now WHERE id = @id`,
      ),
      running: p(`SELECT * FROM shard WHERE state = 'running' ORDER BY id`),
    };
  }

  claimNextShard(owner: WorkerIdentity, opts: { nowMs?: number; leaseMs?: number } = {}): Claim | undefined {
    const now = opts.nowMs ?? Date.now();
    const until = now + (opts.leaseMs ?? MANIFEST_DEFAULTS.leaseMs);
    return this.store.write(owner.workerId, (receipt) => {
      const id = (this.sql.expiredLease.get(now) ?? this.sql.firstInState.get('released') ?? this.sql.firstInState.get('pending')) as
        number | undefined;
      if (id === undefined) return undefined;
      const row = this.sql.take.get({
        id,
        now,
        until,
        workerId: owner.workerId,
        host: owner.host,
        pid: owner.pid,
        job: owner.slurmJobId ?? null,
        task: owner.slurmArrayTaskId ?? null,
      }) as Pick<ShardRow, 'id' | 'vehicle' | 'hour_start' | 'cameras' | 'slots' | 'fence' | 'attempts'>;
      receipt({ t: 'claim', shardId: row.id, fence: row.fence, attempt: row.attempts, owner, leaseUntilMs: until, atMs: now });
      return {
        shardId: row.id,
        vehicle: row.vehicle,
        hourStart: row.hour_start,
        cameras: JSON.parse(row.cameras) as string[],
        ...selectionOf(row.slots),
        fence: row.fence,
        attempt: row.attempts,
        leaseUntilMs: until,
        workerId: owner.workerId,
      };
    });
  }

  heartbeat(claim: Claim, opts: { nowMs?: number; leaseMs?: number } = {}): Claim {
    const now = opts.nowMs ?? Date.now();
    const until = now + (opts.leaseMs ?? MANIFEST_DEFAULTS.leaseMs);
    this.store.write(undefined, () => {
      if (this.sql.extendLease.run({ id: claim.shardId, fence: claim.fence, until, now }).changes === 0) this.assertHolds(claim);
    });
    return { ...claim, leaseUntilMs: until };
  }

  end(claim: Claim, state: 'done' | 'failed' | 'released', note?: string): void {
    const now = Date.now();
    this.store.write(claim.workerId, (receipt) => {
      if (this.sql.end.run({ id: claim.shardId, fence: claim.fence, state, note: note ?? null, now }).changes === 0)
        this.assertHolds(claim);
      receipt({ t: 'end', shardId: claim.shardId, fence: claim.fence, state, ...(note !== undefined && { note }), atMs: now });
    });
  }

  /**
   * Runs `act` (synchronous, no SQL of its own) in a write transaction, after checking that the claim still holds its
   * shard. A takeover is a write as well, so it cannot come between the check and `act`.
   */
  whileHolding(claim: Claim, act: () => void): void {
    this.store.write(undefined, () => {
      this.assertHolds(claim);
      act();
    });
  }

  /** Inside a write: the claim still holds its shard, or LeaseLostError. */
  assertHolds(claim: Claim): void {
    const row = this.sql.shard.get(claim.shardId) as Pick<ShardRow, 'fence' | 'state' | 'owner_worker'> | undefined;
    if (row && row.fence === claim.fence && row.state === 'running') return;
    const now = !row
      ? 'no longer exists'
      : row.fence !== claim.fence
        ? `was taken over by ${row.owner_worker ?? 'another worker'} (lease ${row.fence}, ours ${claim.fence})`
        : `is ${row.state} now`;
    throw new LeaseLostError(`shard ${claim.shardId} ${now}; stop working on it`, { shardId: claim.shardId, vehicle: claim.vehicle });
  }

  resetFailed(): number {
    return this.resetWhere(() => this.sql.failedShards.all() as { id: number; fence: number }[]);
  }

  resetShards(ids: readonly number[], opts: { keepAttempts?: boolean } = {}): number {
    return this.resetWhere(
      () => ids.flatMap((id) => this.sql.resettable.all(id) as { id: number; fence: number }[]),
      opts.keepAttempts ?? false,
    );
  }

  private resetWhere(select: () => { id: number; fence: number }[], keepAttempts = false): number {
    const now = Date.now();
    return this.store.write(this.store.adminJournalId(), (receipt) => {
      const shards = select();
      for (const s of shards) this.sql.reset.run({ id: s.id, now, keepAttempts: keepAttempts ? 1 : 0 });
      if (shards.length > 0) receipt({ t: 'reset', shards, atMs: now, ...(keepAttempts && { keepAttempts }) });
      return shards.length;
    });
  }

  /** The shards running now, each as the claim its holder has (for an operator who releases the shards of dead workers). */
  runningClaims(): RunningClaim[] {
    return this.store.read(() =>
      (this.sql.running.all() as ShardRow[]).map((r) => ({
        shardId: r.id,
        vehicle: r.vehicle,
        hourStart: r.hour_start,
        cameras: JSON.parse(r.cameras) as string[],
        ...selectionOf(r.slots),
        fence: r.fence,
        attempt: r.attempts,
        leaseUntilMs: r.lease_until_ms ?? 0,
        workerId: r.owner_worker ?? '',
        owner: {
          workerId: r.owner_worker ?? '',
          host: r.owner_host ?? '',
          pid: r.owner_pid ?? 0,
          ...(r.owner_job !== null && { slurmJobId: r.owner_job }),
          ...(r.owner_task !== null && { slurmArrayTaskId: r.owner_task }),
        },
      })),
    );
  }
}
