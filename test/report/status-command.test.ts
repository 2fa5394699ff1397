import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type Claim, type SlotResult, openManifest } from '../../src/manifest/index.js';
import {
  type CameraRow,
  type HourRow,
  MIN_WATCH_SECONDS,
  STATUS_DEFAULTS,
  type ShardRow,
  type StatusReport,
  type VehicleRow,
} from '../../src/report/index.js';
import { CLI, runCli, runMain } from '../helpers/cli.js';

let dir: string;
let manifestPath: string;
const H0 = Date.parse('2025-11-17T00:00:00Z') / 1000;

/** Outcomes for slots [from, to) of every camera of a claimed shard. */
function results(claim: Claim, from: number, to: number, outcome: SlotResult['outcome'], bytes = 0): SlotResult[] {
  return claim.cameras.flatMap((camera) =>
    Array.from({ length: to - from }, (_, k) => {
      const start = claim.hourStart + 30 * (from + k);
      const ok = outcome === 'ok' && {
        bytes,
        sha256: '0'.repeat(64),
        path: path.join(dir, 'out', `${claim.vehicle}_${camera}_${start}.bag`),
      };
      return { vehicle: claim.vehicle, camera, start, outcome, attempts: 1, atMs: Date.now(), ...ok };
    }),
  );
}

/**
 * Two vehicles × two hours × two cameras, worked on by one worker through the manifest API:
 * shard 1 (mallory 00:00) done: 115 ok + 5 missing per camera; shard 2 (mav 00:00) failed after 3 ok + 5 failed per camera;
 * shard 3 (mallory 01:00) released for quota after 10 ok per camera; shard 4 (mav 01:00) pending.
 */
beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'fc-status-'));
  manifestPath = path.join(dir, 'run', 'manifest.sqlite');
  const planned = await runMain([
    'plan',
    '--manifest',
    manifestPath,
    '--out',
    path.join(dir, 'out'),
    '--day',
    '2025-11-17',
    '--hours',
    '0-2',
    '--vehicles',
    'mallory,mav',
    '--cameras',
    'front,left',
    '--api-base',
    'http://127.0.0.1:9',
    '--token-file',
    path.join(dir, 'token'),
  ]);
  expect(planned.code).toBe(0);
  const m = openManifest(manifestPath);
  const worker = { workerId: 'test-w1', host: 'localhost', pid: process.pid };
  const claim = () => {
    const c = m.claimNextShard(worker);
    if (!c) throw new Error('nothing to claim');
    return c;
  };
  const c1 = claim();
  m.recordSlots(c1, [...results(c1, 0, 115, 'ok', 1_000_000), ...results(c1, 115, 120, 'missing')]);
  m.completeShard(c1);
  const c2 = claim();
  m.recordSlots(c2, [...results(c2, 0, 3, 'ok', 2_000_000), ...results(c2, 3, 8, 'failed')]);
  m.failShard(c2, 'slot mav left 2025-11-17T00:02:00Z failed after 5 attempts (HTTP 503)');
  const c3 = claim();
  m.recordSlots(c3, results(c3, 0, 10, 'ok', 1_500_000));
  m.releaseShard(c3, 'quota');
  m.close();
  expect([c1.shardId, c2.shardId, c3.shardId]).toEqual([1, 2, 3]);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const status = async (...extra: string[]) => {
  const r = await runMain(['status', '--manifest', manifestPath, ...extra]);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return r.stdout;
};

describe('fleetclip status', () => {
  test('the default table: per vehicle, a total line, and what needs doing', async () => {
    const lines = (await status()).trimEnd().split('\n');
    expect(lines[0]).toBe('campaign: 2025-11-17 in UTC; 2 vehicles; cameras front,left');
    expect(lines[2]?.split(/\s+/)).toEqual('vehicle done run pend rel fail ok missing invalid failed left GB clips/min ETA'.split(' '));
    // mallory: shard 1 done (230 ok, 10 missing), shard 3 released (20 ok); 480 slots
    expect(lines[3]?.split(/\s+/).slice(0, 13)).toEqual([
      'mallory',
      '1',
      '0',
      '0',
      '1',
      '0',
      '250',
      '10',
      '0',
      '0',
      '220',
      '0.26',
      expect.any(String),
    ]);
    // mav: shard 2 failed (6 ok, 10 failed), shard 4 pending
    expect(lines[4]?.split(/\s+/).slice(0, 12)).toEqual(['mav', '0', '0', '1', '0', '1', '6', '0', '0', '10', '464', '0.01']);
    expect(lines[6]?.split(/\s+/).slice(0, 12)).toEqual(['total', '1', '0', '1', '1', '1', '256', '10', '0', '10', '684', '0.27']);
    expect(lines[7]).toMatch(/^released: 1 shard \(quota\): the workspace or bucket cap was reached/);
    expect(lines[8]).toBe(
      'failed: 1 shard: fleetclip status --failed lists them with their last error; fleetclip run --retry-failed tries them again',
    );
  });

  test('--json: the documented document, with rates over the last 10 minutes', async () => {
    const doc = JSON.parse(await status('--json')) as StatusReport;
    expect(doc).toMatchObject({
      schemaVersion: 1,
      manifest: manifestPath,
      timeZone: 'UTC',
      days: ['2025-11-17'],
      by: 'vehicle',
      rateWindowMinutes: 10,
    });
    const [mallory, mav] = doc.rows as VehicleRow[];
    expect(mallory).toMatchObject({
      vehicle: 'mallory',
      shards: { total: 2, done: 1, running: 0, pending: 0, released: 1, failed: 0 },
      clips: { total: 480, ok: 250, missing: 10, invalid: 0, failed: 0, remaining: 220 },
      bytes: 230 * 1_000_000 + 20 * 1_500_000,
      clipsPerMin: 26, // 260 outcomes just recorded / 10 min
      etaSeconds: Math.round((220 / 26) * 60),
    });
    expect(mav?.clips).toEqual({ total: 480, ok: 6, missing: 0, invalid: 0, failed: 10, remaining: 464 });
    expect(doc.total.clipsPerMin).toBe(27.6);
    expect(doc.released).toEqual([{ reason: 'quota', shards: 1, advice: expect.any(String) }]);
    expect(doc.failedShards).toEqual([
      {
        id: 2,
        vehicle: 'mav',
        hourStart: H0,
        hourStartIso: '2025-11-17T00:00:00.000Z',
        localTime: '2025-11-17 00:00Z',
        attempts: 1,
        lastError: 'slot mav left 2025-11-17T00:02:00Z failed after 5 attempts (HTTP 503)',
      },
    ]);
  });

  test('--by hour, camera and shard', async () => {
    const hours = JSON.parse(await status('--by', 'hour', '--json')).rows as HourRow[];
    expect(hours.map((h) => [h.hourStartIso, h.shards.total, h.clips.ok, h.clips.failed])).toEqual([
      ['2025-11-17T00:00:00.000Z', 2, 236, 10],
      ['2025-11-17T01:00:00.000Z', 2, 20, 0],
    ]);
    const cameras = JSON.parse(await status('--by', 'camera', '--json')).rows as CameraRow[];
    expect(cameras.map((c) => [c.vehicle, c.camera, c.clips.ok, c.clips.missing, c.clips.failed, c.clips.remaining, c.bytes])).toEqual([
      ['mallory', 'front', 125, 5, 0, 110, 115e6 + 15e6],
      ['mallory', 'left', 125, 5, 0, 110, 115e6 + 15e6],
      ['mav', 'front', 3, 0, 5, 232, 6e6],
      ['mav', 'left', 3, 0, 5, 232, 6e6],
    ]);
    const shards = JSON.parse(await status('--by', 'shard', '--json')).rows as ShardRow[];
    expect(shards.map((s) => [s.id, s.state, s.releaseReason])).toEqual([
      [1, 'done', null],
      [2, 'failed', null],
      [3, 'released', 'quota'],
      [4, 'pending', null],
    ]);
    expect(await status('--by', 'shard')).toMatch(/^ 3\s+mallory\s+2025-11-17 01:00Z\s+released .*released: quota$/m);
    expect(await status('--by', 'hour')).toMatch(/^hour \(UTC\)\s+done/m);
    expect(await status('--by', 'camera')).toMatch(/^mav\s+left\s+3\s+0\s+0\s+5\s+232\s+0\.01$/m);
  });

  test('--failed lists failed shards with their last error', async () => {
    expect((await status('--failed')).trimEnd().split('\n')).toEqual([
      expect.stringMatching(/^id\s+vehicle\s+hour \(UTC\)\s+tries\s+last error$/),
      expect.stringMatching(/^ 2\s+mav\s+2025-11-17 00:00Z\s+1\s+slot mav left 2025-11-17T00:02:00Z failed after 5 attempts \(HTTP 503\)$/),
    ]);
  });

  test('--help lists every flag and quotes STATUS_DEFAULTS', async () => {
    const r = await runMain(['status', '--help']);
    expect(r.code).toBe(0);
    const help = r.stdout.replace(/\s+/g, ' ');
    for (const flag of ['manifest', 'by', 'failed', 'json', 'watch']) expect(help).toContain(`--${flag} `);
    expect(help).toContain(`(default ${STATUS_DEFAULTS.by})`);
    expect(help).toContain(`(default ${STATUS_DEFAULTS.watchSeconds}, at least ${MIN_WATCH_SECONDS})`);
  });

  test('refusals: missing manifest, bad --by, bad --watch', async () => {
    const missing = await runMain(['status', '--manifest', path.join(dir, 'nope.sqlite')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toBe(`fleetclip: no manifest at ${path.join(dir, 'nope.sqlite')}; \`fleetclip plan\` creates one\n`);
    const by = await runMain(['status', '--manifest', manifestPath, '--by', 'week']);
    expect(by).toMatchObject({ code: 2, stderr: "fleetclip: --by must be one of vehicle, hour, camera, shard, got 'week'\n" });
    const watch = await runMain(['status', '--manifest', manifestPath, '--watch', '0.1']);
    expect(watch).toMatchObject({ code: 2, stderr: "fleetclip: --watch takes seconds, at least 1, got '0.1'\n" });
  });
});

describe('fleetclip status, the built binary', () => {
  test('--json parses', async () => {
    const r = await runCli(['status', '--manifest', manifestPath, '--json']);
    expect(r.code).toBe(0);
    expect((JSON.parse(r.stdout) as StatusReport).total.clips.total).toBe(960);
  });

  test('--watch --json prints one document per refresh until SIGINT, then exits 0', async () => {
    const child = spawn(process.execPath, [CLI, 'status', '--manifest', manifestPath, '--watch', '1', '--json']);
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.split('\n').length > 2) child.kill('SIGINT');
    });
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).toBe(0);
    const docs = out
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as StatusReport);
    expect(docs.length).toBeGreaterThanOrEqual(2);
    expect(Date.parse(docs[1]?.generatedAt ?? '') - Date.parse(docs[0]?.generatedAt ?? '')).toBeGreaterThanOrEqual(900);
  }, 20_000);
});
