import type { CampaignSettings, ShardSpec } from '../plan/types.js';
import type { BagSummary } from '../storage/types.js';

export type ShardState = 'pending' | 'running' | 'done' | 'failed' | 'released';
export type SlotOutcome = 'ok' | 'missing' | 'invalid' | 'failed';

/** Who holds a claim. `workerId` is unique per worker process (Slurm `<job>_<task>` or `local-<host>-<pid>`). */
export interface WorkerIdentity {
  workerId: string;
  host: string;
  pid: number;
  slurmJobId?: string;
  slurmArrayTaskId?: string;
}

/** A shard held by one worker. `fence` is the lease token: every write of this worker carries it. */
export interface Claim {
  shardId: number;
  vehicle: string;
  hourStart: number;
  cameras: string[];
  fence: number;
  attempt: number;
  leaseUntilMs: number;
  workerId: string;
}

export interface SlotResult {
  vehicle: string;
  camera: string;
  /** slot start, epoch seconds UTC, on the 30 s grid */
  start: number;
  outcome: SlotOutcome;
  bytes?: number;
  sha256?: string;
  /** absolute path of the final file (outcome ok) */
  path?: string;
  bag?: BagSummary;
  attempts: number;
  error?: string;
  atMs: number;
}

export interface ShardStatusRow {
  id: number;
  vehicle: string;
  hourStart: number;
  cameras: string[];
  state: ShardState;
  attempts: number;
  owner?: string;
  leaseUntilMs?: number;
  lastError?: string;
  releaseReason?: string;
  slotsTotal: number;
  ok: number;
  missing: number;
  invalid: number;
  failed: number;
  bytes: number;
}

/** Slot outcomes counted per (vehicle, camera, hour): what `status --by camera|hour` is cut from. */
export interface SlotCountRow {
  vehicle: string;
  camera: string;
  hourStart: number;
  outcome: SlotOutcome;
  count: number;
  bytes: number;
}

export interface PlanOutcome {
  created: boolean;
  shardsAdded: number;
  shardsTotal: number;
}

/** A shard as planned, with the id the manifest gave it (ids are stable: rebuild reproduces them). */
export interface PlannedShard extends ShardSpec {
  id: number;
}

/** One `sbatch` of an array: what `submit` records and `status` shows. */
export interface SlurmSubmission {
  jobId: string;
  /** the `--array` value, e.g. `0-99%20` */
  arrayRange: string;
  atMs: number;
}

/** The server's file name for a requested clip, kept so a restarted worker polls it instead of asking again. */
export interface RememberedRequest {
  camera: string;
  /** slot start, epoch seconds UTC */
  start: number;
  filename: string;
  requestedAtMs: number;
}

export interface OpenManifestOptions {
  /** only `plan` creates a manifest; everything else refuses a missing file */
  create?: boolean;
  /**
   * journal mode of a new manifest (`wal` only on local disk); an existing one keeps its own, so a `plan` that is
   * then refused has changed nothing
   */
  journal?: 'delete' | 'wal';
  /** how long SQLite itself waits for a lock before one retry round (see MANIFEST_DEFAULTS) */
  busyTimeoutMs?: number;
  readonly?: boolean;
}

export interface Manifest {
  readonly path: string;
  /** the schema version of the open file (after migration) */
  readonly schemaVersion: number;
  settings(): CampaignSettings;
  /** every planned shard with its id, ordered by id */
  plannedShards(): PlannedShard[];
  /**
   * Records a campaign. A new manifest takes it whole; an existing one must have the same plan (a no-op)
   * unless `extend` is set, which adds days or vehicles and leaves existing shards untouched.
   * Also writes `<run>/campaign.json`, from which `manifest rebuild` restores settings and shards.
   */
  plan(settings: CampaignSettings, shards: readonly ShardSpec[], opts?: { extend?: boolean }): PlanOutcome;

  // A worker's writes. Each one is fenced by `claim.fence` and also appended, fsynced, to the worker's
  // receipt journal `<run>/receipts/<workerId>.jsonl` inside the same transaction.
  claimNextShard(owner: WorkerIdentity, opts?: { nowMs?: number; leaseMs?: number }): Claim | undefined;
  /** extends the lease; throws LeaseLostError when the shard was taken over */
  heartbeat(claim: Claim, opts?: { nowMs?: number; leaseMs?: number }): Claim;
  /** one short transaction for a batch of results; throws LeaseLostError when fenced out */
  recordSlots(claim: Claim, results: readonly SlotResult[]): void;
  completeShard(claim: Claim): void;
  failShard(claim: Claim, error: string): void;
  releaseShard(claim: Claim, reason: string): void;
  /**
   * Fenced, one transaction for a batch (workers send them with their slot results, not one write per clip); a
   * cache for the worker only (not in receipts: after a rebuild the clip is simply requested again).
   */
  rememberRequests(claim: Claim, requests: readonly RememberedRequest[]): void;
  /** every remembered request of a shard, read once when a worker takes the shard */
  rememberedRequests(shardId: number): RememberedRequest[];
  /**
   * Picks the lowest-numbered `<out>/<vehicle>/download<N>` (N >= 1) that still has room for `bytes` under
   * `capBytes`, counts the bytes there and returns N; a clip larger than the cap gets a fresh bucket.
   */
  reserveBucket(vehicle: string, bytes: number, capBytes: number): number;
  /** corrects a reservation once the real size is known (negative to give bytes back) */
  adjustBucket(vehicle: string, bucket: number, deltaBytes: number): void;
  /** campaign-wide token bucket at the current AIMD rate; returns how many requests (0..wanted) may be sent now */
  drawRequestAllowance(workerId: string, wanted: number, nowMs?: number): number;
  /** a 429 anywhere halves the campaign-wide rate (at most once per second); it recovers linearly */
  report429(nowMs?: number): void;
  /** the current campaign-wide request rate, requests/s */
  requestRate(nowMs?: number): number;

  // Operator writes (resubmit, submit). Also receipted, in `<run>/receipts/admin-<host>-<pid>.jsonl`.
  /** failed shards become pending with a fresh attempt count; returns how many */
  resetFailed(): number;
  /** the given shards (any state but running) become pending with a fresh attempt count; returns how many */
  resetShards(ids: readonly number[]): number;
  recordSubmission(submission: SlurmSubmission): void;
  submissions(): SlurmSubmission[];

  // Reads.
  slotResults(shardId: number): SlotResult[];
  shardRows(): ShardStatusRow[];
  slotCounts(): SlotCountRow[];
  /** final outcomes recorded since `sinceMs`, per vehicle: for clips/min and ETA */
  recentOutcomes(sinceMs: number): { vehicle: string; count: number }[];
  close(): void;
}
