import { afterEach, describe, expect, test } from '@jest/globals';
import { rm } from 'node:fs/promises';
import type { ApiLimits } from '../../src/api/index.js';
import type { SimConfigInput } from '../../src/sim/index.js';
import { StopController, runWorker, type ClipOptions, type WorkerRunResult } from '../../src/worker/index.js';
import { compareWithTruth, plannedCampaign, type Campaign } from './campaign.js';

const campaigns: Campaign[] = [];
afterEach(async () => {
  for (const c of campaigns.splice(0)) {
    await c.sim.close();
    await rm(c.dir, { recursive: true, force: true });
  }
});

const WINDOW = { vehicles: ['mav'], cameras: ['front-center', 'left-center'], from: '16:00', to: '18:00' };
const EXACT = { missing: [], duplicated: [], differ: [], misplaced: [], extra: [], other: [] };

/** One worker, in this process, over 16:00-18:00 of mav (or `window`); its result, wall time and what the simulator saw. */
async function oneWorker(
  sim: SimConfigInput,
  clipOptions: Partial<ClipOptions> = {},
  {
    apiLimits = {},
    hours = '16-18',
    cameras = 'front-center,left-center',
    pacing,
  }: { apiLimits?: Partial<ApiLimits>; hours?: string; cameras?: string; pacing?: string[] } = {},
) {
  const c = await plannedCampaign({ hours, vehicles: 'mav', cameras, sim, ...(pacing && { pacing }) });
  campaigns.push(c);
  const t0 = Date.now();
  const result: WorkerRunResult = await runWorker(
    { manifestPath: c.manifest, progress: 'off', clipOptions: { minClipBytes: 32768, ...clipOptions }, apiLimits },
    { stderr: { write: () => undefined } },
    { stop: new StopController(1000) },
  );
  const ms = Date.now() - t0;
  const hedges = result.shards.reduce((n, s) => n + s.hedges, 0);
  const clipRequests = result.shards.reduce((n, s) => n + s.clipRequests, 0);
  return { c, result, ms, hedges, clipRequests, stats: c.sim.stats() };
}

describe('the long tail', () => {
  test('jobs that never become ready are hedged: every clip arrives, within 2x the time of the same window without them', async () => {
    // processing 15-125 ms (x0.05); a job hedged after 3 x p99, at least 1 s
    const hedging = { hedgeFloorMs: 1_000, hedgeMinSamples: 10 };
    const clean = await oneWorker({ timeScale: 0.05 }, hedging);
    expect(clean.result.exitCode).toBe(0);
    expect(clean.hedges).toBe(0);

    const tail = await oneWorker({ timeScale: 0.05, faults: { neverReadyRate: 0.03, neverReadyStatus: 500 } }, hedging);
    expect(tail.result.exitCode).toBe(0);
    expect(await compareWithTruth(tail.c, WINDOW)).toMatchObject(EXACT);
    const neverReady = tail.stats.faults['never-ready'] ?? 0;
    expect(neverReady).toBeGreaterThan(3);
    // every never-ready job that held up a clip took a hedge (a hedge may itself never be ready: then another)
    expect(tail.hedges).toBeGreaterThanOrEqual(neverReady - 1);
    expect(tail.hedges).toBeLessThanOrEqual(Math.max(2, 0.05 * tail.clipRequests) + 1);
    process.stderr.write(
      `clean ${clean.ms} ms, never-ready ${tail.ms} ms, hedges ${tail.hedges}/${tail.clipRequests}, never-ready jobs ${neverReady}\n`,
    );
    expect(tail.ms).toBeLessThanOrEqual(2 * clean.ms + 2_000); // the hedge floor: one second, twice at worst
  }, 90_000);

  test('long jobs that do finish: a rare tail is hedged (a hedge each, no more); a common one is waited for, no storm', async () => {
    // jobs that take 150-225 s (x0.01: 1.5-2.25 s) against a normal 3-25 ms; a hedge after 3 x p90, at least 0.2 s
    const hedging = { hedgeFloorMs: 200, hedgeMinSamples: 10 };
    const rare = await oneWorker({ timeScale: 0.01, faults: { longJobRate: 0.02 } }, hedging, { cameras: 'front-center' });
    expect(rare.result.exitCode).toBe(0);
    const rareLong = rare.stats.faults['long-job'] ?? 0;
    expect(rare.hedges).toBeLessThanOrEqual(rareLong + 2); // a long job or two may need a second hedge
    const common = await oneWorker({ timeScale: 0.01, faults: { longJobRate: 0.25 } }, hedging, { cameras: 'front-center' });
    expect(common.result.exitCode).toBe(0);
    expect(await compareWithTruth(common.c, { ...WINDOW, cameras: ['front-center'] })).toMatchObject(EXACT);
    const commonLong = common.stats.faults['long-job'] ?? 0;
    expect(commonLong).toBeGreaterThan(20);
    // once a quarter of the jobs are known to be long, they are the norm: hedges stay a small share, far below them
    expect(common.hedges).toBeLessThanOrEqual(Math.max(2, 0.05 * common.clipRequests));
    expect(common.hedges).toBeLessThan(commonLong / 2);
  }, 120_000);

  test('a slot whose every job times out is requested afresh a bounded number of times, then fails; the shard stays resubmittable', async () => {
    // no job ever becomes ready; hedging off (its floor above the ceiling); a job is given up after 0.25 s
    const stuck = await oneWorker(
      { timeScale: 0.05, faults: { neverReadyRate: 1, neverReadyStatus: 404 } },
      { hedgeFloorMs: 100_000, freshRequests: 1 },
      { apiLimits: { readyMaxWaitMs: 250 }, hours: '16-17', cameras: 'front-center' },
    );
    expect(stuck.result.exitCode).toBe(1);
    const [shard] = stuck.result.shards;
    expect(shard).toMatchObject({ state: 'failed', ok: 0, hedges: 0 });
    expect(shard!.failed).toBeGreaterThan(20);
    // each clip with data: its first request, then one fresh request; a slot without data: one request (a 404)
    expect(stuck.stats.requests.video?.['200']).toBe(2 * shard!.failed);
    expect(shard!.note).toMatch(/clip\(s\) failed after retries/);
  }, 60_000);
});

describe('the window', () => {
  test('at realistic latency (x0.2) one worker with the default settings keeps its budget at least 80 % used', async () => {
    // the vendor's processing, 1-20 s, and its 20 requests/s, both scaled by 0.2: 0.2-4 s and 100/s (429 beyond);
    // the campaign's budget 80/s; every other setting the default (a window of up to 64 clips, 10 ms between requests)
    const busy = await oneWorker(
      { timeScale: 0.2, processingDelayMs: { min: 1_000, max: 20_000 }, rateLimitPerSec: 100 },
      {},
      { pacing: ['--api-rate', '80'] },
    );
    expect(busy.result.exitCode).toBe(0);
    expect(await compareWithTruth(busy.c, WINDOW)).toMatchObject(EXACT);
    const { budget } = busy.result;
    process.stderr.write(`budget: ${JSON.stringify(budget)}; ${busy.clipRequests} clip requests in ${busy.ms} ms\n`);
    expect(budget?.sharePerSec).toBe(80);
    expect(budget!.use).toBeGreaterThanOrEqual(0.8);
    expect(budget!.use).toBeLessThanOrEqual(1.15); // never above the budget but for its first second's worth: the bucket starts full
  }, 120_000);
});
