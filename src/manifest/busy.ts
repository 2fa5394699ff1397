import { ManifestError } from '../errors.js';

const sleeper = new Int32Array(new SharedArrayBuffer(4));

/** Blocks this thread (the manifest API is synchronous, like better-sqlite3 underneath it). */
function sleepMs(ms: number): void {
  Atomics.wait(sleeper, 0, 0, ms);
}

export function isBusy(err: unknown): boolean {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED'));
}

/**
 * Runs `fn` (one whole transaction) again after SQLITE_BUSY, sleeping a random 1..cap ms with a cap that doubles
 * per try up to 4 ms, until `deadlineMs` has passed. The jitter keeps workers from retrying in lockstep; the small
 * cap keeps a long waiter from being overtaken by newcomers, which is what made SQLite's own busy handler (sleeps
 * growing to 100 ms) give a claim p99 of seconds. `onRetry` runs before each retry.
 */
export function retryBusy<T>(fn: () => T, deadlineMs: number, onRetry?: () => void): T {
  const giveUpAt = Date.now() + deadlineMs;
  for (let attempt = 0; ; attempt++) {
    try {
      return fn();
    } catch (err) {
      if (!isBusy(err)) throw err;
      if (Date.now() >= giveUpAt) {
        throw new ManifestError(
          `manifest stayed locked for ${Math.round(deadlineMs / 1000)} s (SQLITE_BUSY); is a process stuck holding it?`,
          {},
          {
            cause: err,
          },
        );
      }
      onRetry?.();
      sleepMs(1 + Math.random() * Math.min(4, 2 ** attempt));
    }
  }
}
