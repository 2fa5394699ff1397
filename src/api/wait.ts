import { setTimeout as delay } from 'node:timers/promises';

/** Sleeps `ms`, or rejects with the signal's reason as soon as it aborts. */
export async function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (ms <= 0) return signal?.throwIfAborted();
  try {
    await delay(ms, undefined, signal ? { signal } : {});
  } catch (err) {
    if (signal?.aborted) throw signal.reason;
    throw err;
  }
}

/**
 * Holds every /v1/ request while a 429's Retry-After runs, so one worker's requests do not keep
 * hammering a rate-limited API. `pause` only ever extends the hold.
 */
export class PauseGate {
  private untilMs = 0;

  pause(ms: number): void {
    this.untilMs = Math.max(this.untilMs, Date.now() + ms);
  }

  async wait(signal?: AbortSignal): Promise<void> {
    for (let left = this.untilMs - Date.now(); left > 0; left = this.untilMs - Date.now()) await sleep(left, signal);
    signal?.throwIfAborted();
  }
}
