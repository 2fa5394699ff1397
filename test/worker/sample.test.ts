import { afterEach, describe, expect, test } from '@jest/globals';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { runCli, runMain } from '../helpers/cli.js';
import { openManifest } from '../../src/manifest/index.js';
import type { ScanReport } from '../../src/report/index.js';
import { mintToken, startSimulator, type SimConfigInput } from '../../src/sim/index.js';
import { clipFileName } from '../../src/storage/index.js';
import { WORKER_FLAGS, exitOf, filesUnder, startWork, type Campaign } from './campaign.js';

let campaign: Campaign | undefined;
afterEach(async () => {
  await campaign?.sim.close();
  if (campaign) await rm(campaign.dir, { recursive: true, force: true });
  campaign = undefined;
});

const VEHICLES = ['mav', 'megalodon'];
const CAMERAS = ['front-center', 'left-center'];

/** A simulator and a fresh run folder; the sample is drawn by each test. */
async function sampleRig(sim: SimConfigInput = {}): Promise<Campaign> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'fc-sample-'));
  const tokenFile = path.join(dir, 'token');
  await writeFile(tokenFile, `${mintToken({ expiresAtSec: Math.floor(Date.now() / 1000) + 3600 })}\n`, { mode: 0o600 });
  const running = await startSimulator({ clipBytes: 64 * 1024, timeScale: 0.05, tokenFile, ...sim });
  return { dir, manifest: path.join(dir, 'run', 'manifest.sqlite'), out: path.join(dir, 'run', 'clips'), tokenFile, sim: running };
}

function sampleArgs(c: Campaign, extra: string[] = []): string[] {
  return [
    ...['sample', '--manifest', c.manifest, '--out', c.out, '--n', '10', '--lookback', '2d', '--min-gap', '10m'],
    ...['--vehicles', VEHICLES.join(','), '--cameras', CAMERAS.join(','), '--api-base', c.sim.baseUrl, '--token-file', c.tokenFile],
    ...['--api-rate', '500', '--max-concurrent', '8', '--min-time-ms', '5', '--clip-size', '65536', ...extra],
  ];
}

/** The drawn slots as the manifest holds them, by clip file name, and which of them the simulator has data for. */
function drawnSlots(c: Campaign): { name: string; hasData: boolean }[] {
  const m = openManifest(c.manifest, { readonly: true });
  try {
    return m.plannedShards().flatMap((shard) =>
      Object.entries(shard.slots!).flatMap(([camera, slotNos]) =>
        slotNos.map((slotNo) => {
          const start = shard.hourStart + slotNo * 30;
          const iso = new Date(start * 1000).toISOString();
          const [from, to] = [iso.slice(11, 16), new Date((start + 60) * 1000).toISOString().slice(11, 16)];
          const truth = c.sim.truth({ day: iso.slice(0, 10), vehicle: shard.vehicle, camera, from, to: to === '00:00' ? '24:00' : to });
          return { name: clipFileName(shard.vehicle, camera, start), hasData: truth.some((t) => t.start === start) };
        }),
      ),
    );
  } finally {
    m.close();
  }
}

describe('fleetclip sample', () => {
  test('draws n slots per vehicle and camera from the days before today; run downloads exactly those the truth has', async () => {
    const c = (campaign = await sampleRig());
    const preview = await runMain(sampleArgs(c, ['--seed', '11', '--dry-run']));
    expect(preview.code).toBe(0);
    expect(preview.stdout).toMatch(/\nsample: 10 slots per vehicle and camera at least 10m apart, drawn from .* with seed 11 /);
    expect(preview.stdout).toContain('slots (UTC)');

    const drawn = await runMain(sampleArgs(c, ['--seed', '11']));
    expect(drawn.stderr).toBe('');
    expect(drawn.code).toBe(0);
    expect(drawn.stdout).toMatch(/^planned \d+ shards? in .*manifest\.sqlite\nsample: 10 slots per vehicle and camera/);
    expect(drawn.stdout).toMatch(/ slots +40 clips of 30 s in \d+ shards/);

    const slots = drawnSlots(c);
    expect(slots).toHaveLength(40);
    const todayStart = Math.floor(Date.now() / 86_400_000) * 86_400;
    const m = openManifest(c.manifest, { readonly: true });
    try {
      for (const s of m.plannedShards()) expect(s.hourStart + 3600).toBeLessThanOrEqual(todayStart);
      expect(m.settings().sample).toMatchObject({ n: 10, seed: 11, windowEnd: todayStart, windowStart: todayStart - 2 * 86_400 });
    } finally {
      m.close();
    }
    const withData = slots.filter((s) => s.hasData).map((s) => s.name);
    expect(withData.length).toBeGreaterThan(0);

    const run = await runCli(['run', '--manifest', c.manifest, '--workers', '2', ...WORKER_FLAGS], { timeoutMs: 60_000 });
    expect(run.code).toBe(0);
    const files = (await filesUnder(c.out)).filter((f) => f.endsWith('.bag'));
    expect(files.map((f) => path.basename(f)).sort()).toEqual(withData.sort());
    expect(files.every((f) => /^(mav|megalodon)\/download1\//.test(f))).toBe(true);
    // the run asked for the drawn slots only
    expect(Object.values(c.sim.stats().requests.video ?? {}).reduce((a, b) => a + b, 0)).toBe(40);

    const status = JSON.parse((await runMain(['status', '--manifest', c.manifest, '--json'])).stdout) as {
      total: { clips: { total: number; ok: number; missing: number; remaining: number } };
    };
    expect(status.total.clips).toMatchObject({ total: 40, ok: withData.length, missing: 40 - withData.length, remaining: 0 });
    const byCamera = JSON.parse((await runMain(['status', '--manifest', c.manifest, '--json', '--by', 'camera'])).stdout) as {
      rows: { clips: { total: number } }[];
    };
    expect(byCamera.rows.map((r) => r.clips.total)).toEqual([10, 10, 10, 10]);
    expect((await runMain(['manifest', 'verify', '--manifest', c.manifest])).code).toBe(0);

    // the same flags and seed on the same day: nothing to do; another seed: another campaign, refused
    expect((await runMain(sampleArgs(c, ['--seed', '11']))).stdout).toMatch(/already holds this plan/);
    const other = await runMain(sampleArgs(c, ['--seed', '12']));
    expect(other.stderr).toMatch(
      /already holds a different campaign; a sample campaign cannot be changed or extended: give another --manifest\n$/,
    );
    expect(other.code).toBe(2);
  }, 90_000);

  test('without --seed a random one is drawn and printed; scan --manifest asks only the drawn slots, and run then only those with data', async () => {
    const c = (campaign = await sampleRig());
    const drawn = await runMain(sampleArgs(c, ['--json']));
    expect(drawn.code).toBe(0);
    const { sample } = JSON.parse(drawn.stdout) as { sample: { seed: number } };
    expect(Number.isInteger(sample.seed)).toBe(true);

    const scan = await runMain(['scan', '--manifest', c.manifest, '--json', '--progress', 'off']);
    expect(scan.code).toBe(0);
    const report = JSON.parse(scan.stdout) as ScanReport;
    const withData = drawnSlots(c).filter((s) => s.hasData).length;
    expect(report).toMatchObject({ requests: 40, jobs: withData, total: { total: 40, data: withData } });
    expect(report.rows.map((r) => r.slots.total)).toEqual([10, 10, 10, 10]);

    c.sim.resetStats();
    const run = await runCli(['run', '--manifest', c.manifest, '--workers', '1', ...WORKER_FLAGS], { timeoutMs: 60_000 });
    expect(run.code).toBe(0);
    expect(Object.values(c.sim.stats().requests.video ?? {}).reduce((a, b) => a + b, 0)).toBe(withData);
    expect((await filesUnder(c.out)).filter((f) => f.endsWith('.bag'))).toHaveLength(withData);
  }, 90_000);

  test("a worker runs a sample's shards of one slot many at once, as its window allows, not three at a time", async () => {
    // clips take 1.5-2 s to be ready: a shard with data stays open that long while the worker claims others
    const c = (campaign = await sampleRig({ timeScale: 1, processingDelayMs: { min: 1500, max: 2000 } }));
    const drawn = await runMain(sampleArgs(c, ['--seed', '5']).map((a, i, all) => (all[i - 1] === '--min-gap' ? '1h' : a)));
    expect(drawn.code).toBe(0);
    // 1 h apart: one vehicle's camera has each drawn slot in an hour of its own, a shard of one or two slots
    const shards = Number(/^planned (\d+) shards/.exec(drawn.stdout)?.[1]);
    expect(shards).toBeGreaterThanOrEqual(20);
    const worker = await exitOf(startWork(c, ['--log-level', 'info']));
    expect(worker.code).toBe(0);
    const logs = path.join(c.dir, 'run', 'logs');
    const [log] = await readdir(logs);
    let open = 0;
    let peak = 0;
    let ended = 0;
    for (const line of (await readFile(path.join(logs, log!), 'utf8')).trim().split('\n')) {
      const { message } = JSON.parse(line) as { message: string };
      if (/^shard \d+ claimed$/.test(message)) peak = Math.max(peak, ++open);
      if (/^shard \d+ (done|failed|released)$/.test(message)) {
        open--;
        ended++;
      }
    }
    expect(ended).toBe(shards);
    expect(peak).toBeGreaterThan(3);
  }, 90_000);

  test.each([
    [['--n', '0', '--lookback', '1d'], /^fleetclip: --n must be a positive integer number, got '0'\n$/],
    [['--n', '5', '--lookback', '3 days'], /^fleetclip: --lookback must be a duration such as 5d/],
    [['--n', '2000', '--lookback', '10h', '--min-gap', '30m'], /^fleetclip: --n 2000 is more than the 20 slots of 30 s at least 30m apart/],
    [['--n', '5', '--lookback', '1d', '--n', '6'], /^fleetclip: --n was given more than once\n$/],
  ])('%j is one line, exit 2', async (extra, message) => {
    const r = await runMain([
      ...['sample', '--manifest', '/nonexistent/m.sqlite', '--out', '/nonexistent/out'],
      ...['--vehicles', 'mav', '--cameras', 'front-center', '--api-base', 'http://127.0.0.1:9', ...extra],
    ]);
    expect(r.stderr).toMatch(message);
    expect(r.code).toBe(2);
  });
});
