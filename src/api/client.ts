import Bottleneck from 'bottleneck';
import type { Got } from 'got';
import { ApiHttpError, ApiProtocolError, ClipNotReadyError, type ErrorContext, FleetclipError } from '../errors.js';
import { SLOT_SECONDS } from '../plan/types.js';
import { assertOnSlotGrid, slotIso } from '../storage/index.js';
import { AuthKeeper } from './auth.js';
import {
  ApiTransport,
  createHttp,
  discard,
  errorBodyOf,
  networkCode,
  type OpenResponse,
  type RequestBudget,
  readSmallBody,
} from './http.js';
import { type ApiLog, SILENT_LOG } from './log.js';
import { type ApiLimits, normalizeApiLimits } from './options.js';
import { bodySnippet, presignedForLog, redactSecrets } from './redact.js';
import { backoffDelayMs } from './retry-delay.js';
import { classifyDownloadBody, downloadTarget, mayBeUrlBody, parseVideoBody } from './shapes.js';
import type { TokenSource } from './token.js';
import { ClipTransfer, PresignRefused, fetchPresigned, tooSlowReason } from './transfer.js';
import { PauseGate, sleep } from './wait.js';

export interface BatchApiClientOptions extends Partial<ApiLimits> {
  /** e.g. https://batch.example.com, as `parseApiBase` (src/plan) leaves it; its path prefixes `/v1/` */
  apiBase: string;
  token: TokenSource;
  /** paces every /v1/ request; made from maxConcurrent/minTimeMs when absent */
  limiter?: Bottleneck;
  /** a budget shared beyond this client: drawn from before each /v1/ request (inside the limiter), told of each 429 */
  budget?: RequestBudget;
  log?: ApiLog;
}

export interface CallControl {
  signal?: AbortSignal;
  /** vehicle/camera/slot, carried into errors */
  context?: ErrorContext;
}

export type RequestOutcome = { kind: 'requested'; filename: string } | { kind: 'missing' };

/**
 * A clip the server says is ready. When a GET had to stand in for HEAD (a server that refuses HEAD), its open answer
 * rides along, so the download does not ask again; `release` drops it when the clip is not downloaded after all.
 */
export interface ReadyClip {
  readonly filename: string;
  release(): void;
}

export interface DownloadControl extends CallControl {
  /**
   * told, before each piece of the body is written, the size the temporary file will then have; a throw (a
   * StorageError: the workspace cap or the free-space floor) stops the download and is what `downloadClip` throws
   */
  reserveSpace?: (tmpBytes: number) => void | Promise<void>;
}

export interface ReadyWait extends CallControl {
  /** the longest wait (default `readyMaxWaitMs`); past it `ClipNotReadyError` */
  maxWaitMs?: number;
  /**
   * the clip was requested a moment ago: a clip just cut is never ready at once (processing takes seconds), so the
   * first check comes after `readyFirstPollMs`, or after `firstPollMs` when the caller knows better (how long this
   * campaign's jobs take), instead of spending a request of the rate budget at once
   */
  justRequested?: boolean;
  firstPollMs?: number;
}

export interface BatchApiClient {
  readonly apiBase: string;
  readonly limits: Readonly<ApiLimits>;
  /** `/v1/video`: asks the server to cut the slot's clip; its file name, or `missing` when it has no video (404) */
  requestClip(vehicle: string, camera: string, start: number, control?: CallControl): Promise<RequestOutcome>;
  /** polls `/v1/download` until the clip is ready; `ClipNotReadyError` after `maxWaitMs` */
  waitUntilReady(filename: string, control?: ReadyWait): Promise<ReadyClip>;
  /**
   * Downloads a ready clip into `tmpPath` (complete, length-checked, not yet fsynced); returns its size. A body over
   * `maxClipBytes` is a ClipTooLargeError, stopped at the cap; a transfer past its deadline is retried.
   */
  downloadClip(clip: ReadyClip | string, tmpPath: string, control?: DownloadControl): Promise<number>;
  /** holds this client's /v1/ requests for `ms` (a 429 seen by another client of the same campaign) */
  pauseRequests(ms: number): void;
}

const NOT_READY = new Set([404, 500, 502, 503, 504]);
const REDIRECTS = new Set([301, 302, 303, 307, 308]);

type DownloadSource =
  { kind: 'url'; url: URL } | { kind: 'bytes'; res: OpenResponse; body: AsyncIterable<Buffer> } | { kind: 'not-ready'; status: number };

export function createBatchApiClient(options: BatchApiClientOptions): BatchApiClient {
  const { apiBase, limiter, budget, ...limitInput } = options;
  // every token this client has sent (a renewed one's predecessor too): nothing it says may hold a piece of one
  const sent = new Set<string>();
  const secrets = (): string[] => [...sent];
  const redact = (text: string): string => redactSecrets(text, secrets());
  const token: TokenSource = {
    ...options.token,
    current: async () => {
      const t = await options.token.current();
      sent.add(t.value);
      return t;
    },
  };
  const givenLog = options.log ?? SILENT_LOG;
  const log: ApiLog = {
    info: (message, fields) => givenLog.info(redact(message), fields),
    warn: (message, fields) => givenLog.warn(redact(message), fields),
    debug: (message, fields) => givenLog.debug(redact(message), fields),
  };
  /** What a hostile server slipped into an error (a body, a header, a Location) leaves the client without the token. */
  async function redacting<T>(work: Promise<T>): Promise<T> {
    try {
      return await work;
    } catch (err) {
      if (err instanceof FleetclipError) {
        err.message = redact(err.message);
        if (err.stack) err.stack = redact(err.stack); // captured with the message as it was
      }
      throw err;
    }
  }
  const base = new URL(`${apiBase.replace(/\/+$/, '')}/`); // a base path keeps its segments: `${base}v1/…`
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
    ...(budget ? { budget } : {}),
  });
  // presigned URLs are fetched by a client that has no token to send, whatever the host
  const presignedHttp: Got = createHttp(limits, true);
  let headRefused = false;

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
    const body = await readSmallBody(res, limits.maxUrlBodyBytes, limits.responseTimeoutMs, context);
    if (res.status !== 200)
      throw new ApiHttpError(`clip request refused: "${bodySnippet(body, secrets())}"`, { ...context, status: res.status });
    return { kind: 'requested', filename: parseVideoBody(res.headers['content-type'], body, context, secrets()) };
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
        const body = await errorBodyOf(res, limits.responseTimeoutMs);
        throw new ApiHttpError(`readiness check refused: "${bodySnippet(body, secrets())}"`, { ...context, status: res.status });
      }
      discard(res);
      const waitedMs = Date.now() - startedMs - (auth.waitedMs - authWaitAtStart);
      if (waitedMs >= maxWaitMs)
        throw new ClipNotReadyError(`clip not ready after ${Math.round(waitedMs / 1000)} s (last HTTP ${res.status})`, context);
      const next = backoffDelayMs(poll, {
        backoffBaseMs: limits.readyFirstPollMs,
        backoffCapMs: limits.readyPollCapMs,
        jitter: limits.jitter,
      });
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
      const body = await errorBodyOf(res, limits.responseTimeoutMs);
      throw new ApiHttpError(`download refused: "${bodySnippet(body, secrets())}"`, { ...context, status: res.status });
    }
    const { head, ended, body } = await peekBody(res, limits.maxUrlBodyBytes);
    if (ended) {
      const shape = classifyDownloadBody(res.headers['content-type'], head, res.url, context, secrets());
      return shape.kind === 'url' ? { kind: 'url', url: shape.url } : { kind: 'bytes', res, body };
    }
    if (/^(application\/json|text\/)/i.test(res.headers['content-type'] ?? ''))
      throw new ApiProtocolError(
        `download answer is ${res.headers['content-type']} but longer than ${limits.maxUrlBodyBytes} bytes`,
        context,
      );
    return { kind: 'bytes', res, body };
  }

  async function download(filename: string, tmpPath: string, control: DownloadControl, opened?: OpenResponse): Promise<number> {
    const context = control.context ?? {};
    const url = transport.endpoint('download', { filename });
    const transfer = new ClipTransfer(limits, context, log, control.reserveSpace);
    let renewals = 0;
    for (let pending = opened; ; pending = undefined) {
      const res = pending ?? (await transport.call('GET', url, context, { retryServerErrors: true, ...signalOf(control) }));
      let source: DownloadSource;
      // the answer's first bytes (is it a URL?) are read under a transfer's deadline too: "https://…" one byte every
      // 2 s would otherwise be waited for until it reached maxUrlBodyBytes
      const stopWatch = transfer.watchDeadline(res.body);
      try {
        source = await sourceOf(res, context);
      } catch (err) {
        if (control.signal?.aborted) throw control.signal.reason;
        const code = networkCode(err);
        const problem = tooSlowReason(err) ?? (code === undefined ? undefined : `${code} while reading the download answer`);
        if (problem === undefined) throw err;
        await transfer.fail(problem, control.signal);
        continue;
      } finally {
        stopWatch();
      }
      if (source.kind === 'not-ready') {
        await transfer.fail(`download answered HTTP ${source.status}`, control.signal);
        continue;
      }
      if (source.kind === 'bytes') {
        const written = await transfer.write(source.res, source.body, tmpPath, false, control.signal);
        if (!written.problem) return written.size;
        await transfer.fail(written.problem, control.signal);
        continue;
      }
      try {
        return await fetchPresigned(presignedHttp, source.url, tmpPath, transfer, control.signal);
      } catch (err) {
        if (!(err instanceof PresignRefused)) throw err;
        if (++renewals > limits.presignRenewals)
          throw new ApiHttpError(`presigned URL refused ${renewals} times (${presignedForLog(source.url)})`, {
            ...context,
            status: err.status,
          });
        log.info(`presigned URL refused (HTTP ${err.status}): asking for a new one`, context);
      }
    }
  }

  /** The open GET answer a ReadyClip carries, taken once. */
  const openedOf = new WeakMap<ReadyClip, OpenResponse>();
  function readyClip(filename: string, opened: OpenResponse | undefined): ReadyClip {
    const clip: ReadyClip = {
      filename,
      release: () => {
        const res = openedOf.get(clip);
        openedOf.delete(clip);
        if (res && !res.body.destroyed) discard(res);
      },
    };
    if (opened) openedOf.set(clip, opened);
    return clip;
  }

  return {
    apiBase: base.href,
    limits: Object.freeze(limits),
    requestClip: (vehicle, camera, start, control) => redacting(requestClip(vehicle, camera, start, control)),
    async waitUntilReady(filename, control = {}) {
      if (control.justRequested) await sleep(Math.max(limits.readyFirstPollMs, control.firstPollMs ?? 0), control.signal);
      return readyClip(filename, await redacting(awaitReady(filename, control, control.maxWaitMs)));
    },
    async downloadClip(clip, tmpPath, control = {}) {
      if (typeof clip === 'string') return redacting(download(clip, tmpPath, control));
      const opened = openedOf.get(clip);
      openedOf.delete(clip);
      try {
        return await redacting(download(clip.filename, tmpPath, control, opened));
      } finally {
        if (opened && !opened.body.destroyed) discard(opened);
      }
    },
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
