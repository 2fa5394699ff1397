import { describe, expect, test } from '@jest/globals';
import { READINESS_BUCKETS, readinessBucketOf as bucketOfWait, readinessUpperEdgeMs as upperEdgeMs } from '../../src/plan/model.js';
import { HEDGE_DEFAULTS, ReadinessHistogram, hedgeAfterMs } from '../../src/worker/readiness.js';
import { HedgeLedger } from '../../src/worker/ready.js';

describe('the readiness histogram', () => {
  test('a wait falls in the bucket whose upper edge is above it', () => {
    for (const ms of [0, 5, 10, 11, 250, 2_500, 20_000, 180_000, 600_000]) {
      const b = bucketOfWait(ms);
      expect(upperEdgeMs(b)).toBeGreaterThan(ms);
      if (b > 0) expect(upperEdgeMs(b - 1)).toBeLessThanOrEqual(ms);
    }
    expect(bucketOfWait(1e12)).toBe(READINESS_BUCKETS - 1);
  });

  test('quantiles: 99 fast jobs and one slow one; p50 fast, p99 fast, max slow', () => {
    const h = new ReadinessHistogram();
    for (let i = 0; i < 99; i++) h.observe(1_000 + i * 10);
    h.observe(200_000);
    expect(h.quantileMs(0.5)).toBeLessThan(1_500 * 1.25); // one bucket is 25 % wide
    expect(h.quantileMs(0.99)).toBeLessThan(2_500);
    expect(h.quantileMs(1)).toBeGreaterThan(200_000);
    expect(new ReadinessHistogram().quantileMs(0.99)).toBeUndefined();
  });

  test("what is new since the last report is handed over once, unfaded; the campaign's counts replace the own", () => {
    const h = new ReadinessHistogram([], 10);
    for (let i = 0; i < 12; i++) h.observe(1_000);
    expect(h.total).toBeLessThanOrEqual(10); // faded
    expect(h.takeNew()[bucketOfWait(1_000)]).toBe(12);
    expect(h.takeNew().every((c) => c === 0)).toBe(true);
    h.replace([0, 3]);
    expect(h.total).toBe(3);
  });

  test('counts of two workers add up; old observations fade once the histogram is full', () => {
    const a = new ReadinessHistogram([], 100);
    for (let i = 0; i < 100; i++) a.observe(500);
    for (let i = 0; i < 60; i++) a.observe(50_000);
    // halved at 101: the slow jobs now dominate the median
    expect(a.total).toBeLessThanOrEqual(100);
    expect(a.quantileMs(0.5)).toBeGreaterThan(40_000);
    const sum = new ReadinessHistogram(a.counts.map((c, i) => c + (i === bucketOfWait(500) ? 10 : 0)));
    expect(sum.total).toBeCloseTo(a.total + 10);
  });
});

describe('when to hedge', () => {
  const policy = { ...HEDGE_DEFAULTS, floorMs: 1_000, ceilingMs: 60_000, minSamples: 10 };

  test('3 x p90 of what was seen, within floor and ceiling; the ceiling until enough is known', () => {
    const h = new ReadinessHistogram();
    for (let i = 0; i < 9; i++) h.observe(2_000);
    expect(hedgeAfterMs(h, policy)).toBe(60_000);
    h.observe(2_000);
    const p90 = h.quantileMs(0.9)!;
    expect(hedgeAfterMs(h, policy)).toBeCloseTo(3 * p90);
    expect(
      hedgeAfterMs(
        new ReadinessHistogram(
          Array(READINESS_BUCKETS)
            .fill(0)
            .map((_, i) => (i === 0 ? 50 : 0)),
        ),
        policy,
      ),
    ).toBe(1_000);
    const slow = new ReadinessHistogram();
    for (let i = 0; i < 20; i++) slow.observe(40_000);
    expect(hedgeAfterMs(slow, policy)).toBe(60_000);
  });

  test("the vendor's 1 % of long jobs are a rare tail, hedged after about a minute; when they are the norm they are waited for", () => {
    const h = new ReadinessHistogram();
    for (let i = 0; i < 990; i++) h.observe(1_000 + (i % 19) * 1_000); // 1-20 s
    for (let i = 0; i < 10; i++) h.observe(150_000 + i * 7_500); // 1 % take 150-225 s
    const rare = hedgeAfterMs(h, { ...HEDGE_DEFAULTS, ceilingMs: 600_000 });
    expect(rare).toBeGreaterThan(3 * 18_000);
    expect(rare).toBeLessThan(90_000);
    for (let i = 0; i < 150; i++) h.observe(150_000 + (i % 10) * 7_500); // now 14 % of jobs are long
    expect(hedgeAfterMs(h, { ...HEDGE_DEFAULTS, ceilingMs: 600_000 })).toBeGreaterThan(225_000);
  });
});

describe('the hedge ledger', () => {
  test("hedges stay within the share: a worker's own (after a burst of 2), or the campaign's once it knows it", () => {
    const ledger = new HedgeLedger(0.05);
    ledger.requests = 40;
    expect(ledger.mayHedge()).toBe(true); // 1 <= max(2, 2)
    ledger.hedges = 2;
    expect(ledger.mayHedge()).toBe(false); // its own share is spent: 3 > 2
    // the other workers have made 2,000 clip requests and 20 hedges: 23 of 2,040 is well under 5 %
    ledger.campaignTotals({ clipRequests: 2_040, hedges: 22 }, { clipRequests: 40, hedges: 2 });
    expect(ledger.mayHedge()).toBe(true);
    // the campaign at its share: 102 others + 2 own + this one = 105 > 5 % of 2,080
    ledger.campaignTotals({ clipRequests: 2_080, hedges: 104 }, { clipRequests: 40, hedges: 2 });
    expect(ledger.mayHedge()).toBe(false);
  });
});
