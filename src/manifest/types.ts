import type { CampaignSettings, ShardSpec } from '../plan/types.js';

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

/** What a bag reader found in an accepted clip. Times are epoch seconds (fractional). */
export interface BagSummary {
  topics: string[];
  messageCount: number;
  firstMessageTime: number;
  lastMessageTime: number;
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

export interface Manifest {
  readonly path: string;
  settings(): CampaignSettings;
  /**
   * Records a campaign. A new manifest takes it whole; an existing one must have the same plan (a no-op)
   * unless `extend` is set, which adds days or vehicles and leaves existing shards untouched.
   */
  plan(settings: CampaignSettings, shards: readonly ShardSpec[], opts?: { extend?: boolean }): PlanOutcome;
  claimNextShard(owner: WorkerIdentity, opts?: { nowMs?: number; leaseMs?: number }): Claim | undefined;
  /** extends the lease; throws LeaseLostError when the shard was taken over */
  heartbeat(claim: Claim, opts?: { nowMs?: number; leaseMs?: number }): Claim;
  /** one short transaction for a batch of results; throws LeaseLostError when fenced out */
  recordSlots(claim: Claim, results: readonly SlotResult[]): void;
  completeShard(claim: Claim): void;
  failShard(claim: Claim, error: string): void;
  releaseShard(claim: Claim, reason: string): void;
  slotResults(shardId: number): SlotResult[];
  shardRows(): ShardStatusRow[];
  slotCounts(): SlotCountRow[];
  /** final outcomes recorded since `sinceMs`, per vehicle: for clips/min and ETA */
  recentOutcomes(sinceMs: number): { vehicle: string; count: number }[];
  close(): void;
}
