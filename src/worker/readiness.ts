import { READINESS_BUCKETS, readinessBucketOf, readinessQuantileMs } from '../plan/model.js';

/**
 * How long the Batch API takes to make a clip ready in this campaign: a histogram of observed waits (request →
 * ready) on the log scale of src/plan/model.ts, so a quantile costs a few dozen additions whatever the number of
 * clips, the counts of two workers add up (the manifest keeps the campaign's sum, so a new worker starts informed), and
 * old observations fade (every count is halved once the histogram holds `maxCount`), so a campaign whose API slows
 * down is followed.
 */
/** Observations a histogram holds before every count is halved (the manifest's campaign histogram fades alike). */
export const READINESS_MAX_COUNT = 20_000;

export class ReadinessHistogram {
  readonly counts: number[];
  /** observations since the last `takeNew`, unfaded: what a worker adds to the campaign's histogram */
  private fresh: number[] = Array<number>(READINESS_BUCKETS).fill(0);

  constructor(
    counts: readonly number[] = [],
    private readonly maxCount = READINESS_MAX_COUNT,
  ) {
    this.counts = Array.from({ length: READINESS_BUCKETS }, (_, i) => counts[i] ?? 0);
  }

  get total(): number {
    return this.counts.reduce((n, c) => n + c, 0);
  }

  observe(ms: number): void {
    const bucket = readinessBucketOf(ms);
    this.counts[bucket]! += 1;
    this.fresh[bucket]! += 1;
    if (this.total > this.maxCount) for (let i = 0; i < this.counts.length; i++) this.counts[i] = this.counts[i]! / 2;
  }

  /** The observations made since the last call (counts per bucket), and forget them. */
  takeNew(): number[] {
    const fresh = this.fresh;
    this.fresh = Array<number>(READINESS_BUCKETS).fill(0);
    return fresh;
  }

  /** Takes the campaign's counts (which hold this worker's reported observations too) as its own. */
  replace(counts: readonly number[]): void {
    for (let i = 0; i < this.counts.length; i++) this.counts[i] = counts[i] ?? 0;
  }

  /** The wait below which a fraction `q` of jobs became ready (upper bucket edge), or undefined with no data. */
  quantileMs(q: number): number | undefined {
    return readinessQuantileMs(this.counts, q);
  }
}

export interface HedgePolicy {
  /**
   * a job still not ready after `factor` x the observed p90 is hedged. p90, not p99: with the vendor's 1 % of jobs that
   * take 150-225 s, the p99 sits inside that tail, and 3 x p99 would leave a job that never finishes waiting 8-10 min;
   * at p90 a rare tail (a few % of jobs) is hedged after about a minute, and a common one is the norm and waited for
   */
  factor: number;
  /** never before this (a few fast jobs do not make a tail) */
  floorMs: number;
  /** never after this: the longest a job is waited for (`readyMaxWaitMs`) */
  ceilingMs: number;
  /** observations needed before the p90 is trusted; until then a job is hedged only at the ceiling */
  minSamples: number;
}

export const HEDGE_DEFAULTS: Readonly<HedgePolicy> = Object.freeze({ factor: 3, floorMs: 20_000, ceilingMs: 600_000, minSamples: 30 });

/** The quantile of readiness times a hedge is measured from. */
export const HEDGE_QUANTILE = 0.9;

/** When a job that is not ready yet gets a second request: `factor` x p90, within [floor, ceiling]. */
export function hedgeAfterMs(histogram: ReadinessHistogram, policy: HedgePolicy): number {
  const p90 = histogram.total >= policy.minSamples ? histogram.quantileMs(HEDGE_QUANTILE) : undefined;
  if (p90 === undefined) return policy.ceilingMs;
  return Math.min(policy.ceilingMs, Math.max(policy.floorMs, policy.factor * p90));
}
