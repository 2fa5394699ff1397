import fs from 'node:fs';
import os from 'node:os';
import path, { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { LeaseLostError, ManifestError, UsageError } from '../errors.js';
import { SHARD_SECONDS, SLOT_SECONDS, type CampaignSettings, type ShardSpec } from '../plan/types.js';
import { budgetAt, decrease, draw, initialBudget, type BudgetState } from './budget.js';
import { isBusy, retryBusy } from './busy.js';
import { writeCampaignFile } from './campaign-file.js';
import type { ManifestContent, ShardRecord, SlotRecord } from './replay.js';
import { openReceiptJournal, type ReceiptEvent, type ReceiptJournal } from './receipts.js';
import { checkSchema, migrate, probeSchema, SCHEMA_VERSION } from './schema.js';
import type {
  Claim,
  Manifest,
  OpenManifestOptions,
  PlannedShard,
  PlanOutcome,
  RememberedRequest,
  ShardState,
  ShardStatusRow,
  SlotCountRow,
  SlotOutcome,
  SlotResult,
  SlurmSubmission,
  WorkerIdentity,
} from './types.js';

export const MANIFEST_DEFAULTS = {
  /**
   * SQLite's own busy handler is off: it sleeps up to 100 ms between tries, so a newcomer overtakes a long waiter and
   * the claim p99 reached seconds with 16 processes. `retryBusy` polls every 1-5 ms instead (docs/performance.md).
   */
  busyTimeoutMs: 0,
  /** how long one write keeps retrying SQLITE_BUSY (with jitter) before giving up with a ManifestError */
  retryDeadlineMs: 120_000,
  leaseMs: 120_000,
  journal: 'delete',
} as const;

const SQLITE_HEADER = 'SQLite format 3\0';

/**
 * Opens a manifest. Nothing is written to a file until it is known to be a fleetclip manifest of this or an
 * older schema; a missing file is created only with `create` (the `plan` command).
 */
export function openManifest(file: string, opts: OpenManifestOptions = {}): Manifest {
  return openSqliteManifest(file, opts);
}

/** `openManifest` with the whole-content methods verify and rebuild use (this folder only). */
export function openSqliteManifest(file: string, opts: OpenManifestOptions = {}): SqliteManifest {
  const abs = path.resolve(file);
  const exists = fs.existsSync(abs);
  if (!exists && !opts.create) throw new UsageError(`no manifest at ${abs}; \`fleetclip plan\` creates one`, { path: abs });
  if (exists) checkHeader(abs);
  else fs.mkdirSync(path.dirname(abs), { recursive: true });
  let db: Database.Database;
  try {
    db = new Database(abs, { readonly: opts.readonly ?? false, fileMustExist: exists, timeout: opts.busyTimeoutMs ?? MANIFEST_DEFAULTS.busyTimeoutMs });
  } catch (err) {
    throw asManifestError(err, abs);
  }
  try {
    const kind = retryBusy(() => afterHotJournal(abs, () => checkSchema(abs, probeSchema(db))), MANIFEST_DEFAULTS.retryDeadlineMs);
    if (kind === 'blank' && exists) throw new ManifestError(`${abs} is an empty SQLite database, not a fleetclip manifest; left untouched`, { path: abs });
    if (opts.readonly) {
      if (kind === 'older') {
        throw new ManifestError(`${abs} has an older manifest schema; run a command that writes to it (e.g. a worker) to migrate it`, { path: abs });
      }
    } else {
      db.pragma('synchronous = FULL');
      if (!exists) setJournalMode(db, opts.journal ?? MANIFEST_DEFAULTS.journal, abs);
      if (kind !== 'current') retryBusy(() => migrate(db), MANIFEST_DEFAULTS.retryDeadlineMs);
    }
  } catch (err) {
    db.close();
    throw asManifestError(err, abs);
  }
  return new SqliteManifest(db, abs);
}

/** A truncated or foreign file is recognised from its first bytes, before SQLite is let near it. */
function checkHeader(file: string): void {
  const fd = fs.openSync(file, 'r');
  const head = Buffer.alloc(SQLITE_HEADER.length);
  let got: number;
  try {
    got = fs.readSync(fd, head, 0, head.length, 0);
  } finally {
    fs.closeSync(fd);
  }
  if (got === 0) {
    throw new ManifestError(`${file} is empty (truncated?); \`fleetclip manifest rebuild\` restores it from the receipts`, { path: file });
  }
  if (head.subarray(0, got).toString('latin1') !== SQLITE_HEADER) {
    throw new ManifestError(`${file} is not a SQLite database (corrupt or a foreign file); left untouched`, { path: file });
  }
}

function setJournalMode(db: Database.Database, mode: 'delete' | 'wal', file: string): void {
  const got = db.pragma(`journal_mode = ${mode.toUpperCase()}`, { simple: true }) as string;
  if (got.toLowerCase() !== mode) throw new ManifestError(`cannot switch ${file} to journal_mode=${mode} (SQLite kept ${got})`, { path: file });
}

/**
 * Runs a read on a read-only connection; if a writer was killed mid-transaction (SIGKILL, OOM, node failure), its hot
 * rollback journal must be rolled back before anyone can read, and a read-only connection may not: a short-lived
 * read-write connection does it (what any worker would do on its next write), then the read runs again.
 */
function afterHotJournal<T>(file: string, read: () => T): T {
  try {
    return read();
  } catch (err) {
    if ((err as { code?: unknown }).code !== 'SQLITE_READONLY_ROLLBACK') throw err;
    rollBackHotJournal(file);
    return read();
  }
}

function rollBackHotJournal(file: string): void {
  let db: Database.Database | undefined;
  try {
    db = new Database(file, { fileMustExist: true, timeout: 0 }); // busy: retried by the caller's retryBusy
    db.prepare('SELECT count(*) FROM sqlite_master').pluck().get(); // the first read rolls a hot journal back
  } catch (err) {
    if (isBusy(err)) throw err; // another process holds the lock (maybe rolling it back itself): the caller retries
    throw new ManifestError(
      `${file}: a worker was killed in the middle of a write and left its rollback journal (${path.basename(file)}-journal), ` +
        `which only a process allowed to write the manifest can roll back: run this again with write access, or start any worker (${(err as Error).message})`,
      { path: file },
      { cause: err },
    );
  } finally {
    db?.close();
  }
}

/** SQLite's own words for a damaged file, turned into a ManifestError that says what to do. */
function asManifestError(err: unknown, file: string): unknown {
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && /^SQLITE_(NOTADB|CORRUPT|IOERR|CANTOPEN|FULL|READONLY)/.test(code)) {
    return new ManifestError(`${file}: ${(err as Error).message} (${code}); \`fleetclip manifest verify\` checks it against the receipts`, { path: file }, {
      cause: err,
    });
  }
  return err;
}

interface ShardRow {
  id: number;
  vehicle: string;
  hour_start: number;
  cameras: string;
  state: ShardState;
  fence: number;
  attempts: number;
  owner_worker: string | null;
  lease_until_ms: number | null;
  last_error: string | null;
  release_reason: string | null;
}

interface SlotRow {
  vehicle: string;
  camera: string;
  start: number;
  outcome: SlotOutcome;
  bytes: number | null;
  sha256: string | null;
  path: string | null;
  bag: string | null;
  attempts: number;
  error: string | null;
  at_ms: number;
}

function slotFromRow(r: SlotRow): SlotResult {
  return {
    vehicle: r.vehicle,
    camera: r.camera,
    start: r.start,
    outcome: r.outcome,
    ...(r.bytes !== null && { bytes: r.bytes }),
    ...(r.sha256 !== null && { sha256: r.sha256 }),
    ...(r.path !== null && { path: r.path }),
    ...(r.bag !== null && { bag: JSON.parse(r.bag) }),
    attempts: r.attempts,
    ...(r.error !== null && { error: r.error }),
    atMs: r.at_ms,
  };
}

/** The canonical text of settings, for "is this the same plan" (key order does not matter). */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b))) : v,
  );
}

class SqliteManifest implements Manifest {
  readonly schemaVersion = SCHEMA_VERSION;
  private readonly runDir: string;
  private readonly journals = new Map<string, ReceiptJournal>();
  private readonly sql;

  constructor(
    private readonly db: Database.Database,
    readonly path: string,
  ) {
    this.runDir = dirname(path);
    const p = (text: string) => db.prepare(text);
    this.sql = {
      campaign: p(`SELECT settings FROM campaign WHERE id = 1`).pluck(),
      insertCampaign: p(`INSERT INTO campaign (id, settings, created_ms, updated_ms) VALUES (1, @settings, @now, @now)`),
      updateCampaign: p(`UPDATE campaign SET settings = @settings, updated_ms = @now WHERE id = 1`),
      insertShard: p(`INSERT OR IGNORE INTO shard (vehicle, hour_start, cameras) VALUES (@vehicle, @hourStart, @cameras)`),
      shardKeys: p(`SELECT vehicle || ' ' || hour_start FROM shard`).pluck(),
      planned: p(`SELECT id, vehicle, hour_start, cameras FROM shard ORDER BY id`),
      shard: p(`SELECT * FROM shard WHERE id = ?`),
      expiredLease: p(`SELECT id FROM shard WHERE state = 'running' AND lease_until_ms < ? ORDER BY lease_until_ms LIMIT 1`).pluck(),
      firstInState: p(`SELECT id FROM shard WHERE state = ? ORDER BY id LIMIT 1`).pluck(),
      take: p(`UPDATE shard SET state = 'running', fence = fence + 1, attempts = attempts + 1,
                 owner_worker = @workerId, owner_host = @host, owner_pid = @pid, owner_job = @job, owner_task = @task,
                 lease_until_ms = @until, release_reason = NULL, updated_ms = @now
               WHERE id = @id RETURNING *`),
      extendLease: p(`UPDATE shard SET lease_until_ms = @until, updated_ms = @now WHERE id = @id AND fence = @fence AND state = 'running'`),
      end: p(`UPDATE shard SET state = @state, lease_until_ms = NULL, updated_ms = @now,
                last_error = CASE @state WHEN 'failed' THEN @note WHEN 'done' THEN NULL ELSE last_error END,
                release_reason = CASE @state WHEN 'released' THEN @note ELSE NULL END
              WHERE id = @id AND fence = @fence AND state = 'running'`),
      upsertSlot: p(`INSERT INTO slot_result (vehicle, camera, start, shard_id, fence, outcome, bytes, sha256, path, bag, attempts, error, at_ms, worker)
                     VALUES (@vehicle, @camera, @start, @shardId, @fence, @outcome, @bytes, @sha256, @path, @bag, @attempts, @error, @atMs, @worker)
                     ON CONFLICT (vehicle, camera, start) DO UPDATE SET shard_id = excluded.shard_id, fence = excluded.fence,
                       outcome = excluded.outcome, bytes = excluded.bytes, sha256 = excluded.sha256, path = excluded.path, bag = excluded.bag,
                       attempts = excluded.attempts, error = excluded.error, at_ms = excluded.at_ms, worker = excluded.worker`),
      slotsOfShard: p(`SELECT * FROM slot_result WHERE shard_id = ? ORDER BY camera, start`),
      failedShards: p(`SELECT id, fence FROM shard WHERE state = 'failed' ORDER BY id`),
      resettable: p(`SELECT id, fence FROM shard WHERE id = ? AND state != 'running'`),
      reset: p(`UPDATE shard SET state = 'pending', attempts = 0, owner_worker = NULL, lease_until_ms = NULL, updated_ms = @now WHERE id = @id`),
      insertSubmission: p(`INSERT INTO slurm_submission (job_id, array_range, at_ms) VALUES (@jobId, @arrayRange, @atMs)`),
      submissions: p(`SELECT job_id AS jobId, array_range AS arrayRange, at_ms AS atMs FROM slurm_submission ORDER BY id`),
      rememberRequest: p(`INSERT OR REPLACE INTO clip_request (shard_id, camera, start, filename, requested_ms) VALUES (?, ?, ?, ?, ?)`),
      requests: p(`SELECT camera, start, filename, requested_ms AS requestedAtMs FROM clip_request WHERE shard_id = ? ORDER BY camera, start`),
      bucketWithRoom: p(`SELECT n FROM storage_bucket WHERE vehicle = @vehicle AND bytes + @bytes <= @cap ORDER BY n LIMIT 1`).pluck(),
      nextBucket: p(`SELECT coalesce(max(n), 0) + 1 FROM storage_bucket WHERE vehicle = ?`).pluck(),
      addToBucket: p(`INSERT INTO storage_bucket (vehicle, n, bytes) VALUES (@vehicle, @n, max(0, @bytes))
                      ON CONFLICT (vehicle, n) DO UPDATE SET bytes = max(0, bytes + @bytes)`),
      budget: p(`SELECT rate_per_sec AS ratePerSec, tokens, refilled_ms AS refilledMs, last_decrease_ms AS lastDecreaseMs FROM request_budget WHERE id = 1`),
      saveBudget: p(`INSERT OR REPLACE INTO request_budget (id, rate_per_sec, tokens, refilled_ms, last_decrease_ms)
                     VALUES (1, @ratePerSec, @tokens, @refilledMs, @lastDecreaseMs)`),
      addUsage: p(`INSERT INTO request_usage (worker, granted, last_ms) VALUES (?, ?, ?)
                   ON CONFLICT (worker) DO UPDATE SET granted = granted + excluded.granted, last_ms = excluded.last_ms`),
      shardRows: p(`SELECT s.*,
                      coalesce(sum(r.outcome = 'ok'), 0) AS ok, coalesce(sum(r.outcome = 'missing'), 0) AS missing,
                      coalesce(sum(r.outcome = 'invalid'), 0) AS invalid, coalesce(sum(r.outcome = 'failed'), 0) AS failed,
                      coalesce(sum(r.bytes), 0) AS bytes
                    FROM shard s LEFT JOIN slot_result r ON r.shard_id = s.id GROUP BY s.id ORDER BY s.id`),
      slotCounts: p(`SELECT s.vehicle, r.camera, s.hour_start AS hourStart, r.outcome, count(*) AS count, coalesce(sum(r.bytes), 0) AS bytes
                     FROM slot_result r JOIN shard s ON s.id = r.shard_id
                     GROUP BY s.vehicle, r.camera, s.hour_start, r.outcome ORDER BY 1, 2, 3, 4`),
      allShards: p(`SELECT * FROM shard ORDER BY id`),
      allSlots: p(`SELECT * FROM slot_result ORDER BY shard_id, camera, start`),
      restoreShard: p(`INSERT INTO shard (id, vehicle, hour_start, cameras, state, fence, attempts, owner_worker, owner_host, owner_pid, owner_job,
                         owner_task, lease_until_ms, last_error, release_reason, updated_ms)
                       VALUES (@id, @vehicle, @hourStart, @cameras, @state, @fence, @attempts, @workerId, @host, @pid, @job, @task,
                         @leaseUntilMs, @lastError, @releaseReason, @now)`),
      addBucketBytes: p(`INSERT INTO storage_bucket (vehicle, n, bytes) VALUES (@vehicle, @n, @bytes)`),
      recent: p(`SELECT vehicle, count(*) AS count FROM slot_result WHERE at_ms >= ? GROUP BY vehicle ORDER BY vehicle`),
    };
  }

  // ---- plumbing

  /** A read: retried on SQLITE_BUSY (a writer may be committing), damaged-file errors explained. */
  private read<T>(fn: () => T): T {
    try {
      return retryBusy(() => afterHotJournal(this.path, fn), MANIFEST_DEFAULTS.retryDeadlineMs);
    } catch (err) {
      throw asManifestError(err, this.path);
    }
  }

  /**
   * One BEGIN IMMEDIATE transaction. `body` makes its SQL changes, then hands its receipt to `receipt`, which
   * appends it to the journal before COMMIT; the journal is fsynced right after COMMIT, outside the write lock
   * (an fsync inside it doubled the lock hold time and the claim tail latency, docs/performance.md). If the
   * transaction rolls back for SQLITE_BUSY and is retried, the receipt is voided first, so receipts hold exactly
   * what was committed (plus, after a failed COMMIT for another reason, what the database could not take).
   */
  private write<T>(journalId: string | undefined, body: (receipt: (event: ReceiptEvent) => void) => T): T {
    const journal = journalId === undefined ? undefined : this.journal(journalId);
    let appended: number[] = [];
    const tx = this.db.transaction(() => body((event) => appended.push(journal!.append(event, { sync: false }))));
    try {
      return retryBusy(
        () => {
          appended = [];
          try {
            return tx.immediate();
          } catch (err) {
            if (isBusy(err)) for (const offset of appended) journal!.append({ t: 'void', offset }, { sync: false });
            throw err;
          }
        },
        MANIFEST_DEFAULTS.retryDeadlineMs,
      );
    } catch (err) {
      throw asManifestError(err, this.path);
    } finally {
      journal?.sync();
    }
  }

  private journal(journalId: string): ReceiptJournal {
    let journal = this.journals.get(journalId);
    if (!journal) {
      journal = openReceiptJournal(this.runDir, journalId);
      this.journals.set(journalId, journal);
    }
    return journal;
  }

  private adminJournalId(): string {
    return `admin-${os.hostname()}-${process.pid}`;
  }

  /** Inside a transaction: the claim still holds its shard, or LeaseLostError. */
  private assertHolds(claim: Claim): void {
    const row = this.sql.shard.get(claim.shardId) as ShardRow | undefined;
    if (row && row.fence === claim.fence && row.state === 'running') return;
    const now = !row
      ? 'no longer exists'
      : row.fence !== claim.fence
        ? `was taken over by ${row.owner_worker ?? 'another worker'} (lease ${row.fence}, ours ${claim.fence})`
        : `is ${row.state} now`;
    throw new LeaseLostError(`shard ${claim.shardId} ${now}; stop working on it`, { shardId: claim.shardId, vehicle: claim.vehicle });
  }

  // ---- campaign

  settings(): CampaignSettings {
    const text = this.read(() => this.sql.campaign.get()) as string | undefined;
    if (text === undefined) throw new ManifestError(`${this.path} holds no campaign yet; run \`fleetclip plan\``, { path: this.path });
    return JSON.parse(text) as CampaignSettings;
  }

  plannedShards(): PlannedShard[] {
    const rows = this.read(() => this.sql.planned.all()) as Pick<ShardRow, 'id' | 'vehicle' | 'hour_start' | 'cameras'>[];
    return rows.map((r) => ({ id: r.id, vehicle: r.vehicle, hourStart: r.hour_start, cameras: JSON.parse(r.cameras) as string[] }));
  }

  plan(settings: CampaignSettings, shards: readonly ShardSpec[], opts: { extend?: boolean } = {}): PlanOutcome {
    const now = Date.now();
    const outcome = this.write(undefined, () => {
      const stored = this.sql.campaign.get() as string | undefined;
      if (stored !== undefined && !opts.extend) {
        const keys = new Set(this.sql.shardKeys.all() as string[]);
        const same = canonical(JSON.parse(stored)) === canonical(settings) && keys.size === shards.length && shards.every((s) => keys.has(`${s.vehicle} ${s.hourStart}`));
        if (!same) throw new UsageError(`${this.path} already holds a different campaign; pass --extend to add days or vehicles to it`, { path: this.path });
        return { created: false, shardsAdded: 0, shardsTotal: keys.size };
      }
      const text = JSON.stringify(settings);
      if (stored === undefined) this.sql.insertCampaign.run({ settings: text, now });
      else this.sql.updateCampaign.run({ settings: text, now });
      let added = 0;
      for (const s of shards) added += this.sql.insertShard.run({ vehicle: s.vehicle, hourStart: s.hourStart, cameras: JSON.stringify(s.cameras) }).changes;
      return { created: stored === undefined, shardsAdded: added, shardsTotal: this.sql.shardKeys.all().length };
    });
    try {
      writeCampaignFile(this.runDir, { settings, shards: this.plannedShards() });
    } catch (err) {
      // the plan is committed; campaign.json (what `manifest rebuild` starts from) is not: planning again rewrites it
      throw new ManifestError(
        `planned in ${this.path}, but ${path.join(this.runDir, 'campaign.json')} could not be written (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}): fix that, then run the same plan again`,
        { path: this.path },
        { cause: err },
      );
    }
    return outcome;
  }

  // ---- a worker's claim

  claimNextShard(owner: WorkerIdentity, opts: { nowMs?: number; leaseMs?: number } = {}): Claim | undefined {
    const now = opts.nowMs ?? Date.now();
    const until = now + (opts.leaseMs ?? MANIFEST_DEFAULTS.leaseMs);
    return this.write(owner.workerId, (receipt) => {
      const id = (this.sql.expiredLease.get(now) ?? this.sql.firstInState.get('released') ?? this.sql.firstInState.get('pending')) as number | undefined;
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
      }) as ShardRow;
      const claim: Claim = {
        shardId: row.id,
        vehicle: row.vehicle,
        hourStart: row.hour_start,
        cameras: JSON.parse(row.cameras) as string[],
        fence: row.fence,
        attempt: row.attempts,
        leaseUntilMs: until,
        workerId: owner.workerId,
      };
      receipt({ t: 'claim', shardId: row.id, fence: row.fence, attempt: row.attempts, owner, leaseUntilMs: until, atMs: now });
      return claim;
    });
  }

  heartbeat(claim: Claim, opts: { nowMs?: number; leaseMs?: number } = {}): Claim {
    const now = opts.nowMs ?? Date.now();
    const until = now + (opts.leaseMs ?? MANIFEST_DEFAULTS.leaseMs);
    this.write(undefined, () => {
      if (this.sql.extendLease.run({ id: claim.shardId, fence: claim.fence, until, now }).changes === 0) this.assertHolds(claim);
    });
    return { ...claim, leaseUntilMs: until };
  }

  recordSlots(claim: Claim, results: readonly SlotResult[]): void {
    if (results.length === 0) return;
    for (const r of results) checkSlotBelongs(claim, r);
    this.write(claim.workerId, (receipt) => {
      this.assertHolds(claim);
      for (const r of results) {
        this.sql.upsertSlot.run({ ...slotParams(r), shardId: claim.shardId, fence: claim.fence, worker: claim.workerId });
      }
      receipt({ t: 'slots', shardId: claim.shardId, fence: claim.fence, workerId: claim.workerId, results: [...results] });
    });
  }

  completeShard(claim: Claim): void {
    this.end(claim, 'done');
  }

  failShard(claim: Claim, error: string): void {
    this.end(claim, 'failed', error);
  }

  releaseShard(claim: Claim, reason: string): void {
    this.end(claim, 'released', reason);
  }

  private end(claim: Claim, state: 'done' | 'failed' | 'released', note?: string): void {
    const now = Date.now();
    this.write(claim.workerId, (receipt) => {
      if (this.sql.end.run({ id: claim.shardId, fence: claim.fence, state, note: note ?? null, now }).changes === 0) this.assertHolds(claim);
      receipt({ t: 'end', shardId: claim.shardId, fence: claim.fence, state, ...(note !== undefined && { note }), atMs: now });
    });
  }

  rememberRequests(claim: Claim, requests: readonly RememberedRequest[]): void {
    if (requests.length === 0) return;
    this.write(undefined, () => {
      this.assertHolds(claim);
      for (const r of requests) this.sql.rememberRequest.run(claim.shardId, r.camera, r.start, r.filename, r.requestedAtMs);
    });
  }

  rememberedRequests(shardId: number): RememberedRequest[] {
    return this.read(() => this.sql.requests.all(shardId)) as RememberedRequest[];
  }

  // ---- shared counters

  reserveBucket(vehicle: string, bytes: number, capBytes: number): number {
    return this.write(undefined, () => {
      const n = ((this.sql.bucketWithRoom.get({ vehicle, bytes, cap: capBytes }) as number | undefined) ?? this.sql.nextBucket.get(vehicle)) as number;
      this.sql.addToBucket.run({ vehicle, n, bytes });
      return n;
    });
  }

  adjustBucket(vehicle: string, bucket: number, deltaBytes: number): void {
    this.write(undefined, () => {
      this.sql.addToBucket.run({ vehicle, n: bucket, bytes: deltaBytes });
    });
  }

  drawRequestAllowance(workerId: string, wanted: number, nowMs: number = Date.now()): number {
    const maxRate = this.settings().apiRatePerSec;
    return this.write(undefined, () => {
      const { state, granted } = draw(this.budgetNow(maxRate, nowMs), wanted);
      this.sql.saveBudget.run(state);
      if (granted > 0) this.sql.addUsage.run(workerId, granted, nowMs);
      return granted;
    });
  }

  report429(nowMs: number = Date.now()): void {
    const maxRate = this.settings().apiRatePerSec;
    this.write(undefined, () => {
      this.sql.saveBudget.run(decrease(this.budgetNow(maxRate, nowMs), maxRate, nowMs));
    });
  }

  requestRate(nowMs: number = Date.now()): number {
    const maxRate = this.settings().apiRatePerSec;
    return this.read(() => this.budgetNow(maxRate, nowMs).ratePerSec);
  }

  private budgetNow(maxRate: number, nowMs: number): BudgetState {
    const stored = this.sql.budget.get() as BudgetState | undefined;
    return stored ? budgetAt(stored, maxRate, nowMs) : initialBudget(maxRate, nowMs);
  }

  // ---- operator writes

  resetFailed(): number {
    return this.resetWhere(() => this.sql.failedShards.all() as { id: number; fence: number }[]);
  }

  resetShards(ids: readonly number[]): number {
    return this.resetWhere(() => ids.flatMap((id) => (this.sql.resettable.all(id) as { id: number; fence: number }[])));
  }

  private resetWhere(select: () => { id: number; fence: number }[]): number {
    const now = Date.now();
    return this.write(this.adminJournalId(), (receipt) => {
      const shards = select();
      for (const s of shards) this.sql.reset.run({ id: s.id, now });
      if (shards.length > 0) receipt({ t: 'reset', shards, atMs: now });
      return shards.length;
    });
  }

  recordSubmission(submission: SlurmSubmission): void {
    this.write(this.adminJournalId(), (receipt) => {
      this.sql.insertSubmission.run(submission);
      receipt({ t: 'submission', submission });
    });
  }

  submissions(): SlurmSubmission[] {
    return this.read(() => this.sql.submissions.all()) as SlurmSubmission[];
  }

  // ---- reads

  slotResults(shardId: number): SlotResult[] {
    return (this.read(() => this.sql.slotsOfShard.all(shardId)) as SlotRow[]).map(slotFromRow);
  }

  shardRows(): ShardStatusRow[] {
    type Row = ShardRow & { ok: number; missing: number; invalid: number; failed: number; bytes: number };
    return (this.read(() => this.sql.shardRows.all()) as Row[]).map((r) => {
      const cameras = JSON.parse(r.cameras) as string[];
      return {
        id: r.id,
        vehicle: r.vehicle,
        hourStart: r.hour_start,
        cameras,
        state: r.state,
        attempts: r.attempts,
        ...(r.owner_worker !== null && { owner: r.owner_worker }),
        ...(r.lease_until_ms !== null && { leaseUntilMs: r.lease_until_ms }),
        ...(r.last_error !== null && { lastError: r.last_error }),
        ...(r.release_reason !== null && { releaseReason: r.release_reason }),
        slotsTotal: cameras.length * (SHARD_SECONDS / SLOT_SECONDS),
        ok: r.ok,
        missing: r.missing,
        invalid: r.invalid,
        failed: r.failed,
        bytes: r.bytes,
      };
    });
  }

  slotCounts(): SlotCountRow[] {
    return this.read(() => this.sql.slotCounts.all()) as SlotCountRow[];
  }

  recentOutcomes(sinceMs: number): { vehicle: string; count: number }[] {
    return this.read(() => this.sql.recent.all(sinceMs)) as { vehicle: string; count: number }[];
  }

  // ---- whole content, for verify and rebuild

  /** SQLite's own consistency check of the file (b-trees, indexes); throws a ManifestError if it fails. */
  quickCheck(): void {
    const rows = this.read(() => this.db.pragma('quick_check') as { quick_check: string }[]);
    const bad = rows.map((r) => r.quick_check).filter((r) => r !== 'ok');
    if (bad.length > 0) throw new ManifestError(`${this.path} fails SQLite's quick_check: ${bad.slice(0, 3).join('; ')}`, { path: this.path });
  }

  snapshot(): ManifestContent {
    type Row = ShardRow & { owner_host: string | null; owner_pid: number | null; owner_job: string | null; owner_task: string | null };
    type SlotRowWithShard = SlotRow & { shard_id: number; fence: number; worker: string };
    return this.read(() => ({
      settings: this.settings(),
      shards: (this.sql.allShards.all() as Row[]).map((r): ShardRecord => ({
        id: r.id,
        vehicle: r.vehicle,
        hourStart: r.hour_start,
        cameras: JSON.parse(r.cameras) as string[],
        state: r.state,
        fence: r.fence,
        attempts: r.attempts,
        ...(r.owner_worker !== null && {
          owner: {
            workerId: r.owner_worker,
            host: r.owner_host ?? '',
            pid: r.owner_pid ?? 0,
            ...(r.owner_job !== null && { slurmJobId: r.owner_job }),
            ...(r.owner_task !== null && { slurmArrayTaskId: r.owner_task }),
          },
        }),
        ...(r.lease_until_ms !== null && { leaseUntilMs: r.lease_until_ms }),
        ...(r.last_error !== null && { lastError: r.last_error }),
        ...(r.release_reason !== null && { releaseReason: r.release_reason }),
      })),
      slots: (this.sql.allSlots.all() as SlotRowWithShard[]).map((r): SlotRecord => ({ shardId: r.shard_id, fence: r.fence, worker: r.worker, result: slotFromRow(r) })),
      submissions: this.submissions(),
    }));
  }

  /**
   * Fills a freshly created manifest with recovered content in one transaction; bucket counters are summed
   * from the ok clips' paths (`<out>/<vehicle>/download<N>/...`). No receipts: they are where it came from.
   */
  restore(content: ManifestContent): void {
    const now = Date.now();
    this.write(undefined, () => {
      this.sql.insertCampaign.run({ settings: JSON.stringify(content.settings), now });
      for (const s of content.shards) {
        this.sql.restoreShard.run({
          id: s.id,
          vehicle: s.vehicle,
          hourStart: s.hourStart,
          cameras: JSON.stringify(s.cameras),
          state: s.state,
          fence: s.fence,
          attempts: s.attempts,
          workerId: s.owner?.workerId ?? null,
          host: s.owner?.host ?? null,
          pid: s.owner?.pid ?? null,
          job: s.owner?.slurmJobId ?? null,
          task: s.owner?.slurmArrayTaskId ?? null,
          leaseUntilMs: s.leaseUntilMs ?? null,
          lastError: s.lastError ?? null,
          releaseReason: s.releaseReason ?? null,
          now,
        });
      }
      const buckets = new Map<string, { vehicle: string; n: number; bytes: number }>();
      for (const { shardId, fence, worker, result: r } of content.slots) {
        this.sql.upsertSlot.run({
          ...slotParams(r),
          shardId,
          fence,
          worker,
        });
        const n = r.outcome === 'ok' && r.path ? bucketOfPath(r.path, r.vehicle) : undefined;
        if (n === undefined) continue;
        const bucket = buckets.get(`${r.vehicle}/${n}`) ?? { vehicle: r.vehicle, n, bytes: 0 };
        bucket.bytes += r.bytes ?? 0;
        buckets.set(`${r.vehicle}/${n}`, bucket);
      }
      for (const b of buckets.values()) this.sql.addBucketBytes.run(b);
      for (const sub of content.submissions) this.sql.insertSubmission.run(sub);
    });
  }

  close(): void {
    for (const j of this.journals.values()) j.close();
    this.journals.clear();
    if (this.db.open) this.db.close();
  }
}

function slotParams(r: SlotResult) {
  return {
    vehicle: r.vehicle,
    camera: r.camera,
    start: r.start,
    outcome: r.outcome,
    bytes: r.bytes ?? null,
    sha256: r.sha256 ?? null,
    path: r.path ?? null,
    bag: r.bag ? JSON.stringify(r.bag) : null,
    attempts: r.attempts,
    error: r.error ?? null,
    atMs: r.atMs,
  };
}

/** N of `.../<vehicle>/download<N>/...`, the bucket folder reserveBucket hands out. */
function bucketOfPath(file: string, vehicle: string): number | undefined {
  const parts = file.split(/[\\/]/);
  for (let i = 1; i < parts.length; i++) {
    const m = parts[i - 1] === vehicle ? /^download(\d+)$/.exec(parts[i]!) : null;
    if (m) return Number(m[1]);
  }
  return undefined;
}

/** Results keyed by (vehicle, camera, start) must fall inside the claimed shard, or two shards could fight over a slot. */
function checkSlotBelongs(claim: Claim, r: SlotResult): void {
  const inside = r.vehicle === claim.vehicle && claim.cameras.includes(r.camera) && r.start >= claim.hourStart && r.start < claim.hourStart + SHARD_SECONDS;
  if (!inside || r.start % SLOT_SECONDS !== 0) {
    throw new ManifestError(`slot ${r.vehicle} ${r.camera} ${r.start} is not a slot of shard ${claim.shardId}`, {
      shardId: claim.shardId,
      vehicle: r.vehicle,
      camera: r.camera,
    });
  }
}
