import { type FileModes, fileModesOf } from '../file-modes.js';
import { AvailabilityTable } from './availability.js';
import { BudgetTable } from './budget-table.js';
import { Buckets } from './buckets.js';
import { CampaignTable } from './campaign.js';
import { Claims } from './claims.js';
import { Dictionary } from './dictionary.js';
import { openDatabase } from './open.js';
import type { ManifestContent } from './replay.js';
import { ClipRequests } from './requests.js';
import { ReportQueries } from './report-queries.js';
import { SCHEMA_VERSION } from './schema.js';
import { Archive } from './snapshot.js';
import { Slots } from './slots.js';
import { StatusQueries } from './status-queries.js';
import { ActivityTable } from './activity.js';
import { ArchivedClips } from './archived.js';
import { Store } from './store.js';
import { Submissions } from './submissions.js';
import { TokenRenewals } from './token-renewal.js';
import type { ArchiveManifest, Manifest, OpenManifestOptions, ReportSource, ScanManifest, StatusSource, WorkerManifest } from './types.js';

/** A manifest with the whole-content methods that `manifest verify` and `rebuild` use (this folder and the benchmark only). */
export interface WholeManifest extends Manifest {
  quickCheck(): void;
  snapshot(): ManifestContent;
  restore(content: ManifestContent): number;
}

/**
 * Opens a manifest. Nothing is written to a file until it is known to be a fleetclip manifest of this or an
 * older schema; a missing file is created only with `create` (the `plan` command).
 */
export function openManifest(file: string, opts: OpenManifestOptions = {}): Manifest {
  return openWholeManifest(file, opts);
}

/** What a worker opens: it may claim, record and end shards, reserve buckets and draw requests. */
export function openWorkerManifest(file: string): WorkerManifest {
  return openWholeManifest(file);
}

/** What `scan --manifest` opens: it reads the campaign and records what the API said of each slot, nothing else. */
export function openScanManifest(file: string): ScanManifest {
  return openWholeManifest(file);
}

/** What `status` opens: read-only, refuses an older schema rather than migrating it. */
export function openStatusSource(file: string): StatusSource {
  return openWholeManifest(file, { readonly: true });
}

/** What `report` opens: read-only like `status`. */
export function openReportSource(file: string): ReportSource {
  return openWholeManifest(file, { readonly: true });
}

/** What `archive` opens: it reads the clips and records where it put them (`dryRun`: read-only). */
export function openArchiveManifest(file: string, opts: { readonly?: boolean } = {}): ArchiveManifest {
  return openWholeManifest(file, opts);
}

/** Wires the parts, each owning its statements, around one connection and its receipt journals. */
export function openWholeManifest(file: string, opts: OpenManifestOptions = {}): WholeManifest {
  const { db, file: abs } = openDatabase(file, opts);
  let modes: Readonly<FileModes> | undefined;
  const store: Store = new Store(db, abs, (): Readonly<FileModes> => (modes ??= fileModesOf(campaign.settings())));
  const cameras = new Dictionary(store, 'camera', 'no', 'name');
  const topicSets = new Dictionary(store, 'topic_set', 'id', 'topics');
  const campaign: CampaignTable = new CampaignTable(store, cameras);
  const claims = new Claims(store);
  const requests = new ClipRequests(store, claims, cameras);
  const buckets = new Buckets(store, claims, requests);
  const slots = new Slots(store, claims, requests, buckets, cameras, topicSets);
  const activity = new ActivityTable(store);
  const budget = new BudgetTable(store, campaign, activity);
  const submissions = new Submissions(store);
  const tokenRenewals = new TokenRenewals(store);
  const status = new StatusQueries(store);
  const reportQueries = new ReportQueries(store, cameras);
  const archiveFolders = new Dictionary(store, 'archive_folder', 'no', 'folder');
  const archived = new ArchivedClips(store, buckets, cameras, archiveFolders);
  const archive = new Archive(store, campaign, slots, buckets, submissions, archived);
  const availability = new AvailabilityTable(store, cameras);
  return {
    path: abs,
    schemaVersion: SCHEMA_VERSION,
    settings: () => campaign.settings(),
    outDir: () => campaign.outDir(),
    plannedShards: () => campaign.plannedShards(),
    plan: (settings, shards, planOpts) => campaign.plan(settings, shards, planOpts),

    claimNextShard: (owner, claimOpts) => claims.claimNextShard(owner, claimOpts),
    heartbeat: (claim, leaseOpts) => claims.heartbeat(claim, leaseOpts),
    completeShard: (claim) => claims.end(claim, 'done'),
    failShard: (claim, error) => claims.end(claim, 'failed', error),
    releaseShard: (claim, reason) => claims.end(claim, 'released', reason),
    resetFailed: () => claims.resetFailed(),
    resetShards: (ids, resetOpts) => claims.resetShards(ids, resetOpts),
    runningClaims: () => claims.runningClaims(),

    recordSlots: (claim, results) => slots.recordSlots(claim, results),
    slotResults: (shardId) => slots.slotResults(shardId),
    slotAvailability: (shardId) => availability.slotAvailability(shardId),
    recordAvailability: (shardId, answers) => availability.recordAvailability(shardId, answers),
    rememberRequests: (claim, requested) => requests.rememberRequests(claim, requested),
    rememberedRequests: (shardId) => requests.rememberedRequests(shardId),
    reserveBucket: (claim, slot, bytes, capBytes) => buckets.reserveBucket(claim, slot, bytes, capBytes),
    placeUnderFence: (claim, rename) => claims.whileHolding(claim, rename),
    adjustBucket: (vehicle, bucket, deltaBytes) => buckets.adjustBucket(vehicle, bucket, deltaBytes),
    workspaceBytes: () => buckets.workspaceBytes(),

    drawRequestAllowance: (workerId, wanted, nowMs) => budget.drawRequestAllowance(workerId, wanted, nowMs),
    report429: (nowMs) => budget.report429(nowMs),
    requestRate: (nowMs) => budget.requestRate(nowMs),

    tokenRenewal: () => tokenRenewals.tokenRenewal(),
    claimTokenRenewal: (holder, claim) => tokenRenewals.claimTokenRenewal(holder, claim),
    finishTokenRenewal: (holder, outcome, nowMs) => tokenRenewals.finishTokenRenewal(holder, outcome, nowMs),

    recordSubmission: (submission) => submissions.recordSubmission(submission),
    submissions: () => submissions.submissions(),

    shardRows: () => status.shardRows(),
    slotCounts: () => status.slotCounts(),
    recentOutcomes: (sinceMs) => status.recentOutcomes(sinceMs),
    recentOutcomeCount: (sinceMs) => status.recentOutcomeCount(sinceMs),
    runningShardCount: () => status.runningShardCount(),
    progress: (nowMs = Date.now()) => status.progress(nowMs),
    activity: (nowMs, recentMs, windowMinutes) => activity.activity(nowMs, recentMs, windowMinutes),
    readinessCounts: () => activity.readinessCounts(),
    coverageCounts: (slotsPerPart) => reportQueries.coverageCounts(slotsPerPart),
    tallySpan: () => reportQueries.tallySpan(),
    tallies: (firstMinute, barMinutes) => reportQueries.tallies(firstMinute, barMinutes),
    bucketUsage: () => reportQueries.bucketUsage(),
    reportActivity: (workerId, report, nowMs = Date.now()) => activity.reportActivity(workerId, report, nowMs),

    shardsWithClips: () => archived.shardsWithClips(),
    clipsToArchive: (shard) => archived.clipsToArchive(shard),
    recordArchived: (destination, shard, clips, nowMs = Date.now()) => archived.recordArchived(destination, shard, clips, nowMs),

    quickCheck: () => archive.quickCheck(),
    snapshot: () => archive.snapshot(),
    restore: (content) => archive.restore(content),
    close: () => store.close(),
  };
}
