import { readFileSync } from 'node:fs';
import path from 'node:path';
import Bottleneck from 'bottleneck';
import { AuthExpiredError, EXIT, LeaseLostError, StorageError } from '../errors.js';
import { createBatchApiClient, normalizeApiLimits, openTokenSource, tokenFileWarning, type ApiLimits } from '../api/index.js';
import { fileModesOf } from '../file-modes.js';
import { openWorkerManifest, type Claim } from '../manifest/index.js';
import { campaignApiBase } from '../plan/grammar.js';
import { type CampaignSettings, MAX_CLIP_BYTES_FACTOR } from '../plan/types.js';
import { WorkspaceGuard, slotIso } from '../storage/index.js';
import { campaignBudget } from './budget.js';
import { createClipFetcher, normalizeClipOptions, type ClipOptions } from './clip.js';
import { hasTimeForShard, typicalShardMs } from './deadline.js';
import { createWorkerLogger, workerLogPath } from './logger.js';
import { normalizeWorkerOptions, type WorkerOptionsInput } from './options.js';
import { ProgressReporter, RateMeter } from './progress.js';
import { READINESS_MAX_COUNT, ReadinessHistogram } from './readiness.js';
import { shardSlots } from './selection.js';
import { runShard, type ShardReport } from './shard.js';
import { StopController } from './signals.js';
import { TokenKeeper } from './token-keeper.js';
import { ClipWindow } from './window.js';

/** What a worker tells a supervising `fleetclip run` over its IPC channel (when it has one). */
export type WorkerMessage = { type: 'claim'; claim: Claim } | { type: 'end'; shardId: number };

export interface WorkerRunInput extends WorkerOptionsInput {
  /** API client limits beyond the campaign settings (the CLI passes --auth-grace, --max-clip-bytes) */
  apiLimits?: Partial<ApiLimits>;
  /** clip pipeline limits (the CLI passes --min-clip-bytes) */
  clipOptions?: Partial<ClipOptions>;
}

export interface WorkerRunResult {
  exitCode: number;
  /** one line for the user: why the worker ended */
  summary: string;
  shards: ShardReport[];
  peakRssBytes: number;
  /**
   * How much of its share of the campaign's budget the worker used while it had slots to start: requests per second
   * from its first request until every slot of its last shards was under way (the tail after that, the last clips
   * finishing, is left out: nothing was left to ask for). Undefined when it sent no request.
   */
  budget?: { requestsPerSec: number; sharePerSec: number; use: number };
}

/** the campaign's recent rate, for the typical shard duration: the same 10 minutes `status` shows as clips/min */
const RECENT_RATE_WINDOW_MS = 10 * 60_000;

/**
 * `fleetclip work`: claims shards one after the other until none is left, a signal arrives, the token expires, the
 * workspace is full, or the Slurm time limit is too near for another shard. Never throws for those: the exit code and
 * summary say what happened (docs/exit-codes.md).
 */
export async function runWorker(
  input: WorkerRunInput,
  io: { stderr: { write(text: string): unknown; isTTY?: boolean } },
  deps: { env?: NodeJS.ProcessEnv; stop?: StopController } = {},
): Promise<WorkerRunResult> {
  const env = deps.env ?? process.env;
  const options = normalizeWorkerOptions(input);
  const workerId = options.identity.workerId;
  // a bad --min-clip-bytes or --auth-grace is refused before anything is written
  normalizeApiLimits(input.apiLimits);
  normalizeClipOptions(input.clipOptions);
  const manifest = openWorkerManifest(options.manifestPath);
  const settings = manifest.settings();
  let apiBase: string;
  try {
    apiBase = campaignApiBase(settings, options.manifestPath); // refused before anything is written (a log, a receipt)
  } catch (err) {
    manifest.close();
    throw err;
  }
  // the CLI's worker listens to the process's signals; a caller in-process may bring its own controller
  const stop = deps.stop ?? new StopController(options.graceMs).install();
  const outDir = manifest.outDir();
  const strategy = options.onMiss ?? settings.onMiss;
  const maxConcurrent = options.maxConcurrent ?? settings.maxConcurrent;
  const minTimeMs = options.minTimeMs ?? settings.minTimeMs;
  const runDir = path.dirname(options.manifestPath);
  let reporter: ProgressReporter | undefined;
  const stderr = { write: (t: string) => (reporter?.clear(), io.stderr.write(t)) };
  const fileModes = fileModesOf(settings);
  const { log, close } = createWorkerLogger({
    logFile: workerLogPath(runDir, workerId),
    modes: fileModes,
    level: options.logLevel,
    stderr,
    workerId,
  });
  // a campaign with a token source renews its token file itself, one worker at a time (token-keeper.ts)
  const keeper =
    settings.tokenSource &&
    new TokenKeeper({
      source: settings.tokenSource,
      tokenFile: settings.tokenFile,
      ledger: manifest,
      holder: workerId,
      manifestPath: options.manifestPath,
      log,
    });

  const shards: ShardReport[] = [];
  const ownShardMs: number[] = [];
  const meter = new RateMeter();
  const startedMs = Date.now();
  /** the shards this worker runs now (several at once: a new one starts while the last clips of the others finish) */
  const active = new Map<number, { claim: Claim; done: number; total: number; exhausted: boolean }>();
  let totalDone = 0;
  let totalOk = 0;
  reporter = new ProgressReporter(io.stderr, options.progress, options.progressIntervalMs, () => {
    if (active.size === 0) return undefined;
    const running = [...active.values()];
    return {
      done: running.reduce((n, a) => n + a.done, 0),
      total: running.reduce((n, a) => n + a.total, 0),
      ok: totalOk,
      rate: meter.perSecond(Date.now(), startedMs),
      note: `shard ${running.map((a) => `${a.claim.shardId} ${a.claim.vehicle} ${slotIso(a.claim.hourStart)}`).join(', ')}; ${shards.length} shard(s) and ${totalDone} slots done`,
    };
  });
  const send = (m: WorkerMessage): void => {
    if (process.send) process.send(m);
  };

  /** requests sent while slots were left to start, and over how long (see WorkerRunResult.budget) */
  const busy = { requests: 0, fromMs: 0, toMs: 0, requestsBusy: 0, sharePerSec: 0 };
  const end = async (exitCode: number, summary: string): Promise<WorkerRunResult> => {
    reporter?.stop();
    const peakRssBytes = ownPeakRssBytes();
    const level = exitCode === EXIT.ok ? 'info' : 'warn';
    const seconds = ((busy.toMs || Date.now()) - busy.fromMs) / 1000;
    const requests = busy.toMs ? busy.requestsBusy : busy.requests;
    const budget =
      requests > 0 && seconds > 0
        ? { requestsPerSec: requests / seconds, sharePerSec: busy.sharePerSec, use: requests / seconds / busy.sharePerSec }
        : undefined;
    log.log(level, summary, {
      exitCode,
      shards: shards.length,
      peakRssMb: Math.round(peakRssBytes / 2 ** 20),
      ...(budget && { budgetUse: Math.round(budget.use * 100) / 100 }),
    });
    await keeper?.stop();
    await close();
    manifest.close();
    return { exitCode, summary, shards, peakRssBytes, ...(budget && { budget }) };
  };

  let activityTimer: NodeJS.Timeout | undefined;
  try {
    const deadlineMs = options.deadlineMs;
    const workspace = new WorkspaceGuard({
      outDir,
      workspaceCapBytes: settings.workspaceCapBytes,
      minFreeBytes: options.minFreeBytes,
      clipBytesEstimate: settings.clipBytesEstimate,
    });
    const window = new ClipWindow({ cap: maxConcurrent });
    const token = openTokenSource({ tokenFile: settings.tokenFile, env, ...(keeper && { renewer: keeper }) });
    const tokenWarning = await tokenFileWarning(token);
    if (tokenWarning) log.warn(tokenWarning);
    const api = createBatchApiClient({
      apiBase,
      token,
      // requests wait here only for their response headers: as many may be out as clips may be in flight
      limiter: new Bottleneck({ maxConcurrent, minTime: minTimeMs }),
      // the window hears of every request (requests per clip) and every 429 (it shrinks)
      budget: campaignBudget(manifest, workerId, Math.max(1, Math.ceil(settings.apiRatePerSec * options.allowanceSeconds)), {
        requested: () => {
          window.countRequest();
          if (busy.requests++ === 0) busy.fromMs = Date.now();
        },
        rateLimited: () => window.throttled(Date.now()),
        struggled: () => window.struggled(),
      }),
      log,
      ...transferLimitsOf(settings),
      ...input.apiLimits,
    });
    const readiness = new ReadinessHistogram(manifest.readinessCounts());
    // a shard's typical size, for the deadline: every slot of an hour, or a sample campaign's few
    const planned = manifest.progress();
    const slotsPerShard = planned.slots.total / Math.max(1, planned.shards.total);
    const fullShardSlots = shardSlots({ cameras: settings.cameras }).count;
    const clips = createClipFetcher(api, input.clipOptions, log, readiness);
    // this worker's share of the budget: the campaign's rate over the workers running (by their shards, which
    // overcounts a worker running several: it then asks for a little less than its share)
    const shareBudget = (): void => {
      busy.sharePerSec = manifest.requestRate() / Math.max(1, manifest.runningShardCount() - active.size + 1);
      window.share(busy.sharePerSec, Date.now());
    };
    // what it does and observed, every heartbeat: for status, and for the next worker to start informed
    const reportActivity = (): void => {
      const report = { inflight: window.inFlight, window: window.size, clipRequests: clips.ledger.requests, hedges: clips.ledger.hedges };
      log.debug('activity', { ...report, target: window.target(), sharePerSec: busy.sharePerSec, requests: busy.requests });
      const totals = manifest.reportActivity(workerId, { ...report, readiness: readiness.takeNew(), fadeAbove: READINESS_MAX_COUNT });
      clips.ledger.campaignTotals(totals, report);
      readiness.replace(manifest.readinessCounts());
      shareBudget();
    };
    activityTimer = setInterval(() => {
      try {
        reportActivity();
      } catch (err) {
        log.warn(`could not report activity to the manifest: ${(err as Error).message}`);
      }
    }, options.heartbeatMs);
    log.info(`worker started on ${path.basename(options.manifestPath)}`, {
      strategy: strategy.kind,
      maxConcurrent,
      minTimeMs,
      ...(deadlineMs !== undefined ? { deadline: new Date(deadlineMs).toISOString() } : {}),
    });
    if (keeper) {
      keeper.start();
      try {
        await keeper.ensureToken(stop.graceful.signal);
      } catch (err) {
        clearInterval(activityTimer);
        if (err instanceof AuthExpiredError) return await end(err.exitCode, err.message);
        if (stop.stopping) return await end(EXIT.interrupted, `stopped by ${stop.signal} while waiting for a token; nothing claimed`);
        throw err;
      }
    }
    reporter.start();
    shareBudget();

    /** Why no more shards are claimed: a stop, the deadline, storage, auth; undefined while claiming goes on. */
    let refusal: { exitCode: number; summary: string } | undefined;
    let noWorkLeft = false;
    let crash: unknown;
    const runs = new Set<Promise<void>>();
    let changed = false;
    let wakeLoop: (() => void) | undefined;
    const wake = (): void => {
      changed = true;
      wakeLoop?.();
    };
    stop.graceful.signal.addEventListener('abort', wake, { once: true });

    /** Nothing stands against claiming another shard, or the reason that does. */
    const claimRefusal = async (): Promise<{ exitCode: number; summary: string } | undefined> => {
      if (stop.stopping) return { exitCode: EXIT.interrupted, summary: `stopped by ${stop.signal}; nothing left in progress` };
      const nowMs = Date.now();
      const recent = manifest.recentOutcomeCount(nowMs - RECENT_RATE_WINDOW_MS);
      const shardMs = typicalShardMs({
        ownShardMs,
        recentSlots: recent.slots,
        // the rate is over the evidence's real age: a campaign seconds old has no 10 minutes of outcomes to divide by
        windowMs: Math.min(RECENT_RATE_WINDOW_MS, nowMs - (recent.fromMs ?? nowMs)),
        runningShards: manifest.runningShardCount(),
        slotsPerShard,
      });
      if (!hasTimeForShard(nowMs, deadlineMs, shardMs, options.deadlineMarginMs))
        return {
          exitCode: EXIT.interrupted,
          summary: `time limit near (${new Date(deadlineMs!).toISOString()}): not claiming a shard that typically takes ${Math.round((shardMs ?? 0) / 1000)} s`,
        };
      workspace.measured(manifest.workspaceBytes());
      try {
        await workspace.check(window.inFlight);
      } catch (err) {
        if (err instanceof StorageError) return { exitCode: err.exitCode, summary: err.message };
        throw err;
      }
      return undefined;
    };

    const runOne = async (claim: Claim): Promise<void> => {
      const entry = { claim, done: 0, total: shardSlots(claim).count, exhausted: false };
      active.set(claim.shardId, entry);
      const shardStarted = Date.now();
      try {
        const report = await runShard(claim, {
          manifest,
          clips,
          log,
          strategy,
          outDir,
          fileModes,
          bucketCapBytes: settings.bucketCapBytes,
          window,
          workspace,
          graceful: stop.graceful.signal,
          hard: stop.hard.signal,
          heartbeatMs: options.heartbeatMs,
          leaseMs: options.leaseMs,
          flushIntervalMs: options.flushIntervalMs,
          flushBatch: options.flushBatch,
          requestReuseMs: options.requestReuseMs,
          onOutcome: (r) => {
            entry.done++;
            if (r.outcome === 'ok') totalOk++;
            totalDone++;
            meter.add(1, Date.now());
          },
          onExhausted: () => {
            entry.exhausted = true;
            wake();
          },
        });
        shards.push(report);
        if (report.state !== 'released') ownShardMs.push(Date.now() - shardStarted);
        const { ok, missing, invalid, failed, skipped, resumed, clipRequests, hedges, bytes, durationMs } = report;
        log.info(`shard ${claim.shardId} ${report.state}`, {
          shardId: claim.shardId,
          vehicle: claim.vehicle,
          slot: slotIso(claim.hourStart),
          ok,
          missing,
          invalid,
          failed,
          skipped,
          resumed,
          clipRequests,
          hedges,
          strategy: report.strategy,
          bytes,
          seconds: Math.round(durationMs / 100) / 10,
        });
      } catch (err) {
        if (err instanceof LeaseLostError) log.warn(err.message, { shardId: claim.shardId });
        else if (err instanceof AuthExpiredError || err instanceof StorageError)
          refusal ??= { exitCode: err.exitCode, summary: `${err.message}; shard ${claim.shardId} released` };
        else crash ??= err;
      } finally {
        send({ type: 'end', shardId: claim.shardId });
        active.delete(claim.shardId);
        wake();
      }
    };

    for (;;) {
      if (crash !== undefined) break;
      // another shard starts beside the running ones only once each of them has every slot under way and the
      // window has room: the last clips of one shard no longer leave the budget idle. At most maxShards shards'
      // worth of slots run at once, so a sample campaign's shards of a slot or two run many at a time
      const activeSlots = [...active.values()].reduce((n, a) => n + a.total, 0);
      const room =
        active.size === 0 ||
        (activeSlots < options.maxShards * fullShardSlots &&
          [...active.values()].every((a) => a.exhausted) &&
          window.hasRoomFor(settings.cameras.length));
      if (refusal === undefined && !noWorkLeft && room) {
        refusal = await claimRefusal();
        if (refusal === undefined) {
          const claim = manifest.claimNextShard(options.identity, { leaseMs: options.leaseMs });
          if (claim) {
            send({ type: 'claim', claim });
            log.info(`shard ${claim.shardId} claimed`, {
              shardId: claim.shardId,
              vehicle: claim.vehicle,
              slot: slotIso(claim.hourStart),
              attempt: claim.attempt,
            });
            const run = runOne(claim).finally(() => runs.delete(run));
            runs.add(run);
            shareBudget();
            continue;
          }
          noWorkLeft = true;
        }
      }
      if (active.size === 0) break;
      if ((noWorkLeft || refusal !== undefined) && busy.toMs === 0 && [...active.values()].every((a) => a.exhausted)) {
        busy.toMs = Date.now();
        busy.requestsBusy = busy.requests;
      }
      if (!changed) await new Promise<void>((resolve) => (wakeLoop = resolve));
      changed = false;
    }
    await Promise.all(runs);
    clearInterval(activityTimer);
    if (crash !== undefined) throw crash;
    reportActivity();
    if (refusal !== undefined) return await end(refusal.exitCode, refusal.summary);
    const failed = shards.filter((s) => s.state === 'failed').length;
    return await end(failed > 0 ? EXIT.someFailed : EXIT.ok, `no work left; ${shards.length} shard(s) processed, ${failed} failed`);
  } catch (err) {
    clearInterval(activityTimer);
    reporter.stop();
    await keeper?.stop();
    await close();
    manifest.close();
    throw err;
  } finally {
    if (!deps.stop) stop.uninstall();
  }
}

/** What the campaign says of one clip's transfer: its expected size, the largest body accepted, the slowest rate. */
function transferLimitsOf(settings: CampaignSettings): Partial<ApiLimits> {
  return {
    expectedClipBytes: settings.clipBytesEstimate,
    maxClipBytes: settings.maxClipBytes ?? MAX_CLIP_BYTES_FACTOR * settings.clipBytesEstimate,
    ...(settings.minDownloadBytesPerSec !== undefined && { minDownloadBytesPerSec: settings.minDownloadBytesPerSec }),
  };
}

/**
 * This process's own peak resident memory. Linux's getrusage keeps, across exec, the peak of the process image it
 * replaced, so a worker started by a 300 MB parent (a test runner, a bench) would report 300 MB; /proc's VmHWM starts
 * afresh at exec. Elsewhere getrusage is all there is.
 */
function ownPeakRssBytes(): number {
  try {
    const m = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m) return Number(m[1]) * 1024;
  } catch {
    // no /proc: not Linux
  }
  return process.resourceUsage().maxRSS * 1024;
}
