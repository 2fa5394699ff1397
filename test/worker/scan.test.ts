import { afterEach, describe, expect, test } from '@jest/globals';
import { spawn } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { CLI, runCli, runMain } from '../helpers/cli.js';
import { openManifest } from '../../src/manifest/index.js';
import type { ScanReport } from '../../src/report/index.js';
import { DAY, WORKER_FLAGS, compareWithTruth, exitOf, plannedCampaign, waitFor, type Campaign } from './campaign.js';

let campaign: Campaign | undefined;
afterEach(async () => {
  await campaign?.sim.close();
  if (campaign) await rm(campaign.dir, { recursive: true, force: true });
  campaign = undefined;
});

/** The simulator's runs of data of one vehicle and camera, [start, end) in UTC epoch seconds, from its truth. */
function truthRuns(c: Campaign, vehicle: string, camera: string, from: string, to: string): [number, number][] {
  const runs: [number, number][] = [];
  for (const { start } of c.sim.truth({ day: DAY, vehicle, camera, from, to })) {
    const last = runs.at(-1);
    if (last && last[1] === start) last[1] = start + 30;
    else runs.push([start, start + 30]);
  }
  return runs;
}

const runsOf = (report: ScanReport, vehicle: string, camera: string): [number, number][] =>
  report.rows.find((r) => r.vehicle === vehicle && r.camera === camera)!.runs.map((r) => [r.start, r.end]);

/** /v1/video requests the simulator saw, whatever it answered. */
const videoRequests = (c: Campaign): number => Object.values(c.sim.stats().requests.video ?? {}).reduce((a, b) => a + b, 0);

const VEHICLES = ['mav', 'megalodon'];
const CAMERAS = ['front-center', 'left-center'];

describe('fleetclip scan of a window', () => {
  test.each(['probe-all', 'gallop'])(
    'with --on-miss %s: every vehicle and camera has the runs of data of the truth; requests and jobs as the API counted them',
    async (onMiss) => {
      const c = (campaign = await plannedCampaign({ hours: '16-18', vehicles: 'mav', cameras: 'front-center' }));
      const window = ['--day', DAY, '--hours', '16-18', '--vehicles', VEHICLES.join(','), '--cameras', CAMERAS.join(',')];
      const api = ['--api-base', c.sim.baseUrl, '--token-file', c.tokenFile, '--api-rate', '2000', '--concurrency', '16'];
      c.sim.resetStats();
      const r = await runMain(['scan', ...window, ...api, '--on-miss', onMiss, '--json', '--progress', 'off']);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const report = JSON.parse(r.stdout) as ScanReport;
      let clips = 0;
      for (const vehicle of VEHICLES)
        for (const camera of CAMERAS) {
          const truth = truthRuns(c, vehicle, camera, '16:00', '18:00');
          expect({ vehicle, camera, runs: runsOf(report, vehicle, camera) }).toEqual({ vehicle, camera, runs: truth });
          clips += truth.reduce((n, [start, end]) => n + (end - start) / 30, 0);
        }
      expect(clips).toBeGreaterThan(200);
      expect(report.total).toMatchObject({ total: 960, data: clips, coveredSeconds: clips * 30 });
      expect(report.requests).toBe(videoRequests(c));
      expect(report.jobs).toBe(c.sim.stats().clipsRequested);
      if (onMiss === 'probe-all') expect(report).toMatchObject({ requests: 960, jobs: clips, total: { skipped: 0 } });
      else expect(report.requests).toBe(960 - report.total.skipped);
      expect(report.rows[0]!.runs[0]).toMatchObject({ startLocal: expect.stringMatching(/^2025-11-17 \d\d:\d\d:\d\dZ$/) });
    },
  );

  test('the text shows the cost, the table and each run in --tz, progress lines on stderr; a slot the API refuses is unknown (exit 1)', async () => {
    const c = (campaign = await plannedCampaign({ hours: '16-17', vehicles: 'mav', cameras: 'front-center' }));
    const api = ['--api-base', c.sim.baseUrl, '--token-file', c.tokenFile];
    const window = ['--day', DAY, '--hours', '8-9', '--tz', 'America/Los_Angeles', '--vehicles', 'mav', '--cameras', 'front-center'];
    // 120 requests at 100/s: a second or more, a progress line every 0.2 s
    const r = await runMain(['scan', ...window, ...api, '--api-rate', '100', '--progress', 'lines', '--progress-interval', '0.2']);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/^progress \d+\/120 slots \(\d+%\) \d+ with data {2}[\d.]+\/s {2}ETA \S+ {2}\d+ requests\n/);
    expect(r.stdout).toMatch(
      /^scan \(probe-all\): 120 requests to \/v1\/video; \d+ answered with a clip, each of which started a processing job/,
    );
    expect(r.stdout).toMatch(/\nmav {6}front-center {4}120/);
    const runs = truthRuns(c, 'mav', 'front-center', '16:00', '17:00'); // 08:00 in Los Angeles is 16:00 UTC in November
    expect(runs.length).toBeGreaterThan(0);
    expect(r.stdout).toContain('runs of data (America/Los_Angeles):\n');
    const first = new Date((runs[0]![0] - 8 * 3600) * 1000).toISOString().slice(0, 19).replace('T', ' ');
    expect(r.stdout).toMatch(new RegExp(`\\nmav {6}front-center  ${first}  \\d\\d:\\d\\d:\\d\\d +\\d`));

    // the simulator knows no camera 'roof': every request is refused (400), nothing can be told
    const refused = await runMain([
      'scan',
      '--day',
      DAY,
      '--hours',
      '16-17',
      '--vehicles',
      'mav',
      '--cameras',
      'roof',
      ...api,
      '--api-rate',
      '2000',
      '--progress',
      'off',
    ]);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toMatch(
      /\n120 slots could not be checked \(first: clip request refused: .* \[mav roof 2025-11-17T16:00:00\.000Z\]\)/,
    );
  });

  test.each([
    [['--day', DAY, '--vehicles', 'mav', '--cameras', 'front-center'], /^fleetclip: --api-base is required\n$/],
    [['--vehicles', 'mav', '--cameras', 'front-center', '--api-base', 'http://127.0.0.1:9'], /^fleetclip: --day is required\n$/],
    [['--day', '2999-01-01', '--vehicles', 'mav', '--cameras', 'c', '--api-base', 'http://127.0.0.1:9'], /serves only past UTC days/],
    [
      ['--manifest', 'm.sqlite', '--day', DAY, '--hours', '1-2'],
      /^fleetclip: --manifest scans the campaign's own window with its API settings: drop --day, --hours\n$/,
    ],
    [['--manifest', 'm.sqlite', '--on-miss', 'sometimes'], /^fleetclip: --on-miss must be probe-all, skip:SECS or gallop/],
    [['--manifest', 'm.sqlite', '--concurrency', '0'], /^fleetclip: --concurrency must be a positive integer number, got '0'\n$/],
  ])('%j is one line, exit 2', async (args, message) => {
    const r = await runMain(['scan', ...args]);
    expect(r.stderr).toMatch(message);
    expect(r.code).toBe(2);
  });
});

describe('fleetclip scan --manifest', () => {
  test('records each answer; scanning again asks nothing; a run then asks only for the slots with data', async () => {
    const c = (campaign = await plannedCampaign({ hours: '16-17', vehicles: 'mav', cameras: CAMERAS.join(',') }));
    const scan = ['scan', '--manifest', c.manifest, '--json', '--progress', 'off'];
    const first = await runMain(scan);
    expect(first.code).toBe(0);
    const report = JSON.parse(first.stdout) as ScanReport;
    expect(report).toMatchObject({ manifest: c.manifest, requests: 240, timeZone: 'UTC' });
    for (const camera of CAMERAS) expect(runsOf(report, 'mav', camera)).toEqual(truthRuns(c, 'mav', camera, '16:00', '17:00'));
    const m = openManifest(c.manifest, { readonly: true });
    try {
      expect(m.slotAvailability(1)).toHaveLength(240);
      expect(m.shardRows()[0]).toMatchObject({ state: 'pending', ok: 0, missing: 0 }); // a scan is not a download
    } finally {
      m.close();
    }

    const again = JSON.parse((await runMain(scan)).stdout) as ScanReport;
    expect(again.requests).toBe(0);
    expect(again.rows).toEqual(report.rows);

    c.sim.resetStats();
    const run = await runCli(['run', '--manifest', c.manifest, '--workers', '1', ...WORKER_FLAGS], { timeoutMs: 60_000 });
    expect(run.code).toBe(0);
    const clips = report.total.data;
    expect(videoRequests(c)).toBe(clips); // the 404s the scan found are not asked again
    const seen = await compareWithTruth(c, { vehicles: ['mav'], cameras: CAMERAS, from: '16:00', to: '17:00' });
    expect(seen).toMatchObject({ truth: clips, missing: [], duplicated: [], differ: [], extra: [] });
    const after = openManifest(c.manifest, { readonly: true });
    try {
      const results = after.slotResults(1);
      const empty = results.filter((r) => r.outcome === 'missing');
      expect(empty).toHaveLength(240 - clips);
      for (const r of empty) expect(r).toMatchObject({ attempts: 0, error: expect.stringMatching(/^no data when scanned 20\d\d-/) });
      expect(after.shardRows()[0]).toMatchObject({ state: 'done', ok: clips, missing: 240 - clips });
    } finally {
      after.close();
    }

    // after the run, a scan knows every slot from the downloads and asks nothing
    expect((JSON.parse((await runMain(scan)).stdout) as ScanReport).requests).toBe(0);
  }, 90_000);

  test('a slot a worker failed is asked again (its request may have failed before any answer); one it found missing is not', async () => {
    const c = (campaign = await plannedCampaign({ hours: '16-17', vehicles: 'mav', cameras: 'front-center' }));
    const m = openManifest(c.manifest);
    try {
      const claim = m.claimNextShard({ workerId: 'test-w1', host: 'localhost', pid: process.pid })!;
      const result = (k: number, outcome: 'failed' | 'missing') => ({
        vehicle: 'mav',
        camera: 'front-center',
        start: claim.hourStart + 30 * k,
        outcome,
        attempts: outcome === 'failed' ? 5 : 1,
        atMs: Date.now(),
        ...(outcome === 'failed' && { error: 'HTTP 503 after 5 attempts' }),
      });
      m.recordSlots(claim, [
        ...Array.from({ length: 10 }, (_, k) => result(k, 'failed')),
        ...Array.from({ length: 10 }, (_, k) => result(10 + k, 'missing')),
      ]);
      m.releaseShard(claim, 'signal');
    } finally {
      m.close();
    }
    const r = await runMain(['scan', '--manifest', c.manifest, '--json', '--progress', 'off']);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as ScanReport;
    expect(report.requests).toBe(110);
    expect(videoRequests(c)).toBe(110);
    // the failed slots (16:00-16:05) are answered from the API's truth, not taken as data
    const firstFive = truthRuns(c, 'mav', 'front-center', '16:00', '16:05');
    const fiveEnd = Date.parse(`${DAY}T16:05:00Z`) / 1000;
    const reported = runsOf(report, 'mav', 'front-center')
      .filter(([start]) => start < fiveEnd)
      .map(([start, end]): [number, number] => [start, Math.min(end, fiveEnd)]);
    expect(reported).toEqual(firstFive);
  }, 60_000);

  test('stopped by SIGINT it exits 10 with what was answered recorded; scanning again goes on from there', async () => {
    // ten hours of one camera at the campaign's 60 requests/s: about 20 s, answers recorded shard by shard
    const c = (campaign = await plannedCampaign({
      hours: '6-16',
      vehicles: 'mav',
      cameras: 'front-center',
      pacing: ['--api-rate', '60', '--min-time-ms', '5'],
    }));
    const answered = (): number => {
      const m = openManifest(c.manifest, { readonly: true });
      try {
        return m.plannedShards().reduce((n, s) => n + m.slotAvailability(s.id).length, 0);
      } finally {
        m.close();
      }
    };
    const child = spawn(process.execPath, [CLI, 'scan', '--manifest', c.manifest, '--json', '--progress', 'off'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = exitOf(child);
    await waitFor(() => answered() > 0, 60_000, 'the first shard scanned');
    child.kill('SIGINT');
    const stopped = await exited;
    expect(stopped.stderr).toMatch(/^fleetclip: stopped by SIGINT; what was answered is recorded in the manifest: scan again to go on\n$/);
    expect(stopped.code).toBe(10);
    const before = answered();
    expect(before).toBeGreaterThan(0);
    expect(before).toBeLessThan(1200);

    c.sim.resetStats();
    const rest = await runMain(['scan', '--manifest', c.manifest, '--json', '--progress', 'off']);
    expect(rest.code).toBe(0);
    const report = JSON.parse(rest.stdout) as ScanReport;
    expect(report.requests).toBe(1200 - before);
    expect(videoRequests(c)).toBe(1200 - before);
    expect(runsOf(report, 'mav', 'front-center')).toEqual(truthRuns(c, 'mav', 'front-center', '06:00', '16:00'));
    expect(answered()).toBe(1200);
  }, 120_000);
});
