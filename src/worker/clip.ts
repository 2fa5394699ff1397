import path from 'node:path';
import Bottleneck from 'bottleneck';
import { ClipNotReadyError, UsageError, type ErrorContext } from '../errors.js';
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
  /** a clip an earlier attempt requested (`knownFilename`) and still not ready after this is requested afresh: the server may have forgotten it */
  rememberedReadyMaxWaitMs: number;
}

export const CLIP_DEFAULTS: Readonly<ClipOptions> = Object.freeze({
  minClipBytes: 1_000_000,
  invalidRetries: 4,
  validateConcurrent: 1,
  rememberedReadyMaxWaitMs: 60_000,
});

export function normalizeClipOptions(input: Partial<ClipOptions> = {}): ClipOptions {
  const o = { ...CLIP_DEFAULTS, ...Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined)) } as ClipOptions;
  for (const key of ['minClipBytes', 'invalidRetries', 'rememberedReadyMaxWaitMs'] as const)
    if (!(Number.isInteger(o[key]) && o[key] >= 0)) throw new UsageError(`${key} must be an integer >= 0, got ${String(o[key])}`);
  if (!(Number.isInteger(o.validateConcurrent) && o.validateConcurrent >= 1))
    throw new UsageError(`validateConcurrent must be an integer >= 1, got ${String(o.validateConcurrent)}`);
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
  /** moves the complete, fsynced, validated temporary to its final place */
  place(tmpPath: string, clip: ValidClip): Promise<{ path: string; bucket?: number }>;
}

/** `fetch`: clips land directly in `outDir` under their file name. */
export function folderDestination(outDir: string): ClipDestination {
  return { outDir, place: async (tmpPath, clip) => ({ path: await moveIntoPlace(tmpPath, path.join(outDir, clip.fileName)) }) };
}

/** `attempts` counts clip cuts fetched: 1, plus one per re-request after an invalid clip. */
export type ClipOutcome =
  | { kind: 'ok'; path: string; bucket?: number; bytes: number; sha256: string; bag: BagSummary; attempts: number }
  | { kind: 'missing'; attempts: number }
  | { kind: 'invalid'; reason: string; attempts: number };

export interface ClipFetchControl {
  signal?: AbortSignal;
  /** a clip an earlier attempt requested (a resumed slot): polled and downloaded, not requested again */
  knownFilename?: string;
  /** told after each successful clip request, before any waiting (the worker remembers the server's name) */
  onRequested?: (filename: string, requestedAtMs: number) => void;
}

export interface ClipFetcher {
  readonly options: Readonly<ClipOptions>;
  /** request → wait until ready → download → fsync → validate → place: the one path `fetch` and the worker share */
  fetch(slot: SlotKey, destination: ClipDestination, control?: ClipFetchControl): Promise<ClipOutcome>;
}

/** One per process: validations are limited across every clip it fetches. */
export function createClipFetcher(api: BatchApiClient, input: Partial<ClipOptions> = {}, log: ApiLog): ClipFetcher {
  const options = normalizeClipOptions(input);
  const validations = new Bottleneck({ maxConcurrent: options.validateConcurrent });

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
    for (let attempt = 1; ; attempt++) {
      let ready = remembered === undefined ? undefined : await rememberedClip(remembered, context, signal);
      remembered = undefined;
      if (ready === undefined) {
        const requested = await api.requestClip(vehicle, camera, start, call);
        if (requested.kind === 'missing') return { kind: 'missing', attempts: attempt };
        control.onRequested?.(requested.filename, Date.now());
        ready = await api.waitUntilReady(requested.filename, { ...call, justRequested: true });
      }
      let tmpPath: string | undefined;
      try {
        tmpPath = await newPartialPath(partialDirOf(destination.outDir), fileName);
        await api.downloadClip(ready, tmpPath, call);
        await fsyncFile(tmpPath);
        const clip = tmpPath;
        const check = await validations.schedule(() => checkClipFile(clip, { minBytes: options.minClipBytes }));
        if (check.ok) {
          signal?.throwIfAborted();
          const { bytes, sha256, bag } = check;
          const placed = await destination.place(tmpPath, { vehicle, camera, start, fileName, bytes, sha256, bag });
          return { kind: 'ok', ...placed, bytes, sha256, bag, attempts: attempt };
        }
        log.warn(`invalid clip (${check.reason})${attempt <= options.invalidRetries ? ': requesting it again' : ''}`, context);
        if (attempt > options.invalidRetries) return { kind: 'invalid', reason: check.reason, attempts: attempt };
      } finally {
        ready.release();
        if (tmpPath) await removeQuietly(tmpPath);
      }
    }
  }

  return { options, fetch };
}
