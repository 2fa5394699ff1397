/**
 * How long the Batch API takes to make a clip ready in this campaign: a histogram of observed waits (request →
 * ready) on a log scale, so a quantile costs a few dozen additions whatever the number of clips, the counts of two
 * workers add up (the manifest keeps the campaign's sum, so a new worker starts informed), and old observations fade
 * (every count is halved once the histogram holds `maxCount`), so a campaign whose API slows down is followed.
 */
export const READINESS_BUCKETS = 64;
/** bucket i holds waits in [FIRST_MS * GROWTH^(i-1), FIRST_MS * GROWTH^i); bucket 0 everything below FIRST_MS */
const FIRST_MS = 10;
const GROWTH = 1.25;

export function bucketOfWait(ms: number): number {
  if (!(ms >= FIRST_MS)) return 0;
  return Math.min(READINESS_BUCKETS - 1, 1 + Math.floor(Math.log(ms / FIRST_MS) / Math.log(GROWTH)));
}

/** The upper edge of a bucket: a quantile is never below the wait it stands for. */
export function upperEdgeMs(bucket: number): number {
  return FIRST_MS * GROWTH ** bucket;
}

export class ReadinessHistogram {
  readonly counts: number[];

  constructor(
    counts: readonly number[] = [],
    private readonly maxCount = 2_000,
  ) {
    this.counts = Array.from({ length: READINESS_BUCKETS }, (_, i) => counts[i] ?? 0);
  }

  get total(): number {
    return this.counts.reduce((n, c) => n + c, 0);
  }

  observe(ms: number): void {
    this.counts[bucketOfWait(ms)]! += 1;
    if (this.total > this.maxCount) for (let i = 0; i < this.counts.length; i++) this.counts[i] = this.counts[i]! / 2;
  }

  /** The wait below which a fraction `q` of jobs became ready (upper bucket edge), or undefined with no data. */
  quantileMs(q: number): number | undefined {
    const total = this.total;
    if (total === 0) return undefined;
    let seen = 0;
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i]!;
      if (seen >= q * total) return upperEdgeMs(i);
    }
    return upperEdgeMs(this.counts.length - 1);
  }
}

export interface HedgePolicy {
  /** a job still not ready after `factor` x the observed p99 is hedged */
  factor: number;
  /** never before this (a few fast jobs do not make a tail) */
  floorMs: number;
  /** never after this: the longest a job is waited for (`readyMaxWaitMs`) */
  ceilingMs: number;
  /** observations needed before the p99 is trusted; until then a job is hedged only at the ceiling */
  minSamples: number;
}

export const HEDGE_DEFAULTS: Readonly<HedgePolicy> = Object.freeze({ factor: 3, floorMs: 20_000, ceilingMs: 600_000, minSamples: 30 });

/** When a job that is not ready yet gets a second request: `factor` x p99, within [floor, ceiling]. */
export function hedgeAfterMs(histogram: ReadinessHistogram, policy: HedgePolicy): number {
  const p99 = histogram.total >= policy.minSamples ? histogram.quantileMs(0.99) : undefined;
  if (p99 === undefined) return policy.ceilingMs;
  return Math.min(policy.ceilingMs, Math.max(policy.floorMs, policy.factor * p99));
}
