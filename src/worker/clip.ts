import path from 'node:path';
import Bottleneck from 'bottleneck';
import { ClipNotReadyError, UsageError, type ErrorContext } from '../errors.js';
import { type FileModes, OWNER_ONLY } from '../file-modes.js';
import type { ApiLog, BatchApiClient, ReadyClip } from '../api/index.js';
import {
  checkClipFile,
  clipFileName,
  fsyncFile,
  moveIntoPlace,
  newPartialPath,
  partialDirOf,
  removeQuietly,
  slotIso,
  type BagSummary,
} from '../storage/index.js';
import { HEDGE_DEFAULTS, ReadinessHistogram } from './readiness.js';
import { awaitReadyJob, HedgeLedger, type ReadyWaitContext } from './ready.js';

/** The limits of the clip pipeline beyond HTTP. docs/worker.md explains each; help texts quote these values. */
export interface ClipOptions {
  /** a clip smaller than this is invalid (the notebook's 1 MB rule) */
  minClipBytes: number;
  /** an invalid clip (tiny, corrupt) is requested again this many times before it counts as `invalid` */
  invalidRetries: number;
  /**
   * clips validated at once: a bag check reads the whole clip through the reader's chunk buffers, on one core, so
   * more at once buys little time and costs tens of MB of resident memory (docs/performance.md)
   */
  validateConcurrent: number;
  /**
   * clips streaming to disk at once: the window keeps many clips in flight, but nearly all of them wait on the API's
   * processing; a few streams fill a core's bandwidth, and each open one holds socket buffers (docs/performance.md)
   */
  downloadConcurrent: number;
  /** a clip an earlier attempt requested (`knownFilename`) and still not ready after this is requested afresh: the server may have forgotten it */
  rememberedReadyMaxWaitMs: number;
  /** a job still not ready after this many times the campaign's observed p90 readiness time is hedged (requested again) */
  hedgeFactor: number;
  /** … but never sooner than this after its request (a few quick jobs do not make a tail) */
  hedgeFloorMs: number;
  /** observations of how long jobs take before the p90 is trusted (until then jobs are waited out to the ceiling) */
  hedgeMinSamples: number;
  /** hedge requests per slot, at most */
  maxHedgesPerSlot: number;
  /** hedge requests of a worker, at most this share of its clip requests */
  hedgeShare: number;
  /** fresh requests of a slot after every job of it timed out (`readyMaxWaitMs`), before the slot fails */
  freshRequests: number;
}

export const CLIP_DEFAULTS: Readonly<ClipOptions> = Object.freeze({
  minClipBytes: 1_000_000,
  invalidRetries: 4,
  validateConcurrent: 1,
  downloadConcurrent: 6,
  rememberedReadyMaxWaitMs: 60_000,
  hedgeFactor: HEDGE_DEFAULTS.factor,
  hedgeFloorMs: HEDGE_DEFAULTS.floorMs,
  hedgeMinSamples: HEDGE_DEFAULTS.minSamples,
  maxHedgesPerSlot: 2,
  hedgeShare: 0.05,
  freshRequests: 2,
});

export function normalizeClipOptions(input: Partial<ClipOptions> = {}): ClipOptions {
  const o = { ...CLIP_DEFAULTS, ...Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined)) } as ClipOptions;
  for (const key of [
    'minClipBytes',
    'invalidRetries',
    'rememberedReadyMaxWaitMs',
    'hedgeFloorMs',
    'hedgeMinSamples',
    'maxHedgesPerSlot',
    'freshRequests',
  ] as const)
    if (!(Number.isInteger(o[key]) && o[key] >= 0)) throw new UsageError(`${key} must be an integer >= 0, got ${String(o[key])}`);
  if (!(o.hedgeFactor >= 1)) throw new UsageError(`hedgeFactor must be a number >= 1, got ${String(o.hedgeFactor)}`);
  if (!(o.hedgeShare >= 0 && o.hedgeShare <= 1)) throw new UsageError(`hedgeShare must be between 0 and 1, got ${String(o.hedgeShare)}`);
  for (const key of ['validateConcurrent', 'downloadConcurrent'] as const)
    if (!(Number.isInteger(o[key]) && o[key] >= 1)) throw new UsageError(`${key} must be an integer >= 1, got ${String(o[key])}`);
  return o;
}

export interface SlotKey {
  vehicle: string;
  camera: string;
  /** slot start, epoch seconds, on the 30 s grid */
  start: number;
}

/** A downloaded clip that passed validation, in its temporary file. */
export interface ValidClip extends SlotKey {
  /** our final file name, `<vehicle>_<camera>_<YYYYMMDDTHHMMSSZ>_30s.bag` */
  fileName: string;
  bytes: number;
  sha256: string;
  bag: BagSummary;
}

/** Where validated clips go: a plain folder (`fetch`) or a campaign's buckets (a worker, `CampaignDestination`). */
export interface ClipDestination {
  /** the output root; temporaries go to its `.partial/` folder, so the final rename never crosses filesystems */
  readonly outDir: string;
  /** modes of the folders it creates and of the clips (src/file-modes.ts) */
  readonly modes: Readonly<FileModes>;
  /**
   * the room the temporaries take (a campaign's workspace): told before each piece of a download is written how much
   * its temporary grows, and given the bytes back once the temporary is placed or deleted; may refuse growth with a
   * StorageError (QuotaError), which stops the download
   */
  readonly space?: { writing(deltaBytes: number): void | Promise<void> };
  /** moves the complete, fsynced, validated temporary to its final place */
  place(tmpPath: string, clip: ValidClip): Promise<{ path: string; bucket?: number }>;
}

/** `fetch`: clips land directly in `outDir` under their file name, owner-only as a campaign's. */
export function folderDestination(outDir: string): ClipDestination {
  return {
    outDir,
    modes: OWNER_ONLY,
    place: async (tmpPath, clip) => ({ path: await moveIntoPlace(tmpPath, path.join(outDir, clip.fileName), OWNER_ONLY) }),
  };
}

/** `attempts` counts clip cuts fetched: 1, plus one per re-request after an invalid clip; `hedges` the hedge requests. */
export type ClipOutcome =
  | { kind: 'ok'; path: string; bucket?: number; bytes: number; sha256: string; bag: BagSummary; attempts: number; hedges: number }
  | { kind: 'missing'; attempts: number; hedges: number }
  | { kind: 'invalid'; reason: string; attempts: number; hedges: number };

export interface ClipFetchControl {
  signal?: AbortSignal;
  /** a clip an earlier attempt requested (a resumed slot): polled and downloaded, not requested again */
  knownFilename?: string;
  /** told after each successful clip request, before any waiting (the worker remembers the server's name) */
  onRequested?: (filename: string, requestedAtMs: number) => void;
}

export interface ClipFetcher {
  readonly options: Readonly<ClipOptions>;
  /** how long jobs took to become ready, as this fetcher saw them (and as it was seeded) */
  readonly readiness: ReadinessHistogram;
  /** clip requests and hedges so far */
  readonly ledger: Readonly<HedgeLedger>;
  /** request → wait until ready → download → fsync → validate → place: the one path `fetch` and the worker share */
  fetch(slot: SlotKey, destination: ClipDestination, control?: ClipFetchControl): Promise<ClipOutcome>;
}

/**
 * One per process: validations are limited across every clip it fetches, and what it learns of the API's readiness
 * times serves every clip. `readiness` seeds that knowledge (a worker passes the campaign's, from the manifest).
 */
export function createClipFetcher(
  api: BatchApiClient,
  input: Partial<ClipOptions> = {},
  log: ApiLog,
  readiness: ReadinessHistogram = new ReadinessHistogram(),
): ClipFetcher {
  const options = normalizeClipOptions(input);
  const validations = new Bottleneck({ maxConcurrent: options.validateConcurrent });
  const downloads = new Bottleneck({ maxConcurrent: options.downloadConcurrent });
  const ledger = new HedgeLedger(options.hedgeShare);
  const waits: ReadyWaitContext = {
    api,
    log,
    readiness,
    ledger,
    policy: {
      factor: options.hedgeFactor,
      floorMs: options.hedgeFloorMs,
      ceilingMs: api.limits.readyMaxWaitMs,
      minSamples: options.hedgeMinSamples,
    },
    limits: options,
  };

  /** A clip an earlier attempt requested: ready (checked at once, it probably is), or undefined when the server seems to have forgotten it. */
  async function rememberedClip(filename: string, context: ErrorContext, signal: AbortSignal | undefined): Promise<ReadyClip | undefined> {
    try {
      return await api.waitUntilReady(filename, { context, maxWaitMs: options.rememberedReadyMaxWaitMs, ...(signal && { signal }) });
    } catch (err) {
      if (!(err instanceof ClipNotReadyError)) throw err;
      log.info(`a clip requested earlier is still not ready (${err.message}): requesting it again`, context);
      return undefined;
    }
  }

  async function fetch(slot: SlotKey, destination: ClipDestination, control: ClipFetchControl = {}): Promise<ClipOutcome> {
    const { vehicle, camera, start } = slot;
    const { signal } = control;
    const fileName = clipFileName(vehicle, camera, start); // refuses a name that could leave the folder
    const context: ErrorContext = { vehicle, camera, slot: slotIso(start) };
    const call = { context, ...(signal && { signal }) };
    let remembered = control.knownFilename;
    let hedges = 0;
    for (let attempt = 1; ; attempt++) {
      let ready = remembered === undefined ? undefined : await rememberedClip(remembered, context, signal);
      remembered = undefined;
      if (ready === undefined) {
        const job = await awaitReadyJob({ ...slot, ...call, ...(control.onRequested && { onRequested: control.onRequested }) }, waits);
        if (job === 'missing') return { kind: 'missing', attempts: attempt, hedges };
        ready = job.ready;
        hedges += job.hedges;
      }
      let tmpPath: string | undefined;
      let tmpBytes = 0; // what `destination.space` was told the temporary holds
      const space = destination.space;
      const spaceControl = space && {
        reserveSpace: async (bytes: number) => {
          await space.writing(bytes - tmpBytes);
          tmpBytes = bytes;
        },
      };
      try {
        const partial = await newPartialPath(partialDirOf(destination.outDir), fileName, destination.modes);
        tmpPath = partial;
        const clip = ready;
        await downloads.schedule(async () => {
          signal?.throwIfAborted(); // stopped while it waited its turn
          await api.downloadClip(clip, partial, { ...call, ...spaceControl });
        });
        await fsyncFile(tmpPath);
        const check = await validations.schedule(() => checkClipFile(partial, { minBytes: options.minClipBytes }));
        if (check.ok) {
          signal?.throwIfAborted();
          const { bytes, sha256, bag } = check;
          const placed = await destination.place(tmpPath, { vehicle, camera, start, fileName, bytes, sha256, bag });
          return { kind: 'ok', ...placed, bytes, sha256, bag, attempts: attempt, hedges };
        }
        log.warn(`invalid clip (${check.reason})${attempt <= options.invalidRetries ? ': requesting it again' : ''}`, context);
        if (attempt > options.invalidRetries) return { kind: 'invalid', reason: check.reason, attempts: attempt, hedges };
      } finally {
        ready.release();
        if (tmpPath) await removeQuietly(tmpPath);
        await space?.writing(-tmpBytes);
      }
    }
  }

  return { options, readiness, ledger, fetch };
}
