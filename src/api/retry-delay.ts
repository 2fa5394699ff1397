/** Pure retry policy: no clock, no network. */
export interface BackoffPolicy {
  backoffBaseMs: number;
  backoffCapMs: number;
  /** 0 = none, 1 = full jitter */
  jitter: number;
}

/**
 * Delay before retry number `attempt` (1 = first retry): base * 2^(attempt-1), capped, then jittered
 * down by up to `jitter` of itself, so that workers hit by the same fault do not retry in step.
 */
export function backoffDelayMs(attempt: number, p: BackoffPolicy, random: () => number = Math.random): number {
  const exp = Math.min(p.backoffCapMs, p.backoffBaseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(exp * (1 - p.jitter * random()));
}

/** Retry-After as milliseconds: delta-seconds or an HTTP date; undefined when absent or unreadable. */
export function retryAfterMs(header: string | string[] | undefined, nowMs: number): number | undefined {
  const value = (Array.isArray(header) ? header[0] : header)?.trim();
  if (!value) return undefined;
  if (/^\d+(\.\d+)?$/.test(value)) return Math.round(Number(value) * 1000);
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}
