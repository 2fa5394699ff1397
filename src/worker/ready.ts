import { ClipNotReadyError, type ErrorContext } from '../errors.js';
import type { ApiLog, BatchApiClient, ReadyClip } from '../api/index.js';
import { hedgeAfterMs, type HedgePolicy, type ReadinessHistogram } from './readiness.js';

export interface HedgeLimits {
  /** hedge requests of one slot, at most */
  maxHedgesPerSlot: number;
  /**
   * hedge requests, at most this share of the clip requests: of this worker's own (plus `HEDGE_BURST`), or of the
   * whole campaign's when the worker knows them (a short-lived worker would otherwise run out of hedges)
   */
  hedgeShare: number;
  /** rounds of fresh requests after every job of a slot timed out, before the slot fails */
  freshRequests: number;
}

/** Hedges allowed before any share is earned: the first jobs that never finish are not left to the ceiling. */
const HEDGE_BURST = 2;
/** A job whose hedge is not due yet (or not known yet: too few jobs seen) is looked at again this often. */
const HEDGE_RECHECK_MS = 5_000;

/**
 * This worker's clip requests and hedges, and the other workers' (from the manifest, each heartbeat): hedges stay a
 * small share of the requests. Counted per worker only, a worker that lives for a shard or two (an array task near
 * its time limit, one of many) had a handful of hedges, and a job that never finished then held its shard until the
 * 600 s ceiling; the campaign's share is the one that matters for the API.
 */
export class HedgeLedger {
  requests = 0;
  hedges = 0;
  private others = { requests: 0, hedges: 0 };

  constructor(private readonly share: number) {}

  /** the whole campaign's totals, this worker's own included (as last reported) */
  campaignTotals(totals: { clipRequests: number; hedges: number }, ownReported: { clipRequests: number; hedges: number }): void {
    this.others = {
      requests: Math.max(0, totals.clipRequests - ownReported.clipRequests),
      hedges: Math.max(0, totals.hedges - ownReported.hedges),
    };
  }

  mayHedge(): boolean {
    const ownShare = this.hedges + 1 <= Math.max(HEDGE_BURST, this.share * this.requests);
    const campaignShare = this.others.hedges + this.hedges + 1 <= this.share * (this.others.requests + this.requests);
    return ownShare || campaignShare;
  }
}

export interface ReadyWaitContext {
  api: BatchApiClient;
  log: ApiLog;
  readiness: ReadinessHistogram;
  policy: HedgePolicy;
  ledger: HedgeLedger;
  limits: HedgeLimits;
}

interface Job {
  requestedAtMs: number;
  controller: AbortController;
}
type JobEnd = { job: Job; ready: ReadyClip } | { job: Job; error: unknown };

export interface SlotRequest {
  vehicle: string;
  camera: string;
  start: number;
  context: ErrorContext;
  signal?: AbortSignal;
  /** told about each clip request that started a job */
  onRequested?: (filename: string, requestedAtMs: number) => void;
}

/**
 * The first readiness check of a new job: at what this campaign's quickest quarter of jobs take, once enough were
 * seen (a check before that is almost always a wasted request of the budget); the API client's own floor otherwise.
 */
function firstPollMs(ctx: ReadyWaitContext): number | undefined {
  return ctx.readiness.total >= ctx.policy.minSamples ? ctx.readiness.quantileMs(0.25) : undefined;
}

/**
 * Requests a slot's clip and waits until a job of it is ready. A job still not ready well past what this campaign's
 * jobs take (`hedgeAfterMs`: 3 x the observed p90, within a floor and the ceiling) is hedged: the slot is requested
 * again while the old job is still polled, and whichever is ready first wins (the vendor starts a new job under a new
 * name for the same content). When every job of a round times out at the ceiling, the slot is requested afresh, at
 * most `freshRequests` times, before `ClipNotReadyError`. `missing` when the API has no video for the slot.
 */
export async function awaitReadyJob(slot: SlotRequest, ctx: ReadyWaitContext): Promise<{ ready: ReadyClip; hedges: number } | 'missing'> {
  let hedges = 0;
  for (let round = 0; ; round++) {
    const jobs = new Map<Job, Promise<JobEnd>>();
    const request = async (): Promise<'started' | 'missing'> => {
      const requested = await ctx.api.requestClip(slot.vehicle, slot.camera, slot.start, {
        context: slot.context,
        ...(slot.signal && { signal: slot.signal }),
      });
      ctx.ledger.requests++;
      if (requested.kind === 'missing') return 'missing';
      const requestedAtMs = Date.now();
      slot.onRequested?.(requested.filename, requestedAtMs);
      const controller = new AbortController();
      const signal = slot.signal ? AbortSignal.any([slot.signal, controller.signal]) : controller.signal;
      const job: Job = { requestedAtMs, controller };
      const ended = ctx.api
        .waitUntilReady(requested.filename, { context: slot.context, signal, justRequested: true, firstPollMs: firstPollMs(ctx) })
        .then(
          (ready): JobEnd => ({ job, ready }),
          (error: unknown): JobEnd => ({ job, error }),
        );
      jobs.set(job, ended);
      return 'started';
    };
    if ((await request()) === 'missing') return 'missing';

    let lastError: unknown;
    let hedgeTimer: NodeJS.Timeout | undefined;
    let deniedUntilMs = 0;
    try {
      while (jobs.size > 0) {
        const newest = Math.max(...[...jobs.keys()].map((j) => j.requestedAtMs));
        const hedgeAfter = hedgeAfterMs(ctx.readiness, ctx.policy);
        const hedgeAtMs = Math.max(newest + hedgeAfter, deniedUntilMs);
        // at the ceiling a job is given up anyway (the fresh request of the next round is the hedge then); but what the
        // campaign knows grows while a job waits: a wait not due yet is looked at again after a while
        const mayHedge = hedges < ctx.limits.maxHedgesPerSlot;
        const dueInMs = hedgeAfter < ctx.policy.ceilingMs ? Math.max(0, hedgeAtMs - Date.now()) : Infinity;
        const hedgeDue = mayHedge
          ? new Promise<'hedge' | 'recheck'>(
              (resolve) =>
                (hedgeTimer = setTimeout(
                  () => resolve(dueInMs <= HEDGE_RECHECK_MS ? 'hedge' : 'recheck'),
                  Math.min(dueInMs, HEDGE_RECHECK_MS),
                )),
            )
          : new Promise<never>(() => undefined);
        const next = await Promise.race([...jobs.values(), hedgeDue]);
        clearTimeout(hedgeTimer);
        if (next === 'recheck') continue;
        if (next === 'hedge') {
          if (!ctx.ledger.mayHedge()) {
            deniedUntilMs = Date.now() + hedgeAfterMs(ctx.readiness, ctx.policy); // over the share: wait on, ask again later
            continue;
          }
          hedges++;
          ctx.ledger.hedges++;
          ctx.log.info(`clip not ready after ${Math.round((Date.now() - newest) / 1000)} s: hedging with a second request`, slot.context);
          await request().catch((err: unknown) =>
            ctx.log.warn(`hedge request failed (${(err as Error).message}); the first job is still polled`, slot.context),
          );
          continue;
        }
        jobs.delete(next.job);
        if ('ready' in next) {
          ctx.readiness.observe(Date.now() - next.job.requestedAtMs);
          return { ready: next.ready, hedges };
        }
        if (!(next.error instanceof ClipNotReadyError)) throw next.error;
        lastError = next.error;
      }
    } finally {
      clearTimeout(hedgeTimer);
      for (const [job, ended] of jobs) {
        job.controller.abort(new Error('another job of this clip won'));
        void ended.then((end) => 'ready' in end && end.ready.release());
      }
    }
    if (round >= ctx.limits.freshRequests) throw lastError;
    ctx.log.info(`no job of this clip became ready (${(lastError as Error).message}): requesting it afresh`, slot.context);
  }
}
