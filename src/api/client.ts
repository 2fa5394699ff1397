import path from 'node:path';
import Bottleneck from 'bottleneck';
import type { Got } from 'got';
import { ApiHttpError, ApiProtocolError, ClipNotReadyError, type ErrorContext } from '../errors.js';
import type { BagSummary } from '../storage/index.js';
import { SLOT_SECONDS } from '../plan/types.js';
import {
  assertOnSlotGrid,
  checkClipFile,
  clipFileName,
  fsyncFile,
  moveIntoPlace,
  newPartialPath,
  partialDirOf,
  removeQuietly,
  slotIso,
} from '../storage/index.js';
import { AuthKeeper } from './auth.js';
import { ApiTransport, createHttp, discard, errorBodyOf, networkCode, type OpenResponse, readSmallBody } from './http.js';
import { type ApiLog, SILENT_LOG } from './log.js';
import { type ApiLimits, normalizeApiBase, normalizeApiLimits } from './options.js';
import { bodySnippet, presignedForLog } from './redact.js';
import { backoffDelayMs } from './retry-delay.js';
import { classifyDownloadBody, downloadTarget, mayBeUrlBody, parseVideoBody } from './shapes.js';
import type { TokenSource } from './token.js';
import { PresignRefused, TransferBudget, checkCompleteness, fetchPresigned, promisedTotal, writeBody } from './transfer.js';
import { PauseGate, sleep } from './wait.js';

export interface BatchApiClientOptions extends Partial<ApiLimits> {
  /** e.g. https://batch.example.com; its path prefixes `/v1/` */
  apiBase: string;
  token: TokenSource;
  /** paces every /v1/ request; made from maxConcurrent/minTimeMs when absent */
  limiter?: Bottleneck;
  /** awaited before each /v1/ request, inside the limiter (a campaign-wide budget plugs in here) */
  acquireRequest?: (signal?: AbortSignal) => Promise<void>;
  /** told about every 429 pause, so other clients can hold too (see `pauseRequests`) */
  onRateLimited?: (ms: number) => void;
  log?: ApiLog;
}

export interface CallControl {
  signal?: AbortSignal;
  /** vehicle/camera/slot, carried into errors */
  context?: ErrorContext;
}

export type RequestOutcome = { kind: 'requested'; filename: string } | { kind: 'missing' };

export interface PlaceInfo {
  vehicle: string;
  camera: string;
  /** slot start, epoch seconds */
  start: number;
  /** our final file name, `<vehicle>_<camera>_<YYYYMMDDTHHMMSSZ>_30s.bag` */
  fileName: string;
  bytes: number;
  sha256: string;
  bag: BagSummary;
}

export interface SlotRequest {
  vehicle: string;
  camera: string;
  /** slot start, epoch seconds, on the 30 s grid */
  start: number;
  /** output root: the default place is `<outDir>/<fileName>`, temporaries go to `<outDir>/.partial/` */
  outDir: string;
  /** a clip requested earlier (a resumed slot): polled and downloaded, not requested again */
  knownFilename?: string;
  /** called after each successful /v1/video request, before any waiting */
  onRequested?: (filename: string, requestedAtMs: number) => void | Promise<void>;
  /** moves the complete, fsynced, validated temporary to its final path and returns that path */
  place?: (tmpPath: string, info: PlaceInfo) => Promise<string>;
  signal?: AbortSignal;
}

/** `attempts` counts clip cuts fetched: 1, plus one per re-request after an invalid clip. */
export type SlotFetchOutcome =
  | { kind: 'ok'; path: string; bytes: number; sha256: string; bag: BagSummary; attempts: number }
  | { kind: 'missing'; attempts: number }
  | { kind: 'invalid'; reason: string; attempts: number };

export interface BatchApiClient {
  readonly apiBase: string;
  readonly limits: Readonly<ApiLimits>;
  requestClip(vehicle: string, camera: string, start: number, control?: CallControl): Promise<RequestOutcome>;
  waitUntilReady(filename: string, control?: CallControl): Promise<void>;
  /** Downloads a ready clip into `tmpPath` (complete, length-checked, not yet fsynced); returns its size. */
  downloadClip(filename: string, tmpPath: string, control?: CallControl): Promise<number>;
  /** request → wait → download → validate → place: the one path `fetch` and the worker share. */
  fetchSlot(request: SlotRequest): Promise<SlotFetchOutcome>;
  /** holds this client's /v1/ requests for `ms` (a 429 seen by another client of the same campaign) */
  pauseRequests(ms: number): void;
}

const NOT_READY = new Set([404, 500, 502, 503, 504]);
const REDIRECTS = new Set([301, 302, 303, 307, 308]);

type DownloadSource =
  | { kind: 'url'; url: URL }
  | { kind: 'bytes'; res: OpenResponse; body: AsyncIterable<Buffer> }
  | { kind: 'not-ready'; status: number };

export function createBatchApiClient(options: BatchApiClientOptions): BatchApiClient {
  const { apiBase, token, limiter, acquireRequest, onRateLimited, log = SILENT_LOG, ...limitInput } = options;
  const base = normalizeApiBase(apiBase);
  const limits = normalizeApiLimits(limitInput);
  const auth = new AuthKeeper(token, limits, log);
  const transport = new ApiTransport({
    base,
    limits,
    token,
    auth,
    limiter: limiter ?? new Bottleneck({ maxConcurrent: limits.maxConcurrent, minTime: limits.minTimeMs }),
    gate: new PauseGate(),
    log,
    ...(acquireRequest ? { acquireRequest } : {}),
    ...(onRateLimited ? { onRateLimited } : {}),
  });
  // presigned URLs are fetched by a client that has no token to send, whatever the host
  const presignedHttp: Got = createHttp(limits, true);
  const validations = new Bottleneck({ maxConcurrent: limits.validateConcurrent });
  let headRefused = false;
  const secrets = async (): Promise<string[]> => [(await token.current()).value];

  async function requestClip(vehicle: string, camera: string, start: number, control: CallControl = {}): Promise<RequestOutcome> {
    assertOnSlotGrid(start);
    const context = control.context ?? { vehicle, camera, slot: slotIso(start) };
    const url = transport.endpoint('video', {
      vehicle,
      camera,
      startTime: String(start),
      endTime: String(start + SLOT_SECONDS),
    });
    const res = await transport.call('GET', url, context, { retryServerErrors: true, ...signalOf(control) });
    if (res.status === 404) {
      discard(res);
      return { kind: 'missing' };
    }
    const body = await readSmallBody(res, limits.maxUrlBodyBytes);
    if (res.status !== 200)
      throw new ApiHttpError(`clip request refused: "${bodySnippet(body, await secrets())}"`, { ...context, status: res.status });
    return { kind: 'requested', filename: parseVideoBody(res.headers['content-type'], body, context, await secrets()) };
  }

  /** Polls until the clip is ready. When a GET had to stand in for HEAD, its open response is handed on. */
  async function awaitReady(filename: string, control: CallControl, maxWaitMs = limits.readyMaxWaitMs): Promise<OpenResponse | undefined> {
    const context = control.context ?? {};
    const url = transport.endpoint('download', { filename });
    const startedMs = Date.now();
    const authWaitAtStart = auth.waitedMs;
    for (let poll = 1; ; poll++) {
      let method: 'GET' | 'HEAD' = headRefused ? 'GET' : 'HEAD';
      let res = await transport.call(method, url, context, { retryServerErrors: false, ...signalOf(control) });
      if (res.status === 405 && method === 'HEAD') {
        discard(res);
        headRefused = true; // a server that refuses HEAD once is polled with GET from then on
        method = 'GET';
        res = await transport.call(method, url, context, { retryServerErrors: false, ...signalOf(control) });
      }
      if (res.status >= 200 && res.status < 400) {
        if (method === 'GET') return res;
        discard(res);
        return undefined;
      }
      if (!NOT_READY.has(res.status)) {
        const body = await errorBodyOf(res);
        throw new ApiHttpError(`readiness check refused: "${bodySnippet(body, await secrets())}"`, { ...context, status: res.status });
      }
      discard(res);
      const waitedMs = Date.now() - startedMs - (auth.waitedMs - authWaitAtStart);
      if (waitedMs >= maxWaitMs)
        throw new ClipNotReadyError(`clip not ready after ${Math.round(waitedMs / 1000)} s (last HTTP ${res.status})`, context);
      const next = backoffDelayMs(poll, { backoffBaseMs: limits.readyFirstPollMs, backoffCapMs: limits.readyPollCapMs, jitter: limits.jitter });
      await sleep(Math.min(next, maxWaitMs - waitedMs), control.signal);
    }
  }

  /** Reads what a /v1/download GET answered: where the clip is, or the clip itself. */
  async function sourceOf(res: OpenResponse, context: ErrorContext): Promise<DownloadSource> {
    if (REDIRECTS.has(res.status)) {
      discard(res);
      const location = res.headers.location;
      if (!location) throw new ApiProtocolError(`download redirect (HTTP ${res.status}) without a Location`, context);
      return { kind: 'url', url: downloadTarget(location, res.url, context) };
    }
    if (NOT_READY.has(res.status)) {
      discard(res);
      return { kind: 'not-ready', status: res.status };
    }
    if (res.status !== 200) {
      const body = await errorBodyOf(res);
      throw new ApiHttpError(`download refused: "${bodySnippet(body, await secrets())}"`, { ...context, status: res.status });
    }
    const { head, ended, body } = await peekBody(res, limits.maxUrlBodyBytes);
    if (ended) {
      const shape = classifyDownloadBody(res.headers['content-type'], head, res.url, context, await secrets());
      return shape.kind === 'url' ? { kind: 'url', url: shape.url } : { kind: 'bytes', res, body };
    }
    if (/^(application\/json|text\/)/i.test(res.headers['content-type'] ?? ''))
      throw new ApiProtocolError(`download answer is ${res.headers['content-type']} but longer than ${limits.maxUrlBodyBytes} bytes`, context);
    return { kind: 'bytes', res, body };
  }

  async function download(filename: string, tmpPath: string, control: CallControl, opened?: OpenResponse): Promise<number> {
    const context = control.context ?? {};
    const url = transport.endpoint('download', { filename });
    const budget = new TransferBudget(limits, context, log);
    let renewals = 0;
    for (let pending = opened; ; pending = undefined) {
      const res = pending ?? (await transport.call('GET', url, context, { retryServerErrors: true, ...signalOf(control) }));
      let source: DownloadSource;
      try {
        source = await sourceOf(res, context);
      } catch (err) {
        const code = networkCode(err);
        if (code === undefined || control.signal?.aborted) throw control.signal?.aborted ? control.signal.reason : err;
        await budget.fail(`${code} while reading the download answer`, control.signal);
        continue;
      }
      if (source.kind === 'not-ready') {
        await budget.fail(`download answered HTTP ${source.status}`, control.signal);
        continue;
      }
      if (source.kind === 'bytes') {
        const written = await writeBody(source.body, tmpPath, false, control.signal);
        const problem = checkCompleteness(written.size, promisedTotal(source.res), written.failed);
        if (!problem) return written.size;
        await budget.fail(problem, control.signal);
        continue;
      }
      try {
        return await fetchPresigned(presignedHttp, source.url, tmpPath, budget, context, control.signal);
      } catch (err) {
        if (!(err instanceof PresignRefused)) throw err;
        if (++renewals > limits.presignRenewals)
          throw new ApiHttpError(`presigned URL refused ${renewals} times (${presignedForLog(source.url)})`, { ...context, status: err.status });
        log.info(`presigned URL refused (HTTP ${err.status}): asking for a new one`, context);
      }
    }
  }

  /** A clip an earlier attempt requested: ready (checked at once, it probably is), or undefined when the server seems to have forgotten it. */
  async function rememberedClip(filename: string, control: CallControl): Promise<{ filename: string; opened: OpenResponse | undefined } | undefined> {
    try {
      return { filename, opened: await awaitReady(filename, control, limits.rememberedReadyMaxWaitMs) };
    } catch (err) {
      if (!(err instanceof ClipNotReadyError)) throw err;
      log.info(`a clip requested earlier is still not ready (${err.message}): requesting it again`, control.context);
      return undefined;
    }
  }

  async function fetchSlot(req: SlotRequest): Promise<SlotFetchOutcome> {
    const { vehicle, camera, start, outDir, signal } = req;
    const fileName = clipFileName(vehicle, camera, start); // refuses a name that could leave the folder
    const control: CallControl = { context: { vehicle, camera, slot: slotIso(start) }, ...(signal ? { signal } : {}) };
    const place = req.place ?? ((tmp: string) => moveIntoPlace(tmp, path.join(outDir, fileName)));
    let remembered = req.knownFilename;
    for (let attempt = 1; ; attempt++) {
      let ready = remembered === undefined ? undefined : await rememberedClip(remembered, control);
      remembered = undefined;
      if (ready === undefined) {
        const requested = await requestClip(vehicle, camera, start, control);
        if (requested.kind === 'missing') return { kind: 'missing', attempts: attempt };
        await req.onRequested?.(requested.filename, Date.now());
        // a clip just cut is never ready at once (processing takes ~0.3-2.5 s): checking right away only spends
        // a request of the rate budget
        await sleep(limits.readyFirstPollMs, signal);
        ready = { filename: requested.filename, opened: await awaitReady(requested.filename, control) };
      }
      const { filename, opened } = ready;
      let tmpPath: string | undefined;
      try {
        tmpPath = await newPartialPath(partialDirOf(outDir), fileName);
        await download(filename, tmpPath, control, opened);
        await fsyncFile(tmpPath);
        const clip = tmpPath;
        const check = await validations.schedule(() => checkClipFile(clip, { minBytes: limits.minClipBytes }));
        if (check.ok) {
          const info: PlaceInfo = { vehicle, camera, start, fileName, bytes: check.bytes, sha256: check.sha256, bag: check.bag };
          const finalPath = await place(tmpPath, info);
          return { kind: 'ok', path: finalPath, bytes: check.bytes, sha256: check.sha256, bag: check.bag, attempts: attempt };
        }
        log.warn(`invalid clip (${check.reason})${attempt <= limits.invalidRetries ? ': requesting it again' : ''}`, control.context);
        if (attempt > limits.invalidRetries) return { kind: 'invalid', reason: check.reason, attempts: attempt };
      } finally {
        if (opened && !opened.body.destroyed) discard(opened);
        if (tmpPath) await removeQuietly(tmpPath);
      }
    }
  }

  return {
    apiBase: base.href,
    limits: Object.freeze(limits),
    requestClip,
    async waitUntilReady(filename, control = {}) {
      const opened = await awaitReady(filename, control);
      if (opened) discard(opened);
    },
    downloadClip: (filename, tmpPath, control = {}) => download(filename, tmpPath, control),
    fetchSlot,
    pauseRequests: (ms) => transport.pause(ms),
  };
}

function signalOf(control: CallControl): { signal?: AbortSignal } {
  return control.signal ? { signal: control.signal } : {};
}

/**
 * Reads the start of a 200 body while it may still be a URL or JSON (at most `max` bytes), and gives
 * back the whole body as one stream (head included) for the case it turns out to be the clip itself.
 */
async function peekBody(res: OpenResponse, max: number): Promise<{ head: Buffer; ended: boolean; body: AsyncIterable<Buffer> }> {
  const it = res.body[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  let head = Buffer.alloc(0);
  let ended = false;
  for (;;) {
    const next = await it.next();
    if (next.done) {
      ended = true;
      break;
    }
    head = Buffer.concat([head, next.value]);
    if (head.length > max || !mayBeUrlBody(head)) break;
  }
  const first = head;
  async function* whole(): AsyncGenerator<Buffer> {
    if (first.length > 0) yield first;
    for (let next = await it.next(); !next.done; next = await it.next()) yield next.value;
  }
  return { head, ended, body: whole() };
}
