/**
 * The throughput model a worker sizes its window with and `plan --dry-run` forecasts with (Little's law: clips in
 * flight = clips per second x seconds per clip). Pure; in plan's light door so a worker loads no time-zone tables.
 */
export interface ClipFlow {
  /** the request rate this worker may use, requests/s (its share of the campaign's budget) */
  requestsPerSec: number;
  /** /v1/ requests one clip costs: its request, readiness polls, the download (about 3-4) */
  requestsPerClip: number;
  /** how long one clip takes from its request to its file, s (mostly the API's processing) */
  clipSeconds: number;
}

/** Clips that must be in flight for the requests to flow at `requestsPerSec`. */
export function clipsInFlightFor(flow: ClipFlow): number {
  return (flow.requestsPerSec / flow.requestsPerClip) * flow.clipSeconds;
}

/** Clips per second one worker reaches with at most `window` clips in flight: the budget or the window binds. */
export function workerClipsPerSec(flow: ClipFlow, window: number): number {
  return Math.min(flow.requestsPerSec / flow.requestsPerClip, window / flow.clipSeconds);
}

/** The vendor's API as users have seen it: most jobs ready in 1-20 s, a clip costs the request, ~2 polls, the download. */
export const API_FLOW_ASSUMPTIONS = { requestsPerClip: 3.5, clipSeconds: 12 } as const;

/**
 * How long jobs take to become ready, as a histogram of log-scale buckets: bucket i holds waits in
 * [FIRST_MS * GROWTH^(i-1), FIRST_MS * GROWTH^i), bucket 0 everything below FIRST_MS. Workers count into it, the
 * manifest keeps the campaign's sum, status reads quantiles from it.
 */
export const READINESS_BUCKETS = 64;
const FIRST_MS = 10;
const GROWTH = 1.25;

export function readinessBucketOf(ms: number): number {
  if (!(ms >= FIRST_MS)) return 0;
  return Math.min(READINESS_BUCKETS - 1, 1 + Math.floor(Math.log(ms / FIRST_MS) / Math.log(GROWTH)));
}

/** The upper edge of a bucket: a quantile is never below the wait it stands for. */
export function readinessUpperEdgeMs(bucket: number): number {
  return FIRST_MS * GROWTH ** bucket;
}

/** The wait below which a fraction `q` of the counted jobs became ready (an upper bucket edge); undefined with none. */
export function readinessQuantileMs(counts: readonly number[], q: number): number | undefined {
  const total = counts.reduce((n, c) => n + c, 0);
  if (total === 0) return undefined;
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    seen += counts[i]!;
    if (seen >= q * total) return readinessUpperEdgeMs(i);
  }
  return readinessUpperEdgeMs(counts.length - 1);
}
