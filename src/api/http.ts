import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import type Bottleneck from 'bottleneck';
import got, { RequestError, type Got } from 'got';
import { ApiError, ApiHttpError, type ErrorContext } from '../errors.js';
import type { AuthKeeper } from './auth.js';
import type { ApiLog } from './log.js';
import type { ApiLimits } from './options.js';
import { bodySnippet, urlForLog } from './redact.js';
import { backoffDelayMs, retryAfterMs } from './retry-delay.js';
import type { TokenSource } from './token.js';
import { type PauseGate, sleep } from './wait.js';

/** A response whose headers have arrived and whose body has not been read yet. */
export interface OpenResponse {
  status: number;
  headers: IncomingHttpHeaders;
  url: URL;
  body: Readable;
}

/** Never follows redirects and never throws on a status: every decision is ours. No retries inside got. */
export function createHttp(limits: ApiLimits, followRedirect: boolean): Got {
  return got.extend({
    followRedirect,
    maxRedirects: 5,
    throwHttpErrors: false,
    retry: { limit: 0 },
    // no Accept-Encoding, no decoding: 100 KB of gzip must not become 100 MB on disk, and Content-Length must count
    // the bytes written (a server that encodes unasked sends bytes that are no bag: an invalid clip)
    decompress: false,
    timeout: { connect: limits.connectTimeoutMs, response: limits.responseTimeoutMs, socket: limits.idleTimeoutMs },
    headers: { 'user-agent': 'fleetclip' },
  });
}

export function openResponse(
  http: Got,
  url: URL,
  options: { method: 'GET' | 'HEAD'; headers?: Record<string, string>; signal?: AbortSignal },
): Promise<OpenResponse> {
  return new Promise((resolve, reject) => {
    const stream = http.stream(url, {
      method: options.method,
      headers: options.headers ?? {},
      // a short body must fail loudly rather than end as if complete
      strictContentLength: options.method === 'GET',
      ...(options.signal ? { signal: options.signal } : {}),
    });
    // got streams never destroy themselves (autoDestroy: false), and only destroy() removes got's listener from
    // `signal`: without this every finished request stayed reachable from the shard's signal (~50 KB a clip)
    stream.once('end', () => stream.destroy());
    stream.once('error', reject);
    stream.once('response', (res: { statusCode: number; headers: IncomingHttpHeaders }) =>
      resolve({ status: res.statusCode, headers: res.headers, url, body: stream }),
    );
  });
}

export function discard(res: OpenResponse): void {
  res.body.destroy();
}

/**
 * Reads a body expected to be small: at most `max` bytes (then the connection is dropped), within `withinMs` of its
 * headers. A small answer still arriving then is cut, an ApiError: one byte every 2 s keeps every socket timeout quiet.
 */
export async function readSmallBody(res: OpenResponse, max: number, withinMs: number, context: ErrorContext = {}): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  let cut = false;
  const timer = setTimeout(() => {
    cut = true;
    res.body.destroy();
  }, withinMs);
  try {
    for await (const chunk of res.body) {
      chunks.push(chunk as Buffer);
      size += (chunk as Buffer).length;
      if (size > max) break;
    }
  } catch (err) {
    if (!cut) throw err; // else the cut, said below
  } finally {
    clearTimeout(timer);
  }
  if (cut) throw new ApiError(`answer still arriving ${withinMs / 1000} s after its headers (${size} bytes so far): cut`, context);
  return Buffer.concat(chunks).subarray(0, max);
}

/** The start of an error answer's body, for a message: never throws (a body cut short, or cut, just gives less). */
export function errorBodyOf(res: OpenResponse, withinMs: number): Promise<Buffer> {
  return readSmallBody(res, 512, withinMs).catch(() => Buffer.alloc(0));
}

/** The error code of a network failure (ECONNRESET, ETIMEDOUT, ERR_HTTP_CONTENT_LENGTH_MISMATCH…), never got's message (it holds the URL). */
export function networkCode(err: unknown): string | undefined {
  return err instanceof RequestError ? err.code || err.name : undefined;
}

export interface TransportDeps {
  base: URL;
  limits: ApiLimits;
  token: TokenSource;
  auth: AuthKeeper;
  limiter: Bottleneck;
  gate: PauseGate;
  log: ApiLog;
  budget?: RequestBudget;
}

/**
 * A request budget shared beyond this client (a campaign's, kept in its manifest): every /v1/ request takes one
 * allowance first, and every 429 is reported so that every client of the campaign slows down.
 */
export interface RequestBudget {
  /** resolves when one more /v1/ request may be sent */
  acquire(signal?: AbortSignal): Promise<void>;
  /** a 429 held this client's requests for `ms` */
  rateLimited(ms: number): void;
  /** a request failed on the server's side or on the way (5xx, reset, timeout) and is retried */
  struggled(): void;
}

export interface CallOptions {
  /** retry 5xx with backoff (readiness polling treats them as "not yet" itself) */
  retryServerErrors: boolean;
  signal?: AbortSignal;
}

/**
 * The only way to the Batch API's /v1/ endpoints, and the only place the bearer token is sent:
 * paced by the limiter and the optional budget hook, held while a 429 pause runs, retrying network
 * errors (and 5xx if asked) with jittered backoff, and sending 401s through the AuthKeeper.
 * Returns the first response that is none of those, body unread.
 */
export class ApiTransport {
  private readonly http: Got;

  constructor(private readonly deps: TransportDeps) {
    this.http = createHttp(deps.limits, false);
  }

  endpoint(name: 'video' | 'download', query: Record<string, string>): URL {
    const url = new URL(`v1/${name}`, this.deps.base);
    for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
    return url;
  }

  /** A 429 elsewhere (another client of the same worker) can hold this one too. */
  pause(ms: number): void {
    this.deps.gate.pause(ms);
  }

  async call(method: 'GET' | 'HEAD', url: URL, context: ErrorContext, options: CallOptions): Promise<OpenResponse> {
    const { limits, limiter, token, auth, log } = this.deps;
    const { signal } = options;
    let failures = 0;
    let rateLimited = 0;
    const where = `${method} ${urlForLog(url)}`;
    for (;;) {
      signal?.throwIfAborted();
      const used = await token.current();
      let res: OpenResponse;
      try {
        res = await limiter.schedule(() => this.send(method, url, used.value, signal));
      } catch (err) {
        if (signal?.aborted) throw signal.reason;
        const code = networkCode(err);
        if (code === undefined) throw err;
        this.deps.budget?.struggled();
        if (++failures >= limits.maxAttempts)
          throw new ApiError(`Batch API unreachable after ${failures} tries: ${code} (${where})`, context);
        log.debug(`retrying after ${code}`, { ...context, url: urlForLog(url), attempt: failures });
        await sleep(backoffDelayMs(failures, limits), signal);
        continue;
      }
      if (res.status === 401) {
        discard(res);
        await auth.afterUnauthorized(used, context, signal);
        continue;
      }
      if (res.status === 429) {
        discard(res);
        if (++rateLimited > limits.maxRateLimitedRetries)
          throw new ApiHttpError(`still rate limited after ${rateLimited - 1} retries (${where})`, { ...context, status: 429 });
        const ms = Math.min(limits.maxRetryAfterMs, retryAfterMs(res.headers['retry-after'], Date.now()) ?? limits.defaultRetryAfterMs);
        this.pause(ms);
        this.deps.budget?.rateLimited(ms);
        log.info(`rate limited: holding requests for ${ms} ms`, { ...context, url: urlForLog(url) });
        continue;
      }
      if (options.retryServerErrors && res.status >= 500) {
        this.deps.budget?.struggled();
        const body = await errorBodyOf(res, limits.responseTimeoutMs);
        if (++failures >= limits.maxAttempts)
          throw new ApiHttpError(`Batch API failed ${failures} times: "${bodySnippet(body, [used.value])}" (${where})`, {
            ...context,
            status: res.status,
          });
        log.debug(`retrying after HTTP ${res.status}`, { ...context, url: urlForLog(url), attempt: failures });
        await sleep(backoffDelayMs(failures, limits), signal);
        continue;
      }
      return res;
    }
  }

  /** One request, inside a limiter slot: waits out a 429 pause and the budget, then sends. */
  private async send(method: 'GET' | 'HEAD', url: URL, token: string, signal?: AbortSignal): Promise<OpenResponse> {
    await this.deps.gate.wait(signal);
    await this.deps.budget?.acquire(signal);
    return openResponse(this.http, url, { method, headers: { authorization: `Bearer ${token}` }, ...(signal ? { signal } : {}) });
  }
}
