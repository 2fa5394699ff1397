import { createWriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Got } from 'got';
import { ApiError, ApiHttpError, type ErrorContext } from '../errors.js';
import { storageErrorFrom } from '../storage/index.js';
import { discard, networkCode, type OpenResponse, openResponse } from './http.js';
import type { ApiLog } from './log.js';
import type { ApiLimits } from './options.js';
import { presignedForLog } from './redact.js';
import { backoffDelayMs, retryAfterMs } from './retry-delay.js';
import { sleep } from './wait.js';

/** A presigned URL was refused (expired, or unknown): ask /v1/download for a fresh one. */
export class PresignRefused extends Error {
  constructor(readonly status: number) {
    super(`presigned URL refused with HTTP ${status}`);
  }
}

/** Failed transfers of one clip (drops, short bodies, 5xx), shared by every source that clip is fetched from. */
export class TransferBudget {
  private failures = 0;

  constructor(
    private readonly limits: ApiLimits,
    private readonly context: ErrorContext,
    private readonly log: ApiLog,
  ) {}

  /** Counts a failure, then waits a jittered backoff; throws once the budget is spent. */
  async fail(reason: string, signal?: AbortSignal, waitMs?: number): Promise<void> {
    if (++this.failures >= this.limits.downloadAttempts)
      throw new ApiError(`download failed ${this.failures} times, last: ${reason}`, this.context);
    this.log.debug(`download retry after ${reason}`, { ...this.context, attempt: this.failures });
    await sleep(waitMs ?? backoffDelayMs(this.failures, this.limits), signal);
  }
}

/** Bytes the response promises: Content-Length of a 200, the total of a 206's Content-Range. Unknown when encoded. */
export function promisedTotal(res: OpenResponse): number | undefined {
  if (res.headers['content-encoding'] && res.headers['content-encoding'] !== 'identity') return undefined;
  if (res.status === 206) {
    const m = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(res.headers['content-range'] ?? '');
    return m ? Number(m[3]) : undefined;
  }
  const length = res.headers['content-length'];
  return length !== undefined && /^\d+$/.test(length) ? Number(length) : undefined;
}

function rangeStart(res: OpenResponse): number | undefined {
  const m = /^bytes (\d+)-/.exec(res.headers['content-range'] ?? '');
  return m ? Number(m[1]) : undefined;
}

async function sizeOf(filePath: string): Promise<number> {
  return stat(filePath).then(
    (s) => s.size,
    () => 0,
  );
}

/**
 * Streams a body into the temporary file (appending when resuming) and returns the file's size.
 * A network failure comes back as `{ failed: code }` so the caller can retry; a disk failure is a StorageError.
 */
export async function writeBody(
  body: Readable | AsyncIterable<Buffer>,
  tmpPath: string,
  append: boolean,
  signal?: AbortSignal,
): Promise<{ size: number; failed?: string }> {
  try {
    await pipeline(body, createWriteStream(tmpPath, { flags: append ? 'a' : 'w' }), ...(signal ? [{ signal }] : []));
    return { size: await sizeOf(tmpPath) };
  } catch (err) {
    if (signal?.aborted) throw signal.reason;
    const code = networkCode(err) ?? ((err as NodeJS.ErrnoException).code === 'ERR_STREAM_PREMATURE_CLOSE' ? 'premature close' : undefined);
    if (code !== undefined) return { size: await sizeOf(tmpPath), failed: code };
    if ((err as NodeJS.ErrnoException).syscall) throw storageErrorFrom(err, tmpPath, 'write');
    throw err;
  }
}

/** What a finished transfer left: complete, or why not (for the budget). */
export function checkCompleteness(size: number, total: number | undefined, failed: string | undefined): string | undefined {
  if (failed) return `connection lost after ${size} bytes (${failed})`;
  if (total !== undefined && size < total) return `short body: ${size} of ${total} bytes`;
  if (total !== undefined && size > total) return `body longer than promised: ${size} > ${total} bytes`;
  return undefined;
}

/**
 * Fetches a presigned URL into `tmpPath` with no Authorization header (it carries its own signature),
 * resuming with Range after a drop when the server accepts ranges, else restarting. 403/404/410 throw
 * PresignRefused so the caller asks /v1/download again. Returns the final size.
 */
export async function fetchPresigned(
  http: Got,
  url: URL,
  tmpPath: string,
  budget: TransferBudget,
  context: ErrorContext,
  signal?: AbortSignal,
): Promise<number> {
  let have = 0;
  let ranges = false;
  for (;;) {
    const resume = have > 0 && ranges;
    let res: OpenResponse;
    try {
      res = await openResponse(http, url, {
        method: 'GET',
        headers: resume ? { range: `bytes=${have}-` } : {},
        ...(signal ? { signal } : {}),
      });
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      const code = networkCode(err);
      if (code === undefined) throw err;
      await budget.fail(`${code} at ${presignedForLog(url)}`, signal);
      continue;
    }
    const { status } = res;
    if (status === 403 || status === 404 || status === 410) {
      discard(res);
      throw new PresignRefused(status);
    }
    if (status === 429 || status >= 500 || status === 416 || (status === 206 && rangeStart(res) !== have)) {
      discard(res);
      if (status === 416 || status === 206) ranges = false; // the server's ranges do not match what we hold: restart
      const wait = status === 429 ? retryAfterMs(res.headers['retry-after'], Date.now()) : undefined;
      await budget.fail(`HTTP ${status} from ${presignedForLog(url)}`, signal, wait);
      continue;
    }
    if (status !== 200 && status !== 206) {
      discard(res);
      throw new ApiHttpError(`presigned download answered HTTP ${status} (${presignedForLog(url)})`, { ...context, status });
    }
    if (status === 200) ranges = res.headers['accept-ranges'] === 'bytes';
    const total = promisedTotal(res);
    const written = await writeBody(res.body, tmpPath, status === 206, signal);
    const problem = checkCompleteness(written.size, total, written.failed);
    if (!problem) return written.size;
    have = total !== undefined && written.size > total ? 0 : written.size;
    await budget.fail(problem, signal);
  }
}
