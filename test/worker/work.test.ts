import { afterEach, describe, expect, test } from '@jest/globals';
import { readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { runCli } from '../helpers/cli.js';
import { openManifest } from '../../src/manifest/index.js';
import { mintToken } from '../../src/sim/index.js';
import { StopController, runWorker } from '../../src/worker/index.js';
import {
  compareWithTruth,
  exitOf,
  filesUnder,
  plannedCampaign,
  shardRow,
  startWork,
  waitFor,
  type Campaign,
  planArgs,
} from './campaign.js';

let campaign: Campaign | undefined;
afterEach(async () => {
  await campaign?.sim.close();
  if (campaign) await rm(campaign.dir, { recursive: true, force: true });
  campaign = undefined;
});

const MAV_16 = { vehicles: ['mav'], cameras: ['front-center', 'left-center'], from: '16:00', to: '17:00' };
const EXPECT_EXACT = { missing: [], duplicated: [], differ: [], misplaced: [], extra: [], other: [] };

const bagCount = async (c: Campaign) => (await filesUnder(c.out)).filter((f) => f.endsWith('.bag')).length;

describe('fleetclip work', () => {
  test('SIGKILL mid-download: another worker takes the shard over once the lease expires; nothing duplicated or partial', async () => {
    const c = (campaign = await plannedCampaign({
      hours: '16-17',
      vehicles: 'mav',
      cameras: 'front-center,left-center',
      sim: { clipBytes: 512 * 1024 },
    }));
    const first = startWork(c, ['--lease', '3', '--heartbeat', '1']);
    const firstExit = exitOf(first);
    const partial = path.join(c.out, '.partial');
    await waitFor(
      async () => (await bagCount(c)) >= 20 && (await readdir(partial).catch(() => [])).length > 0,
      30_000,
      'a download in progress',
    );
    first.kill('SIGKILL');
    expect((await firstExit).signal).toBe('SIGKILL');
    expect(shardRow(c).state).toBe('running'); // nobody released it: the lease must run out

    await new Promise((r) => setTimeout(r, 3_500));
    const second = await exitOf(startWork(c));
    expect(second.code).toBe(0);
    expect(shardRow(c)).toMatchObject({ state: 'done', attempts: 2 });
    expect(await compareWithTruth(c, MAV_16)).toMatchObject(EXPECT_EXACT);
    expect(await filesUnder(partial)).toEqual([]);
  }, 60_000);

  test('SIGTERM: in-flight clips finish, the shard is released with its progress kept, exit 10; a new worker resumes it', async () => {
    const c = (campaign = await plannedCampaign({ hours: '16-17', vehicles: 'mav', cameras: 'front-center,left-center' }));
    const worker = startWork(c, ['--grace', '5']);
    const exited = exitOf(worker);
    await waitFor(async () => (await bagCount(c)) >= 20, 30_000, '20 clips');
    worker.kill('SIGTERM');
    const { code, stderr } = await exited;
    expect(code).toBe(10);
    expect(stderr).toContain('released (signal), progress kept');
    const row = shardRow(c);
    expect(row).toMatchObject({ state: 'released', releaseReason: 'signal' });
    expect(row.ok).toBe(await bagCount(c)); // every clip on disk is recorded, none is half-placed
    expect(row.ok).toBeLessThan(150);
    expect(await filesUnder(path.join(c.out, '.partial'))).toEqual([]);

    const resumed = await exitOf(startWork(c, ['--log-level', 'debug']));
    expect(resumed.code).toBe(0);
    expect(resumed.stderr).toMatch(/shard 1 done .*resumed=[1-9]/);
    expect(await compareWithTruth(c, MAV_16)).toMatchObject(EXPECT_EXACT);
  }, 60_000);

  test('a resumed shard polls the clips its predecessor had already requested instead of cutting them again', async () => {
    // clips take 3 s to cut, so a worker stopped after ~1 s leaves requested clips behind
    const c = (campaign = await plannedCampaign({
      hours: '16-17',
      vehicles: 'mav',
      cameras: 'front-center',
      sim: { timeScale: 1, processingDelayMs: { min: 3000, max: 3000 } },
    }));
    const cuts = () => c.sim.stats().requests.video?.['200'] ?? 0;
    const worker = startWork(c, ['--grace', '0']);
    const exited = exitOf(worker);
    await waitFor(() => cuts() >= 4, 20_000, '4 clips requested');
    worker.kill('SIGTERM');
    expect((await exited).code).toBe(10);
    const m = openManifest(c.manifest, { readonly: true });
    const remembered = m.rememberedRequests(1).length;
    m.close();
    const cutBefore = cuts();
    // every clip the worker heard of is remembered; only a request whose answer was on the wire when the worker
    // stopped (at most one per clip in flight, 8) can have been cut without its name reaching the worker
    expect(remembered).toBeGreaterThan(0);
    expect(cutBefore - remembered).toBeGreaterThanOrEqual(0);
    expect(cutBefore - remembered).toBeLessThanOrEqual(8);
    expect(await bagCount(c)).toBe(0);

    const resumed = await exitOf(startWork(c, ['--max-concurrent', '64']));
    expect(resumed.code).toBe(0);
    const okClips = shardRow(c).ok;
    expect(okClips).toBe(await bagCount(c));
    expect(cuts()).toBe(okClips + (cutBefore - remembered)); // no remembered clip was cut twice
    expect(await compareWithTruth(c, { ...MAV_16, cameras: ['front-center'] })).toMatchObject(EXPECT_EXACT);
  }, 60_000);

  test("the peak RSS a worker reports is its own, not its parent's (getrusage keeps the parent's across exec)", async () => {
    const c = (campaign = await plannedCampaign({ hours: '16-17', vehicles: 'mav', cameras: 'front-center' }));
    const ballast = Buffer.alloc(400 * 2 ** 20, 1); // 400 MB more resident in this process, the worker's parent
    const r = await exitOf(startWork(c, ['--deadline', '+1s'])); // too near to claim a shard: the worker ends at once
    expect(ballast[ballast.length - 1]).toBe(1);
    expect(r.stderr).toContain('time limit');
    const peakMb = Number(/peakRssMb=(\d+)/.exec(r.stderr)?.[1]);
    expect(peakMb).toBeGreaterThan(20);
    expect(peakMb).toBeLessThan(300);
  });

  test('the workspace cap stops the worker: shard released with reason quota, exit 6, status says what to do', async () => {
    const c = (campaign = await plannedCampaign({
      hours: '16-17',
      vehicles: 'mav',
      cameras: 'front-center,left-center',
      plan: ['--bucket-cap', '512KiB', '--workspace-cap', '1MiB'],
    }));
    const r = await exitOf(startWork(c));
    expect(r.code).toBe(6);
    expect(r.stderr).toContain('workspace cap reached');
    expect(shardRow(c)).toMatchObject({ state: 'released', releaseReason: 'quota' });
    const files = (await filesUnder(c.out)).filter((f) => f.endsWith('.bag'));
    expect(files.length).toBeGreaterThan(5);
    expect(files.length).toBeLessThan(30); // 1 MiB is ~16 clips, plus what was in flight
    const status = await runCli(['status', '--manifest', c.manifest]);
    expect(status.stdout).toMatch(/quota/);
    // a second worker does not even claim
    const again = await exitOf(startWork(c));
    expect(again.code).toBe(6);
  }, 60_000);

  test('a token that expires mid-run is picked up renewed from the token file; every clip arrives', async () => {
    const c = (campaign = await plannedCampaign({ hours: '16-17', vehicles: 'mav', cameras: 'front-center,left-center' }));
    // minted now, not before planning: it lives at least 3 s of the worker's run (JWT exp is whole seconds)
    await writeFile(c.tokenFile, `${mintToken({ expiresAtSec: Math.ceil(Date.now() / 1000) + 3 })}\n`);
    const worker = startWork(c);
    const exited = exitOf(worker);
    let stderr = '';
    worker.stderr!.on('data', (t: string) => (stderr += t));
    await waitFor(() => stderr.includes('the Batch API refused the token'), 30_000, 'the worker to meet the expired token');
    expect(stderr).toContain(`put a new token in ${c.tokenFile}; waiting up to 15m for it`);
    expect(worker.exitCode).toBeNull(); // it said it waits for a renewal
    await writeFile(c.tokenFile, `${mintToken({ expiresAtSec: Date.now() / 1000 + 3600 })}\n`);
    const r = await exited;
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`picked up a new token from ${c.tokenFile}`);
    expect(await compareWithTruth(c, MAV_16)).toMatchObject(EXPECT_EXACT);
  }, 60_000);

  test('probe-all and gallop recover the whole truth of a day with gaps; skip:300 loses clips; gallop asks less than probe-all', async () => {
    // 16:00-18:00: drives with short and long gaps between them
    const c = (campaign = await plannedCampaign({
      hours: '16-18',
      vehicles: 'mav',
      cameras: 'front-center,left-center',
      sim: { timeScale: 0.02 },
    }));
    const q = { vehicles: ['mav'], cameras: ['front-center', 'left-center'], from: '16:00', to: '18:00' };
    const results: Record<string, { videoRequests: number; missing: number; truth: number }> = {};
    for (const onMiss of ['probe-all', 'gallop', 'skip:300']) {
      await rm(c.out, { recursive: true, force: true });
      await rm(path.dirname(c.manifest), { recursive: true, force: true });
      const planned = await runCli(
        planArgs(c, { hours: '16-18', vehicles: 'mav', cameras: 'front-center,left-center', plan: ['--on-miss', onMiss] }),
      );
      expect(planned.code).toBe(0);
      c.sim.resetStats();
      let stderr = '';
      const r = await runWorker(
        { manifestPath: c.manifest, progress: 'off', clipOptions: { minClipBytes: 32768 } },
        { stderr: { write: (t: string) => (stderr += t) } },
        { stop: new StopController(1000) },
      );
      expect({ onMiss, code: r.exitCode }).toEqual({ onMiss, code: 0 });
      const seen = await compareWithTruth(c, q);
      const video = c.sim.stats().requests.video ?? {};
      results[onMiss] = { videoRequests: Object.values(video).reduce((a, b) => a + b, 0), missing: seen.missing.length, truth: seen.truth };
      expect(seen.duplicated).toEqual([]);
      expect(r.shards.reduce((n, s) => n + s.clipRequests, 0)).toBeLessThanOrEqual(results[onMiss]!.videoRequests);
      expect(stderr).toContain(`strategy=${onMiss === 'gallop' ? 'gallop:240' : onMiss}`);
      process.stderr.write(`on-miss ${onMiss}: ${JSON.stringify(results[onMiss])}\n`);
    }
    expect(results['probe-all']).toMatchObject({ missing: 0 });
    expect(results.gallop).toMatchObject({ missing: 0 });
    expect(results['skip:300']!.missing).toBeGreaterThan(0);
    expect(results.gallop!.videoRequests).toBeLessThan(results['probe-all']!.videoRequests);
    expect(results['probe-all']!.truth).toBeGreaterThan(200);
  }, 90_000);
});
