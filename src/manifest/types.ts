import type { CampaignSettings, ShardSpec, SlotSelection } from '../plan/types.js';
import type { BagSummary } from '../storage/index.js';

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
  /** a sample campaign's shard holds only these slots of each camera; absent: every slot of every camera */
  slots?: SlotSelection;
  fence: number;
  attempt: number;
  leaseUntilMs: number;
  workerId: string;
}

/** What `fleetclip scan` learned of one slot without downloading it (`slot_availability`). */
export interface SlotAvailability {
  camera: string;
  /** slot start, epoch seconds UTC */
  start: number;
  /** the API answered 200 (it has the clip: a request would start a job), or 404 (no data) */
  available: boolean;
  checkedMs: number;
}

export interface SlotResult {
  vehicle: string;
  camera: string;
  /** slot start, epoch seconds UTC, on the 30 s grid */
  start: number;
  outcome: SlotOutcome;
  bytes?: number;
  sha256?: string;
  /**
   * where the clip is (outcome ok): the N of `<outDir>/<vehicle>/download<N>/`; the file name there is
   * `clipFileName(vehicle, camera, start)`, so a moved campaign folder or an archived bucket leaves no row stale
   */
  bucket?: number;
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
  /** a sample campaign's shard: slots per camera (they differ); absent: `slotsTotal` shared equally by the cameras */
  slotsByCamera?: Record<string, number>;
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
  /** the `--array` value, e.g. `0-99%20` (empty for a plain job) */
  arrayRange: string;
  atMs: number;
  /** `workers`: an array of `fleetclip work`; `heal`: the small job that resubmits after them (`--auto-resubmit`) */
  kind?: 'workers' | 'heal';
  /** the script submitted, relative to the run folder */
  script?: string;
  /** the submit options (profile, account, time…), so a resubmission asks for the same */
  options?: Record<string, unknown>;
}

/** A running shard as the claim its holder has, with who the holder is. */
export interface RunningClaim extends Claim {
  owner: WorkerIdentity;
}

/** The server's file name for a requested clip, kept so a restarted worker polls it instead of asking again. */
export interface RememberedRequest {
  camera: string;
  /** slot start, epoch seconds UTC */
  start: number;
  filename: string;
  requestedAtMs: number;
  /** the bucket an earlier attempt reserved for this clip (`reserveBucket`), if it got that far */
  bucket?: number;
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

/** What a worker may do: claim, work and end shards (every write fenced and receipted), buckets, the request budget. */
export interface WorkerManifest {
  readonly path: string;
  settings(): CampaignSettings;
  /** the campaign's output root: `settings().outDir`, resolved against the manifest's folder when stored relative */
  outDir(): string;

  // Each write below is fenced by `claim.fence` (LeaseLostError once another worker took the shard over) and,
  // where it changes the campaign, appended to the worker's receipt journal `<run>/receipts/<workerId>.jsonl`
  // inside the same transaction.
  claimNextShard(owner: WorkerIdentity, opts?: { nowMs?: number; leaseMs?: number }): Claim | undefined;
  /** extends the lease */
  heartbeat(claim: Claim, opts?: { nowMs?: number; leaseMs?: number }): Claim;
  /**
   * One short transaction for a batch of results. It also forgets the slots' remembered requests (clip_request
   * holds in-flight slots only) and gives back a bucket reservation that did not become the slot's clip.
   */
  recordSlots(claim: Claim, results: readonly SlotResult[]): void;
  completeShard(claim: Claim): void;
  failShard(claim: Claim, error: string): void;
  releaseShard(claim: Claim, reason: string): void;
  /**
   * One transaction for a batch (workers send them with their slot results, not one write per clip); a cache for
   * the worker only (not in receipts: after a rebuild the clip is simply requested again). Keeps a reservation.
   */
  rememberRequests(claim: Claim, requests: readonly RememberedRequest[]): void;
  /** every remembered request of a shard, read once when a worker takes the shard */
  rememberedRequests(shardId: number): RememberedRequest[];
  /**
   * The bucket N of `<outDir>/<vehicle>/download<N>` for one slot's clip of `bytes`. A slot that an earlier attempt
   * already reserved for keeps that bucket (its count corrected by the difference); otherwise the lowest N (>= 1)
   * with room under `capBytes` is counted and remembered for the slot. A clip larger than the cap gets a fresh bucket.
   */
  reserveBucket(claim: Claim, slot: { camera: string; start: number }, bytes: number, capBytes: number): number;
  /** corrects a bucket's count (negative to give bytes back) */
  adjustBucket(vehicle: string, bucket: number, deltaBytes: number): void;
  /** bytes counted in all buckets: the clips not yet archived, from the manifest (no walk of the folders) */
  workspaceBytes(): number;
  /** shards running now (leases lapsed or not) */
  runningShardCount(): number;
  /** the campaign in a few numbers (its slots planned, per shard on average, for the deadline's estimate) */
  progress(nowMs?: number): CampaignProgress;
  /** slot results recorded since `sinceMs`, counted per whole minute (see `recentOutcomes`) */
  recentOutcomeCount(sinceMs: number): number;
  /** campaign-wide token bucket at the current AIMD rate; returns how many requests (0..wanted) may be sent now */
  drawRequestAllowance(workerId: string, wanted: number, nowMs?: number): number;
  /** a 429 anywhere halves the campaign-wide rate (at most once per second); it recovers linearly */
  report429(nowMs?: number): void;
  /** the current campaign-wide request rate, requests/s */
  requestRate(nowMs?: number): number;
  /** how long jobs took to become ready, campaign-wide: counts per log-scale bucket (src/worker/readiness.ts) */
  readinessCounts(): number[];
  /** one short write per heartbeat: what this worker is doing, and its new readiness observations */
  reportActivity(workerId: string, activity: WorkerActivity, nowMs?: number): void;
  /** a shard's results, by camera then slot */
  slotResults(shardId: number): SlotResult[];
  /** what scans learned of a shard's slots (a worker takes the slots without data as settled) */
  slotAvailability(shardId: number): SlotAvailability[];
  close(): void;
}

/**
 * What `fleetclip scan --manifest` does: read the campaign and what is known of each shard's slots, draw requests
 * from the campaign's budget, record what the API said. It never claims a shard nor writes a slot's outcome.
 */
export interface ScanManifest {
  readonly path: string;
  settings(): CampaignSettings;
  plannedShards(): PlannedShard[];
  slotResults(shardId: number): SlotResult[];
  slotAvailability(shardId: number): SlotAvailability[];
  /** one short transaction for a batch of one shard's answers; a slot checked again is overwritten (no receipts: scan again to redo) */
  recordAvailability(shardId: number, answers: readonly SlotAvailability[]): void;
  drawRequestAllowance(workerId: string, wanted: number, nowMs?: number): number;
  report429(nowMs?: number): void;
  close(): void;
}

/** What `status` reads. Read-only; each call is its own short read, so workers are never held up for long. */
/** What a worker reports every heartbeat (`reportActivity`). */
export interface WorkerActivity {
  inflight: number;
  /** its window: how many clips it may have in flight now */
  window: number;
  /** clip requests (`/v1/video`) and hedge requests so far */
  clipRequests: number;
  hedges: number;
  /** readiness observations since its last report, per bucket (src/worker/readiness.ts) */
  readiness: readonly number[];
  /** the campaign's readiness counts are halved once their sum passes this (old observations fade) */
  fadeAbove: number;
}

/** What the workers of a campaign are doing, from their reports. */
export interface CampaignActivity {
  /** workers that reported lately, their clips in flight and their windows */
  workers: number;
  inflight: number;
  window: number;
  /** clip and hedge requests of every worker ever */
  clipRequests: number;
  hedges: number;
  /** requests granted from the budget per second, over the last few whole minutes */
  grantedPerSec: number;
}

/** The whole campaign in a few numbers. */
export interface CampaignProgress {
  /** `claimable`: pending, released, or running with a lapsed lease; `unfinished`: pending, released or running */
  shards: { total: number; failed: number; claimable: number; unfinished: number };
  /** `done`: with a final outcome (ok, missing, invalid or failed) */
  slots: { total: number; done: number; ok: number };
}

export interface StatusSource {
  readonly path: string;
  settings(): CampaignSettings;
  /** totals from the counters, cheap enough for a progress bar redrawn every second (`fleetclip run`) */
  progress(nowMs?: number): CampaignProgress;
  /** workers heard from within `recentMs` and their reports; requests granted per second over `windowMinutes` */
  activity(nowMs: number, recentMs: number, windowMinutes: number): CampaignActivity;
  /** how long jobs took to become ready, campaign-wide: counts per log-scale bucket (src/worker/readiness.ts) */
  readinessCounts(): number[];
  /** the campaign-wide request rate now (the budget's AIMD rate), requests/s */
  requestRate(nowMs?: number): number;
  /** the Slurm jobs submitted, oldest first */
  submissions(): SlurmSubmission[];
  /** every shard with its outcome counters, ordered by id */
  shardRows(): ShardStatusRow[];
  slotCounts(): SlotCountRow[];
  /**
   * Slot results recorded per vehicle since `sinceMs`, for clips/min and ETA. Counted per whole minute: the window
   * starts at `sinceMs` rounded to the nearest minute. A slot recorded twice (invalid, later ok) counts twice.
   */
  recentOutcomes(sinceMs: number): { vehicle: string; count: number }[];
  close(): void;
}

/** What operator commands (plan, resubmit, submit) do. Their writes are receipted in `<run>/receipts/admin-<host>-<pid>.jsonl`. */
export interface AdminManifest {
  readonly path: string;
  settings(): CampaignSettings;
  /** every planned shard with its id, ordered by id */
  plannedShards(): PlannedShard[];
  /**
   * Records a campaign. A new manifest takes it whole; an existing one must have the same plan (a no-op)
   * unless `extend` is set, which adds days or vehicles and leaves existing shards untouched.
   * Also writes `<run>/campaign.json`, from which `manifest rebuild` restores settings and shards.
   */
  plan(settings: CampaignSettings, shards: readonly ShardSpec[], opts?: { extend?: boolean }): PlanOutcome;
  /** failed shards become pending with a fresh attempt count; returns how many */
  resetFailed(): number;
  /** the given shards (any state but running) become pending, with a fresh attempt count unless `keepAttempts`; returns how many */
  resetShards(ids: readonly number[], opts?: { keepAttempts?: boolean }): number;
  /** the running shards, each as its holder's claim (to release those of workers the scheduler says are dead) */
  runningClaims(): RunningClaim[];
  /** ends a claim as released, fenced like a worker's own release (LeaseLostError once the shard moved on) */
  releaseShard(claim: Claim, reason: string): void;
  recordSubmission(submission: SlurmSubmission): void;
  submissions(): SlurmSubmission[];
  close(): void;
}

/** Everything, for tests and the few commands that need more than one role. */
export interface Manifest extends WorkerManifest, StatusSource, AdminManifest, ScanManifest {
  /** the schema version of the open file (after migration) */
  readonly schemaVersion: number;
}
