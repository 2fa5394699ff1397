import { UsageError } from '../errors.js';
import { MAX_CLIP_BYTES_FACTOR } from '../plan/types.js';

/** Every limit of the Batch API client. `docs/api.md` explains each one; help texts quote these values. */
export interface ApiLimits {
  /** TCP connect timeout */
  connectTimeoutMs: number;
  /** from sending a request to its response headers */
  responseTimeoutMs: number;
  /** longest silence on a socket while a body streams */
  idleTimeoutMs: number;
  /** tries of one API request on 5xx or a network error (the first try included) */
  maxAttempts: number;
  /** retries after 429 for one request; 429 is flow control, so it gets its own, larger budget */
  maxRateLimitedRetries: number;
  /** a 429 without a usable Retry-After waits this long */
  defaultRetryAfterMs: number;
  /** a Retry-After longer than this is clipped to it */
  maxRetryAfterMs: number;
  /** exponential backoff: base * 2^(n-1), capped, then jittered */
  backoffBaseMs: number;
  backoffCapMs: number;
  /** 0 = no jitter, 1 = full jitter (uniform in 0..delay) */
  jitter: number;
  /** readiness polling: first wait (also between requesting a clip and its first check), cap of the growing wait, and the longest total wait */
  readyFirstPollMs: number;
  readyPollCapMs: number;
  readyMaxWaitMs: number;
  /** after a 401 with an unchanged token: how long to wait for a renewed token file */
  authGraceMs: number;
  /** how often the token file is checked while waiting for a renewal */
  tokenPollMs: number;
  /** transfers of one clip that may fail (drop, short body, 5xx) before giving up */
  downloadAttempts: number;
  /** expired presigned URLs renewed through /v1/download per clip */
  presignRenewals: number;
  /** the largest 200 body read as a URL or JSON; anything bigger is clip bytes */
  maxUrlBodyBytes: number;
  /** the largest clip body: its transfer stops the moment it would grow beyond this, and the clip fails (`ClipTooLargeError`) */
  maxClipBytes: number;
  /** the size a clip is expected to have: every transfer gets the time this many bytes take at `minDownloadBytesPerSec` */
  expectedClipBytes: number;
  /**
   * a transfer's deadline: `downloadAllowanceMs` + max(expectedClipBytes, bytes received) / this rate; past it the
   * transfer is cut and counts as a failed transfer (a body that trickles forever never ends otherwise)
   */
  minDownloadBytesPerSec: number;
  downloadAllowanceMs: number;
  /** pacing of /v1/ requests (when no limiter is passed in) */
  maxConcurrent: number;
  minTimeMs: number;
}

export const API_DEFAULTS: Readonly<ApiLimits> = Object.freeze({
  connectTimeoutMs: 10_000,
  responseTimeoutMs: 30_000,
  idleTimeoutMs: 60_000,
  maxAttempts: 6,
  maxRateLimitedRetries: 30,
  defaultRetryAfterMs: 5_000,
  maxRetryAfterMs: 300_000,
  backoffBaseMs: 500,
  backoffCapMs: 30_000,
  jitter: 0.5,
  readyFirstPollMs: 250,
  readyPollCapMs: 5_000,
  readyMaxWaitMs: 600_000,
  authGraceMs: 900_000,
  tokenPollMs: 1_000,
  downloadAttempts: 6,
  presignRenewals: 3,
  maxUrlBodyBytes: 64 * 1024,
  // the plan's default --clip-size, and the campaign's default cap of 50 times it
  expectedClipBytes: 2_000_000,
  maxClipBytes: MAX_CLIP_BYTES_FACTOR * 2_000_000,
  minDownloadBytesPerSec: 64 * 1024,
  downloadAllowanceMs: 30_000,
  maxConcurrent: 4,
  minTimeMs: 50,
});

const POSITIVE_INTEGERS: readonly (keyof ApiLimits)[] = [
  'maxAttempts',
  'downloadAttempts',
  'maxConcurrent',
  'maxClipBytes',
  'expectedClipBytes',
  'minDownloadBytesPerSec',
];
const COUNTS: readonly (keyof ApiLimits)[] = ['maxRateLimitedRetries', 'presignRenewals'];

function withoutUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Defaults, then one check per limit; nothing downstream checks a limit again. */
export function normalizeApiLimits(input: Partial<ApiLimits> = {}): ApiLimits {
  const o: ApiLimits = { ...API_DEFAULTS, ...withoutUndefined(input) };
  for (const key of Object.keys(API_DEFAULTS) as (keyof ApiLimits)[]) {
    const value = o[key];
    const integer = POSITIVE_INTEGERS.includes(key) || COUNTS.includes(key);
    const min = POSITIVE_INTEGERS.includes(key) ? 1 : 0;
    if (typeof value !== 'number' || !Number.isFinite(value) || value < min || (integer && !Number.isInteger(value)))
      throw new UsageError(`${key} must be ${integer ? 'an integer' : 'a number'} >= ${min}, got ${String(value)}`);
  }
  if (o.jitter > 1) throw new UsageError(`jitter must be between 0 and 1, got ${o.jitter}`);
  return o;
}
