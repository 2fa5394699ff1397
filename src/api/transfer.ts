import { createWriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { type Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Got } from 'got';
import { ApiError, ApiHttpError, ClipTooLargeError, type ErrorContext } from '../errors.js';
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

/** A transfer we cut because its body came too slowly: retried like a dropped connection. */
class TransferTooSlow extends Error {}

/** Why a transfer was cut as too slow, whether got wrapped the cut (a destroyed got stream) or not; else undefined. */
export function tooSlowReason(err: unknown): string | undefined {
  const cut = err instanceof TransferTooSlow ? err : (err as Error | undefined)?.cause;
  return cut instanceof TransferTooSlow ? cut.message : undefined;
}

/**
 * One clip's transfers, over every source it is fetched from: how many may fail (drops, short bodies, 5xx, too slow),
 * and the limits every body is written under: the per-clip byte cap, each transfer's deadline, and the caller's
 * check of the space the temporary takes (`reserveSpace`, which may throw a StorageError to stop the download).
 */
export class ClipTransfer {
  private failures = 0;

  constructor(
    private readonly limits: ApiLimits,
    readonly context: ErrorContext,
    private readonly log: ApiLog,
    private readonly reserveSpace?: (tmpBytes: number) => void | Promise<void>,
  ) {}

  /**
   * Counts a failure, then waits a jittered backoff, or what the server asked for (`retryAfterMs`, at most
   * `maxRetryAfterMs`: a presigned host's `Retry-After: 2000000` is no reason to sleep for 23 days); throws once the
   * budget is spent.
   */
  async fail(reason: string, signal?: AbortSignal, retryAfterMs?: number): Promise<void> {
    if (++this.failures >= this.limits.downloadAttempts)
      throw new ApiError(`download failed ${this.failures} times, last: ${reason}`, this.context);
    const wait =
      retryAfterMs === undefined ? backoffDelayMs(this.failures, this.limits) : Math.min(retryAfterMs, this.limits.maxRetryAfterMs);
    this.log.debug(`download retry in ${wait} ms after ${reason}`, { ...this.context, attempt: this.failures });
    await sleep(wait, signal);
  }

  /**
   * Streams a body into the temporary file (appending when resuming) and returns the file's size, with what went
   * wrong when the transfer is worth retrying (connection lost, short or long body, too slow). A body over the cap is
   * a ClipTooLargeError, a disk failure a StorageError: neither is retried.
   */
  async write(
    res: OpenResponse,
    body: Readable | AsyncIterable<Buffer>,
    tmpPath: string,
    append: boolean,
    signal?: AbortSignal,
  ): Promise<{ size: number; problem?: string }> {
    const { maxClipBytes } = this.limits;
    const context = { ...this.context, status: res.status, url: presignedForLog(res.url) };
    const total = promisedTotal(res);
    if (total !== undefined && total > maxClipBytes) {
      discard(res);
      throw new ClipTooLargeError(
        `clip body of ${total} bytes (${res.status === 206 ? 'Content-Range' : 'Content-Length'}) is over the cap of ${maxClipBytes} bytes: not downloaded`,
        context,
      );
    }
    const startBytes = append ? await sizeOf(tmpPath) : 0;
    let received = 0;
    const meter = new Transform({
      transform: (chunk: Buffer, _encoding, done) => {
        const tmpBytes = startBytes + received + chunk.length;
        if (tmpBytes > maxClipBytes)
          return done(new ClipTooLargeError(`clip body over the cap of ${maxClipBytes} bytes: stopped after ${tmpBytes} bytes`, context));
        Promise.resolve(this.reserveSpace?.(tmpBytes)).then(() => {
          received += chunk.length;
          done(null, chunk);
        }, done);
      },
    });
    const stopWatch = this.watchDeadline(meter, () => received);
    try {
      await pipeline(body, meter, createWriteStream(tmpPath, { flags: append ? 'a' : 'w' }), ...(signal ? [{ signal }] : []));
      const size = await sizeOf(tmpPath);
      if (total !== undefined && size < total) return { size, problem: `short body: ${size} of ${total} bytes` };
      if (total !== undefined && size > total) return { size, problem: `body longer than promised: ${size} > ${total} bytes` };
      return { size };
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      const slow = tooSlowReason(err);
      if (slow !== undefined) return { size: await sizeOf(tmpPath), problem: slow };
      const code =
        networkCode(err) ?? ((err as NodeJS.ErrnoException).code === 'ERR_STREAM_PREMATURE_CLOSE' ? 'premature close' : undefined);
      if (code !== undefined) {
        const size = await sizeOf(tmpPath);
        return { size, problem: `connection lost after ${size} bytes (${code})` };
      }
      if ((err as NodeJS.ErrnoException).syscall) throw storageErrorFrom(err, tmpPath, 'write');
      throw err;
    } finally {
      stopWatch();
    }
  }

  /**
   * Cuts a transfer (destroys `body` with TransferTooSlow) once it has run `downloadAllowanceMs` plus the time its
   * bytes take at the minimum rate: the expected clip size's worth, or what it has `received` when that is more. A
   * body that trickles (one byte every few seconds keeps every socket timeout quiet) ends; one at the minimum rate or
   * faster never does, whatever its size. Returns what stops the watch.
   */
  watchDeadline(body: Pick<Readable, 'destroy'>, received?: () => number): () => void {
    const { downloadAllowanceMs, expectedClipBytes, minDownloadBytesPerSec } = this.limits;
    const startedMs = Date.now();
    let timer: NodeJS.Timeout | undefined;
    const check = (): void => {
      const dueMs = startedMs + downloadAllowanceMs + (Math.max(expectedClipBytes, received?.() ?? 0) / minDownloadBytesPerSec) * 1000;
      const nowMs = Date.now();
      if (nowMs < dueMs) {
        timer = setTimeout(check, dueMs - nowMs);
        return;
      }
      const seconds = ((nowMs - startedMs) / 1000).toFixed(1);
      const got = received ? `${received()} bytes in ${seconds} s` : `the answer still incomplete after ${seconds} s`;
      body.destroy(new TransferTooSlow(`too slow: ${got}, under ${minDownloadBytesPerSec} bytes/s`));
    };
    check();
    return () => clearTimeout(timer);
  }
}

/** Bytes the response promises: Content-Length of a 200, the total of a 206's Content-Range. Bodies are never decoded, so an encoded one counts too. */
export function promisedTotal(res: OpenResponse): number | undefined {
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
 * Fetches a presigned URL into `tmpPath` with no Authorization header (it carries its own signature),
 * resuming with Range after a drop when the server accepts ranges, else restarting. 403/404/410 throw
 * PresignRefused so the caller asks /v1/download again. Returns the final size.
 */
export async function fetchPresigned(http: Got, url: URL, tmpPath: string, transfer: ClipTransfer, signal?: AbortSignal): Promise<number> {
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
      await transfer.fail(`${code} at ${presignedForLog(url)}`, signal);
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
      await transfer.fail(`HTTP ${status} from ${presignedForLog(url)}`, signal, wait);
      continue;
    }
    if (status !== 200 && status !== 206) {
      discard(res);
      throw new ApiHttpError(`presigned download answered HTTP ${status} (${presignedForLog(url)})`, { ...transfer.context, status });
    }
    if (status === 200) ranges = res.headers['accept-ranges'] === 'bytes';
    const total = promisedTotal(res);
    const written = await transfer.write(res, res.body, tmpPath, status === 206, signal);
    if (!written.problem) return written.size;
    have = total !== undefined && written.size > total ? 0 : written.size;
    await transfer.fail(written.problem, signal);
  }
}
