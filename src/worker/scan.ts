import os from 'node:os';
import Bottleneck from 'bottleneck';
import { type BatchApiClient, type RequestBudget, type TokenSource, createBatchApiClient, openTokenSource } from '../api/index.js';
import { AuthExpiredError, FleetclipError, InterruptedError, UsageError } from '../errors.js';
import { openScanManifest, type ScanManifest, type SlotAvailability } from '../manifest/index.js';
import { campaignApiBase } from '../plan/grammar.js';
import { SLOT_SECONDS, type MissStrategy, type ShardSpec } from '../plan/types.js';
import { onStopSignals } from '../signals.js';
import { campaignBudget } from './budget.js';
import { SlotPlanner, type ProbeResult } from './on-miss.js';
import type { ProgressMode } from './options.js';
import { ProgressReporter, RateMeter } from './progress.js';
import { shardSlots } from './selection.js';
import { TokenKeeper } from './token-keeper.js';

/**
 * What is known of one camera's slot after a scan:
 * - `data`: the API answered 200 (it has the clip, and cut it: a processing job started), or it was known already
 *   (downloaded, or an earlier scan of the campaign said so);
 * - `none`: the API answered 404, or it was known;
 * - `skipped`: not asked: the `--on-miss` strategy inferred it from its neighbours that there is no data;
 * - `unknown`: the request failed after the client's retries.
 */
export type ScanState = 'data' | 'none' | 'skipped' | 'unknown';

export interface ScannedSlot {
  vehicle: string;
  camera: string;
  /** slot start, UTC epoch seconds */
  start: number;
  state: ScanState;
  /** this scan asked the API (false: known before, or skipped) */
  asked: boolean;
}

/** One shard's slots as the scan left them, in time order (cameras of one slot by name). */
export interface ShardScan {
  vehicle: string;
  hourStart: number;
  slots: ScannedSlot[];
}

/** What a scan cost and could not tell. */
export interface ScanTotals {
  /** `/v1/video` requests sent, retries of 5xx, 429 and network errors included */
  requests: number;
  /** of the slots asked, those the API answered 200: each started a processing job on the vendor's side */
  jobs: number;
  /** slots whose request failed after retries */
  unknown: number;
  /** the first such failure, for the user */
  firstError?: string;
}

/** Where a scan's slots come from: `plan`'s window flags, or a campaign in a manifest (whose answers it records). */
export type ScanTarget =
  | { kind: 'window'; apiBase: string; tokenFile: string; apiRatePerSec: number; timeZone: string; shards: readonly ShardSpec[] }
  | { kind: 'manifest'; manifestPath: string };

export interface ScanRunInput {
  target: ScanTarget;
  strategy: MissStrategy;
  /** requests in flight at once */
  concurrency: number;
  progress: ProgressMode;
  progressIntervalMs: number;
  /** each shard as scanned, in the shards' time order: a summary is built from them as they come, never from all at once */
  onShard(scan: ShardScan): void;
}

export interface ScanRunResult extends ScanTotals {
  /** the campaign's or the window's, for showing times */
  timeZone: string;
}

/** Shards scanned at once: a strategy that waits on an answer (gallop in a gap) leaves room for another shard's requests. */
const SHARDS_AT_ONCE = 4;
/** each draw from a campaign's budget asks for this many seconds' worth of requests (as a worker's) */
const ALLOWANCE_SECONDS = 2;

type Ask = 'data' | 'none' | 'unknown' | 'aborted';

/**
 * `fleetclip scan`: asks `/v1/video` whether each slot has data, without downloading anything, at most `concurrency`
 * requests at once within the rate budget: its own `apiRatePerSec` for a window, the campaign's (shared with its
 * workers, through the manifest) for a manifest, whose answers it records (slot_availability) and whose known slots
 * (downloaded, or answered by an earlier scan) it does not ask again — so an interrupted scan continues where it
 * stopped. A slot whose request fails after retries is `unknown` and the scan goes on; an expired token or a stop
 * signal ends it (what was answered is recorded first).
 */
export async function runScan(
  input: ScanRunInput,
  io: { stderr: { write(text: string): unknown; isTTY?: boolean } },
  deps: { env?: NodeJS.ProcessEnv } = {},
): Promise<ScanRunResult> {
  const env = deps.env ?? process.env;
  if (!(input.progressIntervalMs > 0))
    throw new UsageError(`--progress-interval must be a positive number of seconds, got ${input.progressIntervalMs / 1000}`);
  const manifest = input.target.kind === 'manifest' ? openScanManifest(input.target.manifestPath) : undefined;
  let keeper: TokenKeeper | undefined;
  try {
    const totals: ScanTotals = { requests: 0, jobs: 0, unknown: 0 };
    const connected = connect(input, manifest, env, io, () => totals.requests++);
    const { shards, client, timeZone, token } = connected;
    keeper = connected.keeper;
    const stop = new AbortController();
    const stopListening = onStopSignals((signal) => stop.abort(new InterruptedError(`stopped by ${signal}`)));
    try {
      if (keeper) {
        // the campaign's token source keeps the token file fresh, with (or in turns with) the campaign's workers
        keeper.start();
        await keeper.ensureToken(stop.signal);
      }
      await token.current(); // an unreadable token file is a usage error before any request
    } catch (err) {
      stopListening();
      if (stop.signal.aborted)
        throw new InterruptedError(`${(stop.signal.reason as Error).message} while waiting for a token; nothing asked`);
      throw err;
    }
    const progress = { done: 0, data: 0, total: shards.reduce((n, s) => n + shardSlots(s).count, 0) };
    const meter = new RateMeter();
    const startedMs = Date.now();
    const reporter = new ProgressReporter(io.stderr, input.progress, input.progressIntervalMs, () => ({
      done: progress.done,
      total: progress.total,
      ok: progress.data,
      okLabel: 'with data',
      rate: meter.perSecond(Date.now(), startedMs),
      note: `${totals.requests} requests`,
    }));
    reporter.start();
    try {
      const ask = async (vehicle: string, camera: string, start: number): Promise<Ask> => {
        let answer: Ask;
        try {
          const outcome = await client.requestClip(vehicle, camera, start, { signal: stop.signal });
          if (outcome.kind === 'requested') totals.jobs++;
          answer = outcome.kind === 'requested' ? 'data' : 'none';
        } catch (err) {
          if (stop.signal.aborted) return 'aborted';
          if (err instanceof AuthExpiredError || !(err instanceof FleetclipError)) {
            stop.abort(err);
            return 'aborted';
          }
          totals.unknown++;
          totals.firstError ??= `${err.message} [${vehicle} ${camera} ${new Date(start * 1000).toISOString()}]`;
          answer = 'unknown';
        }
        progress.done++;
        meter.add(1, Date.now());
        return answer;
      };
      const known = manifest ? knownOf(manifest) : () => new Map<string, boolean>();
      await inOrder(
        shards,
        SHARDS_AT_ONCE,
        stop.signal,
        async (shard) => {
          const scan = await scanShard(shard, { strategy: input.strategy, concurrency: input.concurrency, known: known(shard), ask, stop });
          if (manifest && shard.id !== undefined) manifest.recordAvailability(shard.id, answersOf(scan));
          progress.done += scan.slots.filter((s) => !s.asked).length;
          progress.data += scan.slots.filter((s) => s.state === 'data').length;
          return scan;
        },
        input.onShard,
      );
    } finally {
      reporter.stop();
      stopListening();
    }
    if (stop.signal.aborted) {
      const reason: unknown = stop.signal.reason;
      if (reason instanceof InterruptedError)
        throw new InterruptedError(
          `${reason.message}; ${manifest ? 'what was answered is recorded in the manifest: scan again to go on' : 'nothing is recorded'}`,
        );
      throw reason;
    }
    return { ...totals, timeZone };
  } finally {
    await keeper?.stop();
    manifest?.close();
  }
}

type ScanShardSpec = ShardSpec & { id?: number };

/** The shards to scan in time order, the client that asks (paced), and the time zone to show times in. */
function connect(
  input: ScanRunInput,
  manifest: ScanManifest | undefined,
  env: NodeJS.ProcessEnv,
  io: { stderr: { write(text: string): unknown } },
  counted: () => void,
): { shards: ScanShardSpec[]; client: BatchApiClient; timeZone: string; token: TokenSource; keeper?: TokenKeeper } {
  const { target, concurrency } = input;
  if (target.kind === 'window') {
    const token = openTokenSource({ tokenFile: target.tokenFile, env });
    // no campaign to share a budget with: the limiter alone paces the requests at the scan's rate
    const counting: RequestBudget = { acquire: async () => counted(), rateLimited: () => undefined, struggled: () => undefined };
    const limiter = new Bottleneck({ maxConcurrent: concurrency, minTime: 1000 / target.apiRatePerSec });
    const client = createBatchApiClient({ apiBase: target.apiBase, token, limiter, budget: counting });
    return { shards: inTimeOrder(target.shards), client, timeZone: target.timeZone, token };
  }
  const settings = manifest!.settings();
  const scanId = `scan-${os.hostname()}-${process.pid}`;
  // a failed renewal is said as it happens; a refusal is not: the scan ends with it, and says it then
  const warn = (message: string) => message !== keeper?.failure?.message && io.stderr.write(`fleetclip scan: ${message}\n`);
  const keeper: TokenKeeper | undefined =
    settings.tokenSource &&
    new TokenKeeper({
      source: settings.tokenSource,
      tokenFile: settings.tokenFile,
      ledger: manifest!,
      holder: scanId,
      manifestPath: manifest!.path,
      log: { info() {}, debug() {}, warn },
    });
  const token = openTokenSource({ tokenFile: settings.tokenFile, env, ...(keeper && { renewer: keeper }) });
  // the campaign's budget, shared with its workers; the campaign's floor between two requests of one client
  const budget = campaignBudget(manifest!, scanId, Math.max(1, Math.ceil(settings.apiRatePerSec * ALLOWANCE_SECONDS)), {
    requested: counted,
    rateLimited: () => undefined,
    struggled: () => undefined,
  });
  const limiter = new Bottleneck({ maxConcurrent: concurrency, minTime: settings.minTimeMs });
  // the campaign's base as its workers take it: plain http beyond loopback only if the campaign opted in
  const client = createBatchApiClient({ apiBase: campaignApiBase(settings, manifest!.path), token, limiter, budget });
  return { shards: inTimeOrder(manifest!.plannedShards()), client, timeZone: settings.timeZone, token, ...(keeper && { keeper }) };
}

/** By hour, then vehicle: each vehicle's slots come in time order, so runs of data can be followed shard after shard. */
function inTimeOrder<T extends ShardSpec>(shards: readonly T[]): T[] {
  return [...shards].sort((a, b) => a.hourStart - b.hourStart || a.vehicle.localeCompare(b.vehicle));
}

/**
 * What a manifest knows of a shard's slots, by `<camera> <start>`: a download's outcome first (ok, invalid: the API
 * served the clip; missing after a request: it had none), then a scan's answer. A failed slot tells nothing (its request
 * may have failed before the API said anything), nor does a missing one without a request (only inferred): both are asked.
 */
function knownOf(manifest: ScanManifest): (shard: ScanShardSpec) => Map<string, boolean> {
  return (shard) => {
    const known = new Map<string, boolean>();
    if (shard.id === undefined) return known;
    for (const a of manifest.slotAvailability(shard.id)) known.set(`${a.camera} ${a.start}`, a.available);
    for (const r of manifest.slotResults(shard.id)) {
      if (r.outcome === 'ok' || r.outcome === 'invalid') known.set(`${r.camera} ${r.start}`, true);
      else if (r.outcome === 'missing' && r.attempts > 0) known.set(`${r.camera} ${r.start}`, false);
    }
    return known;
  };
}

/** The answers this scan got from the API, as the manifest records them. */
function answersOf(scan: ShardScan): SlotAvailability[] {
  const checkedMs = Date.now();
  return scan.slots.flatMap((s) =>
    s.asked && (s.state === 'data' || s.state === 'none')
      ? [{ camera: s.camera, start: s.start, available: s.state === 'data', checkedMs }]
      : [],
  );
}

interface ShardScanContext {
  strategy: MissStrategy;
  concurrency: number;
  /** by `<camera> <start>`: true for data, false for none; such slots are not asked */
  known: ReadonlyMap<string, boolean>;
  /** asks the API for one camera's slot; never throws */
  ask(vehicle: string, camera: string, start: number): Promise<Ask>;
  stop: AbortController;
}

/**
 * One shard's slots: the worker's missing-data planner decides which slot to ask next (a slot is asked for every
 * camera at once and is data when any camera has it, as a worker judges it), up to `concurrency` requests at once.
 * A sample shard's scattered slots are asked one and all. Stopped, it returns what was answered so far.
 */
async function scanShard(shard: ScanShardSpec, ctx: ShardScanContext): Promise<ShardScan> {
  const { slotNos, camerasAt } = shardSlots(shard);
  const strategy: MissStrategy = shard.slots ? { kind: 'probe-all' } : ctx.strategy;
  const keyOf = (camera: string, start: number): string => `${camera} ${start}`;
  const startOf = (slotNo: number): number => shard.hourStart + slotNo * SLOT_SECONDS;
  const knownSlots = new Map<number, ProbeResult>();
  slotNos.forEach((slotNo, i) => {
    const known = camerasAt(slotNo).map((camera) => ctx.known.get(keyOf(camera, startOf(slotNo))));
    if (known.every((k) => k !== undefined)) knownSlots.set(i, known.includes(true) ? 'data' : 'missing');
  });
  const planner = new SlotPlanner(strategy, slotNos.length, {
    maxInflight: Math.max(1, Math.ceil(ctx.concurrency / shard.cameras.length)),
    known: knownSlots,
  });
  const asked = new Map<string, ScanState>();

  const probe = async (index: number): Promise<void> => {
    const slotNo = slotNos[index]!;
    const start = startOf(slotNo);
    const found = await Promise.all(
      camerasAt(slotNo).map(async (camera): Promise<Ask> => {
        const known = ctx.known.get(keyOf(camera, start));
        if (known !== undefined) return known ? 'data' : 'none';
        const answer = await ctx.ask(shard.vehicle, camera, start);
        if (answer !== 'aborted') asked.set(keyOf(camera, start), answer);
        return answer;
      }),
    );
    // a slot that failed may hold data: never skip past it
    if (!found.includes('aborted')) planner.report(index, found.some((f) => f === 'data' || f === 'unknown') ? 'data' : 'missing');
  };

  let inflight = 0;
  let wake: () => void = () => undefined;
  const settled = (): Promise<void> => new Promise((resolve) => (wake = resolve));
  while (!ctx.stop.signal.aborted) {
    const index = planner.next();
    if (index === undefined) {
      if (inflight === 0) break;
      await settled();
      continue;
    }
    inflight++;
    void probe(index).finally(() => {
      inflight--;
      wake();
    });
  }
  while (inflight > 0) await settled();

  const skipped = new Set(planner.skipped().map((i) => slotNos[i]!));
  const slots: ScannedSlot[] = [];
  for (const slotNo of slotNos) {
    for (const camera of camerasAt(slotNo)) {
      const start = startOf(slotNo);
      const known = ctx.known.get(keyOf(camera, start));
      const state = asked.get(keyOf(camera, start));
      if (state !== undefined) slots.push({ vehicle: shard.vehicle, camera, start, state: state as ScanState, asked: true });
      else if (known !== undefined) slots.push({ vehicle: shard.vehicle, camera, start, state: known ? 'data' : 'none', asked: false });
      else if (skipped.has(slotNo)) slots.push({ vehicle: shard.vehicle, camera, start, state: 'skipped', asked: false });
    }
  }
  return { vehicle: shard.vehicle, hourStart: shard.hourStart, slots };
}

/**
 * Runs `work` over `items`, `atOnce` at a time, and hands the results to `emit` in the items' order (a result waits
 * for those before it). Stops taking items once `signal` is aborted or a `work` rejected; that rejection is thrown
 * once the items in progress settle.
 */
async function inOrder<T, R>(
  items: readonly T[],
  atOnce: number,
  signal: AbortSignal,
  work: (item: T) => Promise<R>,
  emit: (result: R) => void,
): Promise<void> {
  const done = new Map<number, R>();
  let next = 0;
  let emitted = 0;
  let failed = false;
  const lane = async (): Promise<void> => {
    while (next < items.length && !signal.aborted && !failed) {
      const index = next++;
      try {
        done.set(index, await work(items[index]!));
      } catch (err) {
        failed = true; // no new item: a shard that cannot be recorded must not be paid for with more requests
        throw err;
      }
      for (; done.has(emitted); emitted++) {
        emit(done.get(emitted)!);
        done.delete(emitted);
      }
    }
  };
  const lanes = await Promise.allSettled(Array.from({ length: atOnce }, lane));
  const rejected = lanes.find((l): l is PromiseRejectedResult => l.status === 'rejected');
  if (rejected) throw rejected.reason;
}
