import type { FileModes } from '../file-modes.js';
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
  /** a sample campaign's shard: the slots (0-119 in the hour) of each camera; absent: every slot of every camera */
  slots?: SlotSelection;
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
  /** modes of a new manifest and of the run folder it creates for it (default owner-only; SQLite gives its journals the manifest's mode) */
  modes?: Readonly<FileModes>;
}

/**
 * The campaign's token renewal (`token_renewal`): never a token or a secret. `generation` counts the renewals that
 * succeeded; `holder` renews now, until `leaseUntilMs`; `requests` counts the renewals tried (each one request to the
 * token source); `failures` the failed ones since the last success, the last of which said `lastError` at `failedMs`.
 */
export interface TokenRenewalState {
  generation: number;
  holder?: string;
  leaseUntilMs?: number;
  requests: number;
  renewedMs?: number;
  /** when the token last written expires, and when it is due for renewal (unknown for a token without an expiry) */
  expiresMs?: number;
  renewAtMs?: number;
  failures: number;
  lastError?: string;
  failedMs?: number;
  /** no renewal before this (backoff after a failure) */
  retryAtMs?: number;
  /** the source refused for good (wrong credentials): nobody renews until `fleetclip token --renew` succeeds */
  refused: boolean;
}

export interface TokenRenewalClaim {
  /** the generation the caller saw before it found the token due: the claim fails once somebody renewed since */
  generation: number;
  leaseMs: number;
  nowMs?: number;
  /** `fleetclip token --renew`: whatever the generation, the backoff or a refusal (never while another holds the lease) */
  force?: boolean;
}

export type TokenRenewalOutcome =
  { ok: true; expiresMs?: number; renewAtMs?: number } | { ok: false; error: string; refused: boolean; retryAtMs?: number };

/** The token renewal's lease (src/manifest/token-renewal.ts), for a worker and for `fleetclip token --renew`. */
export interface TokenRenewalLedger {
  tokenRenewal(): TokenRenewalState;
  /** takes the renewal lease (and counts a request); the state after, or undefined when it is not this caller's to take */
  claimTokenRenewal(holder: string, claim: TokenRenewalClaim): TokenRenewalState | undefined;
  /** records the renewal's outcome and frees the lease; false when the lease had lapsed and was taken over */
  finishTokenRenewal(holder: string, outcome: TokenRenewalOutcome, nowMs?: number): boolean;
}

/** What a worker may do: claim, work and end shards (every write fenced and receipted), buckets, the request budget. */
export interface WorkerManifest extends TokenRenewalLedger {
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
  /**
   * Runs `rename` (the synchronous rename that puts a clip under its final name) in a write transaction that first
   * checks the fence. Every claim takes the same lock, so no takeover comes between the check and the rename: once
   * the shard was taken over this throws LeaseLostError and nothing is renamed, and a newer owner's rename of the
   * clip always comes after this one, so a worker that lost its lease never replaces the newer owner's file.
   */
  placeUnderFence(claim: Claim, rename: () => void): void;
  /** corrects a bucket's count (negative to give bytes back) */
  adjustBucket(vehicle: string, bucket: number, deltaBytes: number): void;
  /** bytes counted in all buckets: the clips not yet archived, from the manifest (no walk of the folders) */
  workspaceBytes(): number;
  /** shards running now (leases lapsed or not) */
  runningShardCount(): number;
  /**
   * slot results recorded since `sinceMs`, counted per whole minute (see `recentOutcomes`), and the start of the first
   * minute that holds any (how old the evidence really is: a campaign minutes old has no 10 minutes of history)
   */
  recentOutcomeCount(sinceMs: number): { slots: number; fromMs?: number };
  /** the campaign in a few numbers (its slots planned, per shard on average, for the deadline's estimate) */
  progress(nowMs?: number): CampaignProgress;
  /** campaign-wide token bucket at the current AIMD rate; returns how many requests (0..wanted) may be sent now */
  drawRequestAllowance(workerId: string, wanted: number, nowMs?: number): number;
  /** a 429 anywhere halves the campaign-wide rate (at most once per second); it recovers linearly */
  report429(nowMs?: number): void;
  /** the current campaign-wide request rate, requests/s */
  requestRate(nowMs?: number): number;
  /** how long jobs took to become ready, campaign-wide: counts per log-scale bucket (src/worker/readiness.ts) */
  readinessCounts(): number[];
  /**
   * one short write per heartbeat: what this worker is doing, and its new readiness observations; returns every
   * worker's clip requests and hedges so far (this one's included), one row per worker summed
   */
  reportActivity(workerId: string, activity: WorkerActivity, nowMs?: number): { clipRequests: number; hedges: number };
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
export interface ScanManifest extends TokenRenewalLedger {
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
  /** the token renewal: last renewal, expiry, next renewal, failures */
  tokenRenewal(): TokenRenewalState;
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

/** Slot outcomes of one camera of one shard in one part of its hour (`coverageCounts`). */
export interface CoverageCount {
  shardId: number;
  camera: string;
  /** the part of the hour: slots `part * slotsPerPart` up to the next part's first */
  part: number;
  outcome: SlotOutcome;
  count: number;
}

/** One read's worth of coverage counts, and how far through the shards the reads are. */
export interface CoveragePage {
  counts: CoverageCount[];
  shardsRead: number;
  shardsTotal: number;
}

/** Slot results recorded and requests granted in one bar of `barMinutes` whole minutes (`tallies`). */
export interface MinuteTally {
  /** bars after the first minute asked for */
  bar: number;
  results: number;
  granted: number;
}

/** Bytes counted in one `<outDir>/<vehicle>/download<n>` folder. */
export interface BucketUsage {
  vehicle: string;
  n: number;
  bytes: number;
}

/** What `report` reads, besides what `status` does. Read-only, in short reads like status. */
export interface ReportSource extends StatusSource {
  /**
   * Slot outcomes per shard, camera, part of the hour (`slot_no / slotsPerPart`) and outcome, one short read per
   * page of shards. With `slotsPerPart` of a whole hour (120) or more they come from the counters and slot_result is
   * never read; below that, from slot_result grouped in SQL: no slot row reaches JavaScript.
   */
  coverageCounts(slotsPerPart: number): Iterable<CoveragePage>;
  /** the first and last minute (epoch minutes) with a recorded result or a granted request; undefined before any */
  tallySpan(): { firstMinute: number; lastMinute: number } | undefined;
  /** results recorded and requests granted per bar of `barMinutes` from `firstMinute`, bars without either left out */
  tallies(firstMinute: number, barMinutes: number): MinuteTally[];
  /** every bucket's bytes, by vehicle then n */
  bucketUsage(): BucketUsage[];
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

/** Where `fleetclip archive` put a clip. */
export interface ArchiveLocation {
  /** an absolute folder, or `rclone:NAME:path` */
  destination: string;
  /** the date folder, `YYYY-MM-DD` in the time zone the clip was archived with */
  day: string;
  /** the workspace copy is gone (`--move`): its bytes no longer count in its bucket */
  moved: boolean;
}

/** A shard that holds ok clips, as `archive` walks them. */
export interface ArchiveShard {
  id: number;
  vehicle: string;
  hourStart: number;
  state: ShardState;
  /** its ok clips and their bytes, from the counters */
  okClips: number;
  okBytes: number;
}

/** An ok clip whose workspace copy is still there by the manifest's account (never moved away). */
export interface ArchivableClip {
  camera: string;
  /** slot start, epoch seconds UTC */
  start: number;
  bytes: number;
  sha256: string;
  /** undefined only for a row migrated from a path no bucket could be read from */
  bucket?: number;
  /** where an earlier archive put it (copied, not moved) */
  archived?: ArchiveLocation;
}

/** A clip `archive` verified at its destination: where it is now. */
export interface ArchivedClip {
  camera: string;
  start: number;
  day: string;
  moved: boolean;
  /** the bucket and bytes the workspace copy counted for (given back when `moved`) */
  bucket: number;
  bytes: number;
}

/** What `fleetclip archive` reads and writes. Its writes are receipted in the admin journal, as operator commands' are. */
export interface ArchiveManifest {
  readonly path: string;
  settings(): CampaignSettings;
  outDir(): string;
  progress(nowMs?: number): CampaignProgress;
  /** the shards that hold at least one ok clip, by id (from the counters) */
  shardsWithClips(): ArchiveShard[];
  /** a shard's ok clips not moved away yet, by camera then slot (one short read of the shard's rows) */
  clipsToArchive(shard: ArchiveShard): ArchivableClip[];
  /**
   * One transaction: where these clips of one shard are now (a clip has one archive location, the last). A clip
   * newly `moved` gives its bytes back to its bucket, so the workspace in use drops and workers see it at their next
   * heartbeat.
   */
  recordArchived(
    destination: string,
    shard: Pick<ArchiveShard, 'id' | 'vehicle' | 'hourStart'>,
    clips: readonly ArchivedClip[],
    nowMs?: number,
  ): void;
  close(): void;
}

/** Everything, for tests and the few commands that need more than one role. */
export interface Manifest extends WorkerManifest, ReportSource, AdminManifest, ArchiveManifest, ScanManifest {
  /** the schema version of the open file (after migration) */
  readonly schemaVersion: number;
}
