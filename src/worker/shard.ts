import { setMaxListeners } from 'node:events';
import type { Logger } from 'winston';
import { AuthExpiredError, FleetclipError, LeaseLostError, QuotaError, StorageError } from '../errors.js';
import type { FileModes } from '../file-modes.js';
import type { Claim, RememberedRequest, SlotResult, WorkerManifest } from '../manifest/index.js';
import { formatOnMiss } from '../plan/grammar.js';
import { SLOT_SECONDS, type MissStrategy } from '../plan/types.js';
import { clipFileName, removeStaleTemporaries, slotIso, type WorkspaceGuard } from '../storage/index.js';
import type { ClipFetcher, ClipOutcome } from './clip.js';
import { campaignDestination } from './destination.js';
import { SlotPlanner, type ProbeResult } from './on-miss.js';
import { shardSlots } from './selection.js';
import type { ClipWindow } from './window.js';

export interface ShardReport {
  shardId: number;
  vehicle: string;
  hourStart: number;
  state: 'done' | 'failed' | 'released' | 'lost';
  /** why a shard was released or failed */
  note?: string;
  ok: number;
  missing: number;
  invalid: number;
  failed: number;
  /** slots settled without a request: by the missing-data strategy, or known to have no data from a scan */
  skipped: number;
  /** slots that already had a final outcome from an earlier attempt */
  resumed: number;
  /** clip requests (/v1/video answered with a clip or a 404) this attempt made: what `--on-miss` cost */
  clipRequests: number;
  /** of those, hedge requests: a job not ready long after the campaign's jobs usually are, asked for again */
  hedges: number;
  strategy: string;
  bytes: number;
  durationMs: number;
}

export interface ShardContext {
  manifest: WorkerManifest;
  clips: ClipFetcher;
  log: Logger;
  strategy: MissStrategy;
  /** the campaign's output root, absolute */
  outDir: string;
  /** the campaign's file modes (bucket folders, clips) */
  fileModes: Readonly<FileModes>;
  bucketCapBytes: number;
  /** the worker's clips in flight, over every shard it runs */
  window: ClipWindow;
  workspace: WorkspaceGuard;
  /** stop starting clips (first signal); in-flight ones go on */
  graceful: AbortSignal;
  /** abandon in-flight clips (grace over, second signal) */
  hard: AbortSignal;
  heartbeatMs: number;
  leaseMs: number;
  flushIntervalMs: number;
  flushBatch: number;
  /** a remembered server filename older than this is requested afresh instead of polled */
  requestReuseMs: number;
  /** told about each final slot outcome (progress) */
  onOutcome?: (result: SlotResult) => void;
  /** told once when every slot of the shard is settled or in flight: the worker may start another shard beside it */
  onExhausted?: () => void;
}

/** What one clip came to: the pipeline's outcome, or a failure after its retries. */
type ClipResult = ClipOutcome | { kind: 'failed'; error: string };

/** A fatal condition that ends the shard early: the shard is released (or abandoned) and the error re-thrown. */
function isShardFatal(err: unknown): boolean {
  return err instanceof AuthExpiredError || err instanceof StorageError || err instanceof LeaseLostError;
}

/** Why a fatal condition released the shard; `status` advises per reason. */
function releaseReasonOf(err: unknown): string {
  if (err instanceof AuthExpiredError) return 'auth';
  if (err instanceof QuotaError) return 'quota';
  if (err instanceof StorageError) return 'storage'; // an unusable output folder: a file in the way, no permission, read-only
  return 'error'; // e.g. the manifest refused a batch: release, never complete with outcomes missing
}

/**
 * Runs one claimed shard: every (slot, camera) gets a final outcome, slots concurrently (as many clips as the worker's window allows, in
 * flight), outcomes batched into the manifest. Returns how the shard ended; re-throws AuthExpiredError, StorageError
 * (quota, disk) and LeaseLostError after releasing (or, for a lost lease, abandoning) the shard.
 */
export async function runShard(claim: Claim, ctx: ShardContext): Promise<ShardReport> {
  const startedMs = Date.now();
  const { manifest, log } = ctx;
  const cameras = claim.cameras;
  // the slots of the hour, or a sample's: scattered slots have no gaps in time for a strategy to skip
  const { slotNos, camerasAt } = shardSlots(claim);
  const strategy: MissStrategy = claim.slots ? { kind: 'probe-all' } : ctx.strategy;
  const where = { shardId: claim.shardId, vehicle: claim.vehicle, slot: slotIso(claim.hourStart) };
  let current = claim;
  const report: ShardReport = {
    shardId: claim.shardId,
    vehicle: claim.vehicle,
    hourStart: claim.hourStart,
    state: 'done',
    ok: 0,
    missing: 0,
    invalid: 0,
    failed: 0,
    skipped: 0,
    resumed: 0,
    clipRequests: 0,
    hedges: 0,
    strategy: formatOnMiss(strategy),
    bytes: 0,
    durationMs: 0,
  };

  // What earlier attempts settled: ok and missing are final; invalid and failed slots are tried again.
  const settled = new Map<string, SlotResult>();
  for (const r of manifest.slotResults(claim.shardId))
    if (r.outcome === 'ok' || r.outcome === 'missing') settled.set(`${r.camera} ${r.start}`, r);
  report.resumed = settled.size;
  // Slots a scan found without data (404) are settled as missing without asking again (docs/scan.md).
  const scannedEmpty: SlotResult[] = manifest
    .slotAvailability(claim.shardId)
    .filter((a) => !a.available && !settled.has(`${a.camera} ${a.start}`))
    .map((a) => ({
      vehicle: claim.vehicle,
      camera: a.camera,
      start: a.start,
      outcome: 'missing',
      attempts: 0,
      error: `no data when scanned ${new Date(a.checkedMs).toISOString()}`,
      atMs: Date.now(),
    }));
  manifest.recordSlots(current, scannedEmpty);
  for (const r of scannedEmpty) {
    settled.set(`${r.camera} ${r.start}`, r);
    ctx.onOutcome?.(r);
  }
  const known = new Map<number, ProbeResult>();
  slotNos.forEach((slotNo, i) => {
    const rs = camerasAt(slotNo).map((c) => settled.get(`${c} ${claim.hourStart + slotNo * SLOT_SECONDS}`));
    if (rs.every((r) => r !== undefined)) known.set(i, rs.some((r) => r!.outcome === 'ok') ? 'data' : 'missing');
  });
  const names = slotNos.flatMap((slotNo) =>
    camerasAt(slotNo).map((c) => clipFileName(claim.vehicle, c, claim.hourStart + slotNo * SLOT_SECONDS)),
  );
  const stale = await removeStaleTemporaries(ctx.outDir, names).catch((err: unknown) => {
    if (err instanceof StorageError) manifest.releaseShard(claim, releaseReasonOf(err)); // nothing of it has started
    throw err;
  });
  if (stale > 0) log.info(`removed ${stale} temporaries of an interrupted attempt`, where);
  ctx.workspace.measured(manifest.workspaceBytes());

  const planner = new SlotPlanner(strategy, slotNos.length, {
    maxInflight: () => Math.max(1, Math.ceil(ctx.window.size / cameras.length)),
    known,
  });
  const shardAbort = new AbortController();
  const signal = AbortSignal.any([ctx.hard, shardAbort.signal]);
  setMaxListeners(0, signal); // every in-flight request listens to it
  let fatal: unknown;
  const failWith = (err: unknown): void => {
    fatal ??= err;
    if (err instanceof LeaseLostError) shardAbort.abort(err);
  };

  // Outcomes, and the server's names of clips just requested, go to the manifest in small batches (one short
  // transaction each, not one per clip). A worker killed before a flush loses only those names: its successor asks
  // the API to cut those few clips again.
  const remembered = new Map(manifest.rememberedRequests(claim.shardId).map((r) => [`${r.camera} ${r.start}`, r]));
  let pending: SlotResult[] = [];
  let pendingRequests: RememberedRequest[] = [];
  const flush = (): void => {
    const requests = pendingRequests;
    const batch = pending;
    pendingRequests = [];
    pending = [];
    try {
      manifest.rememberRequests(current, requests);
      manifest.recordSlots(current, batch);
    } catch (err) {
      // kept for the next flush: a shard whose outcomes could not all be recorded is never completed
      pendingRequests = requests.concat(pendingRequests);
      pending = batch.concat(pending);
      failWith(err);
    }
  };
  const flushTimer = setInterval(flush, ctx.flushIntervalMs);
  const heartbeat = setInterval(() => {
    try {
      current = manifest.heartbeat(current, { leaseMs: ctx.leaseMs });
      ctx.workspace.measured(manifest.workspaceBytes());
    } catch (err) {
      failWith(err);
    }
  }, ctx.heartbeatMs);

  const record = (result: SlotResult): void => {
    report[result.outcome]++;
    if (result.outcome === 'ok') {
      report.bytes += result.bytes ?? 0;
      ctx.workspace.added(result.bytes ?? 0);
    }
    pending.push(result);
    if (pending.length >= ctx.flushBatch) flush();
    ctx.onOutcome?.(result);
  };

  let inflightClips = 0;
  let wake: () => void = () => undefined;
  const settledSignal = (): Promise<void> => new Promise((resolve) => (wake = resolve));
  const running = new Set<Promise<void>>();

  const destination = campaignDestination(manifest, () => current, ctx);

  async function fetchOne(camera: string, start: number): Promise<ClipResult | 'aborted'> {
    const slot = { vehicle: claim.vehicle, camera, slot: slotIso(start) };
    const earlier = remembered.get(`${camera} ${start}`);
    const reuse = earlier && Date.now() - earlier.requestedAtMs < ctx.requestReuseMs ? earlier.filename : undefined;
    try {
      const outcome = await ctx.clips.fetch({ vehicle: claim.vehicle, camera, start }, destination, {
        signal,
        ...(reuse ? { knownFilename: reuse } : {}),
        onRequested: (filename, requestedAtMs) => {
          report.clipRequests++;
          pendingRequests.push({ camera, start, filename, requestedAtMs });
        },
      });
      if (outcome.kind === 'missing') report.clipRequests++; // the 404 that settled it
      log.debug(`clip ${outcome.kind}`, { ...slot, ...(outcome.kind === 'ok' ? { bytes: outcome.bytes } : {}) });
      return outcome;
    } catch (err) {
      if (signal.aborted) return 'aborted';
      if (isShardFatal(err)) throw err;
      if (!(err instanceof FleetclipError)) throw err;
      log.warn(`clip failed: ${err.message}`, { ...slot, ...(err.context.status ? { status: err.context.status } : {}) });
      return { kind: 'failed', error: err.message };
    }
  }

  /** One slot of the hour, every camera still without a final outcome; the planner hears data/missing for the slot. */
  async function probeSlot(index: number): Promise<void> {
    const slotNo = slotNos[index]!;
    const start = claim.hourStart + slotNo * SLOT_SECONDS;
    const outcomes = await Promise.all(
      camerasAt(slotNo).map(async (camera): Promise<'data' | 'missing' | 'aborted'> => {
        const before = settled.get(`${camera} ${start}`);
        if (before) return before.outcome === 'ok' ? 'data' : 'missing';
        inflightClips++;
        ctx.window.started(1);
        const clipStarted = Date.now();
        try {
          const o = await fetchOne(camera, start);
          if (o !== 'aborted' && o.kind !== 'failed') report.hedges += o.hedges;
          if (o === 'aborted') return 'aborted';
          const base = { vehicle: claim.vehicle, camera, start, atMs: Date.now() };
          if (o.kind === 'ok')
            record({
              ...base,
              outcome: 'ok',
              ...(o.bucket !== undefined && { bucket: o.bucket }),
              bytes: o.bytes,
              sha256: o.sha256,
              bag: o.bag,
              attempts: o.attempts,
            });
          else if (o.kind === 'missing') record({ ...base, outcome: 'missing', attempts: o.attempts });
          else if (o.kind === 'invalid') record({ ...base, outcome: 'invalid', attempts: o.attempts, error: o.reason });
          else record({ ...base, outcome: 'failed', attempts: 1, error: o.error });
          return o.kind === 'missing' ? 'missing' : 'data'; // invalid or failed: something is there, never skip past it
        } catch (err) {
          failWith(err);
          return 'aborted';
        } finally {
          inflightClips--;
          ctx.window.finished(Date.now() - clipStarted, Date.now());
        }
      }),
    );
    if (!outcomes.includes('aborted')) planner.report(index, outcomes.includes('data') ? 'data' : 'missing');
  }

  const stopping = Promise.race([abortOf(ctx.graceful), abortOf(signal)]);
  try {
    let exhausted = false;
    while (!planner.done && fatal === undefined && !ctx.graceful.aborted && !signal.aborted) {
      if (!exhausted && planner.exhausted) {
        exhausted = true;
        ctx.onExhausted?.();
      }
      if (!ctx.window.hasRoomFor(cameras.length)) {
        await Promise.race([ctx.window.nextRoom(), stopping]); // room opens when any clip of the worker ends, or the window grows
        continue;
      }
      const index = planner.next();
      if (index === undefined) {
        if (running.size === 0) break; // nothing in flight and nothing to decide: the planner is done
        await Promise.race([settledSignal(), stopping]);
        continue;
      }
      try {
        await ctx.workspace.check(inflightClips);
      } catch (err) {
        failWith(err);
        break;
      }
      const p = probeSlot(index).finally(() => {
        running.delete(p);
        wake();
      });
      running.add(p);
    }
    await Promise.all(running);
  } finally {
    clearInterval(flushTimer);
    clearInterval(heartbeat);
  }
  flush();

  report.durationMs = Date.now() - startedMs;
  if (fatal instanceof LeaseLostError) {
    report.state = 'lost';
    report.note = fatal.message;
    log.warn(`shard ${claim.shardId} abandoned: ${fatal.message}`, where);
    throw fatal;
  }
  const stopReason = fatal !== undefined ? releaseReasonOf(fatal) : signal.aborted || ctx.graceful.aborted ? 'signal' : undefined;
  if (stopReason || !planner.done) {
    report.state = 'released';
    report.note = stopReason ?? 'stopped';
    manifest.releaseShard(current, report.note);
    log.info(`shard ${claim.shardId} released (${report.note}), progress kept`, { ...where, ok: report.ok, missing: report.missing });
    if (fatal) throw fatal;
    return report;
  }

  // Slots the strategy settled without asking: recorded as missing with 0 attempts, so the shard is complete.
  const skipped: SlotResult[] = [];
  for (const index of planner.skipped()) {
    const slotNo = slotNos[index]!;
    const start = claim.hourStart + slotNo * SLOT_SECONDS;
    for (const camera of camerasAt(slotNo))
      if (!settled.has(`${camera} ${start}`))
        skipped.push({
          vehicle: claim.vehicle,
          camera,
          start,
          outcome: 'missing',
          attempts: 0,
          error: `not requested (${report.strategy})`,
          atMs: Date.now(),
        });
  }
  report.skipped = skipped.length + scannedEmpty.length;
  manifest.recordSlots(current, skipped);

  // an invalid clip is data the API has and we do not: the shard stays resubmittable, like one with a failed clip
  if (report.failed + report.invalid > 0) {
    report.state = 'failed';
    report.note = `${unsettledClips(report)}; see the log of ${claim.workerId}`;
    manifest.failShard(current, report.note);
  } else {
    manifest.completeShard(current);
  }
  return report;
}

function unsettledClips(r: ShardReport): string {
  const parts = [];
  if (r.failed > 0) parts.push(`${r.failed} clip(s) failed after retries`);
  if (r.invalid > 0) parts.push(`${r.invalid} clip(s) still invalid (tiny or corrupt) after every re-request`);
  return parts.join(', ');
}

function abortOf(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
}
