import { readFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import Bottleneck from 'bottleneck';
import { AuthExpiredError, EXIT, LeaseLostError, StorageError } from '../errors.js';
import { createBatchApiClient, normalizeApiLimits, openTokenSource, type ApiLimits, type RequestBudget } from '../api/index.js';
import { openWorkerManifest, type Claim, type WorkerManifest } from '../manifest/index.js';
import { SHARD_SECONDS, SLOT_SECONDS } from '../plan/types.js';
import { WorkspaceGuard, slotIso } from '../storage/index.js';
import { createClipFetcher, normalizeClipOptions, type ClipOptions } from './clip.js';
import { hasTimeForShard, typicalShardMs } from './deadline.js';
import { createWorkerLogger, workerLogPath } from './logger.js';
import { normalizeWorkerOptions, type WorkerOptionsInput } from './options.js';
import { ProgressReporter, RateMeter } from './progress.js';
import { runShard, type ShardReport } from './shard.js';
import { StopController } from './signals.js';

/** What a worker tells a supervising `fleetclip run` over its IPC channel (when it has one). */
export type WorkerMessage = { type: 'claim'; claim: Claim } | { type: 'end'; shardId: number };

export interface WorkerRunInput extends WorkerOptionsInput {
  /** API client limits beyond the campaign settings (the CLI passes --auth-grace) */
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
}

/** the campaign's recent rate, for the typical shard duration: the same 10 minutes `status` shows as clips/min */
const RECENT_RATE_WINDOW_MS = 10 * 60_000;

/** Requests drawn from the campaign-wide budget in the manifest, a few seconds' worth per short transaction. */
function campaignBudget(manifest: WorkerManifest, workerId: string, batch: number): RequestBudget {
  let tokens = 0;
  return {
    async acquire(signal) {
      while (tokens <= 0) {
        tokens += manifest.drawRequestAllowance(workerId, batch);
        if (tokens <= 0) await delay(100 + Math.random() * 150, undefined, signal ? { signal } : {});
      }
      tokens--;
    },
    rateLimited: () => manifest.report429(),
  };
}

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
  // the CLI's worker listens to the process's signals; a caller in-process may bring its own controller
  const stop = deps.stop ?? new StopController(options.graceMs).install();
  const manifest = openWorkerManifest(options.manifestPath);
  const settings = manifest.settings();
  const outDir = manifest.outDir();
  const strategy = options.onMiss ?? settings.onMiss;
  const maxConcurrent = options.maxConcurrent ?? settings.maxConcurrent;
  const minTimeMs = options.minTimeMs ?? settings.minTimeMs;
  const runDir = path.dirname(options.manifestPath);
  let reporter: ProgressReporter | undefined;
  const stderr = { write: (t: string) => (reporter?.clear(), io.stderr.write(t)) };
  const { log, close } = createWorkerLogger({ logFile: workerLogPath(runDir, workerId), level: options.logLevel, stderr, workerId });

  const shards: ShardReport[] = [];
  const ownShardMs: number[] = [];
  const meter = new RateMeter();
  const startedMs = Date.now();
  let live: { claim: Claim; done: number; total: number } | undefined;
  let totalDone = 0;
  let totalOk = 0;
  reporter = new ProgressReporter(io.stderr, options.progress, options.progressIntervalMs, () =>
    live
      ? {
          done: live.done,
          total: live.total,
          ok: totalOk,
          rate: meter.perSecond(Date.now(), startedMs),
          note: `shard ${live.claim.shardId} ${live.claim.vehicle} ${slotIso(live.claim.hourStart)}; ${shards.length} shard(s) and ${totalDone} slots done`,
        }
      : undefined,
  );
  const send = (m: WorkerMessage): void => {
    if (process.send) process.send(m);
  };

  const end = async (exitCode: number, summary: string): Promise<WorkerRunResult> => {
    reporter?.stop();
    const peakRssBytes = ownPeakRssBytes();
    const level = exitCode === EXIT.ok ? 'info' : 'warn';
    log.log(level, summary, { exitCode, shards: shards.length, peakRssMb: Math.round(peakRssBytes / 2 ** 20) });
    await close();
    manifest.close();
    return { exitCode, summary, shards, peakRssBytes };
  };

  try {
    const deadlineMs = options.deadlineMs;
    const workspace = new WorkspaceGuard({
      outDir,
      workspaceCapBytes: settings.workspaceCapBytes,
      minFreeBytes: options.minFreeBytes,
      clipBytesEstimate: settings.clipBytesEstimate,
    });
    const api = createBatchApiClient({
      apiBase: settings.apiBase,
      token: openTokenSource({ tokenFile: settings.tokenFile, env }),
      limiter: new Bottleneck({ maxConcurrent, minTime: minTimeMs }),
      budget: campaignBudget(manifest, workerId, Math.max(1, Math.ceil((1000 / Math.max(minTimeMs, 1)) * options.allowanceSeconds))),
      log,
      ...input.apiLimits,
    });
    const clips = createClipFetcher(api, input.clipOptions, log);
    log.info(`worker started on ${path.basename(options.manifestPath)}`, {
      strategy: strategy.kind,
      maxConcurrent,
      minTimeMs,
      ...(deadlineMs !== undefined ? { deadline: new Date(deadlineMs).toISOString() } : {}),
    });
    reporter.start();

    for (;;) {
      if (stop.stopping) return await end(EXIT.interrupted, `stopped by ${stop.signal}; nothing left in progress`);
      const shardMs = typicalShardMs({
        ownShardMs,
        recentSlots: manifest.recentOutcomeCount(Date.now() - RECENT_RATE_WINDOW_MS),
        windowMs: RECENT_RATE_WINDOW_MS,
        runningShards: manifest.runningShardCount(),
        slotsPerShard: settings.cameras.length * (SHARD_SECONDS / SLOT_SECONDS),
      });
      if (!hasTimeForShard(Date.now(), deadlineMs, shardMs, options.deadlineMarginMs)) {
        return await end(
          EXIT.interrupted,
          `time limit near (${new Date(deadlineMs!).toISOString()}): not claiming a shard that typically takes ${Math.round((shardMs ?? 0) / 1000)} s`,
        );
      }
      workspace.measured(manifest.workspaceBytes());
      try {
        await workspace.check(0);
      } catch (err) {
        if (err instanceof StorageError) return await end(err.exitCode, err.message);
        throw err;
      }
      const claim = manifest.claimNextShard(options.identity, { leaseMs: options.leaseMs });
      if (!claim) {
        const failed = shards.filter((s) => s.state === 'failed').length;
        return await end(failed > 0 ? EXIT.someFailed : EXIT.ok, `no work left; ${shards.length} shard(s) processed, ${failed} failed`);
      }
      send({ type: 'claim', claim });
      log.info(`shard ${claim.shardId} claimed`, {
        shardId: claim.shardId,
        vehicle: claim.vehicle,
        slot: slotIso(claim.hourStart),
        attempt: claim.attempt,
      });
      live = { claim, done: 0, total: claim.cameras.length * (SHARD_SECONDS / SLOT_SECONDS) };
      const shardStarted = Date.now();
      try {
        const report = await runShard(claim, {
          manifest,
          clips,
          log,
          strategy,
          outDir,
          bucketCapBytes: settings.bucketCapBytes,
          maxConcurrent,
          workspace,
          graceful: stop.graceful.signal,
          hard: stop.hard.signal,
          heartbeatMs: options.heartbeatMs,
          leaseMs: options.leaseMs,
          flushIntervalMs: options.flushIntervalMs,
          flushBatch: options.flushBatch,
          requestReuseMs: options.requestReuseMs,
          onOutcome: (r) => {
            live!.done++;
            if (r.outcome === 'ok') totalOk++;
            totalDone++;
            meter.add(1, Date.now());
          },
        });
        shards.push(report);
        if (report.state !== 'released') ownShardMs.push(Date.now() - shardStarted);
        const { ok, missing, invalid, failed, skipped, resumed, clipRequests, bytes, durationMs } = report;
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
          strategy: report.strategy,
          bytes,
          seconds: Math.round(durationMs / 100) / 10,
        });
      } catch (err) {
        if (err instanceof LeaseLostError) {
          log.warn(err.message, { shardId: claim.shardId });
          continue;
        }
        if (err instanceof AuthExpiredError || err instanceof StorageError)
          return await end(err.exitCode, `${err.message}; shard ${claim.shardId} released`);
        throw err;
      } finally {
        send({ type: 'end', shardId: claim.shardId });
        live = undefined;
      }
    }
  } catch (err) {
    reporter.stop();
    await close();
    manifest.close();
    throw err;
  } finally {
    if (!deps.stop) stop.uninstall();
  }
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
