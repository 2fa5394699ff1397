import { describe, expect, test } from '@jest/globals';
import { readinessBucketOf } from '../../src/plan/model.js';
import type { ShardStatusRow, SlotCountRow } from '../../src/manifest/types.js';
import type { CampaignSettings } from '../../src/plan/index.js';
import {
  type CameraRow,
  type HourRow,
  type ShardRow,
  type StatusInput,
  type VehicleRow,
  buildStatusReport,
  renderFailedShards,
  renderStatusText,
} from '../../src/report/index.js';

const H0 = Date.parse('2025-11-17T08:00:00Z') / 1000; // 00:00 in Los Angeles
const H1 = H0 + 3600;
const settings: CampaignSettings = {
  apiBase: 'http://127.0.0.1:9',
  tokenFile: '/home/ada/.config/fleetclip/token',
  outDir: '/scratch/out',
  vehicles: ['mallory', 'mav'],
  cameras: ['front', 'left'],
  days: ['2025-11-17'],
  timeZone: 'America/Los_Angeles',
  onMiss: { kind: 'probe-all' },
  apiRatePerSec: 20,
  maxConcurrent: 4,
  minTimeMs: 200,
  bucketCapBytes: 1e9,
  workspaceCapBytes: 2e9,
  clipBytesEstimate: 2e6,
  journal: 'delete',
};

const shard = (over: Partial<ShardStatusRow> & Pick<ShardStatusRow, 'id' | 'vehicle' | 'hourStart' | 'state'>): ShardStatusRow => ({
  cameras: ['front', 'left'],
  attempts: 0,
  slotsTotal: 240,
  ok: 0,
  missing: 0,
  invalid: 0,
  failed: 0,
  bytes: 0,
  ...over,
});

const shards: ShardStatusRow[] = [
  shard({ id: 1, vehicle: 'mallory', hourStart: H0, state: 'done', attempts: 1, ok: 230, missing: 10, bytes: 230e6 }),
  shard({
    id: 2,
    vehicle: 'mav',
    hourStart: H0,
    state: 'running',
    attempts: 1,
    owner: '77_3',
    leaseUntilMs: Date.parse('2025-12-01T12:02:00Z'),
    ok: 100,
    bytes: 100e6,
  }),
  shard({
    id: 3,
    vehicle: 'mallory',
    hourStart: H1,
    state: 'failed',
    attempts: 5,
    ok: 200,
    failed: 40,
    bytes: 200e6,
    lastError: 'slot failed after 5 attempts:\nHTTP 503',
  }),
  shard({ id: 4, vehicle: 'mav', hourStart: H1, state: 'released', attempts: 1, ok: 20, invalid: 1, bytes: 20e6, releaseReason: 'quota' }),
];
const slotCounts: SlotCountRow[] = [
  { vehicle: 'mallory', camera: 'front', hourStart: H0, outcome: 'ok', count: 120, bytes: 120e6 },
  { vehicle: 'mallory', camera: 'left', hourStart: H0, outcome: 'ok', count: 110, bytes: 110e6 },
  { vehicle: 'mallory', camera: 'left', hourStart: H0, outcome: 'missing', count: 10, bytes: 0 },
  { vehicle: 'mallory', camera: 'front', hourStart: H1, outcome: 'ok', count: 120, bytes: 120e6 },
  { vehicle: 'mallory', camera: 'left', hourStart: H1, outcome: 'ok', count: 80, bytes: 80e6 },
  { vehicle: 'mallory', camera: 'left', hourStart: H1, outcome: 'failed', count: 40, bytes: 0 },
  { vehicle: 'mav', camera: 'front', hourStart: H0, outcome: 'ok', count: 100, bytes: 100e6 },
  { vehicle: 'mav', camera: 'front', hourStart: H1, outcome: 'ok', count: 20, bytes: 20e6 },
  { vehicle: 'mav', camera: 'left', hourStart: H1, outcome: 'invalid', count: 1, bytes: 0 },
];
const input: StatusInput = {
  manifestPath: '/scratch/run/manifest.sqlite',
  settings,
  shards,
  slotCounts,
  recent: [{ vehicle: 'mav', count: 50 }],
  rateWindowMs: 10 * 60_000,
  nowMs: Date.parse('2025-12-01T12:00:00Z'),
  activity: { workers: 2, inflight: 37, window: 48, clipRequests: 2_400, hedges: 12, grantedPerSec: 18 },
  // 90 jobs ready in ~2 s, 10 in ~20 s
  readiness: Object.assign(Array<number>(64).fill(0), { [readinessBucketOf(2_000)]: 90, [readinessBucketOf(20_000)]: 10 }),
  requestRate: 20,
};

describe('buildStatusReport', () => {
  test('the workers: in flight, readiness quantiles, budget use and hedges', () => {
    const { workers } = buildStatusReport(input);
    expect(workers).toMatchObject({
      active: 2,
      clipsInFlight: 37,
      window: 48,
      budgetPerSec: 20,
      grantedPerSec: 18,
      budgetUse: 0.9,
      clipRequests: 2_400,
      hedges: 12,
    });
    expect(workers.readyP50Ms).toBeGreaterThanOrEqual(2_000);
    expect(workers.readyP50Ms).toBeLessThan(2_500);
    expect(workers.readyP99Ms).toBeGreaterThanOrEqual(20_000);
    expect(renderStatusText(buildStatusReport(input))).toMatch(
      /\nworkers: 2 active, 37 clips in flight \(windows 48\); clips ready in p50 2\.\ds, p99 2\ds; budget 18\.0 of 20\.0 requests\/s used \(90 %, last 5 min\); 12 hedge\(s\) in 2,400 clip requests\n/,
    );
  });

  test('per vehicle: shard states, clip outcomes, bytes, rate and ETA', () => {
    const report = buildStatusReport(input);
    expect(report.by).toBe('vehicle');
    const [mallory, mav] = report.rows as VehicleRow[];
    expect(mallory).toEqual({
      vehicle: 'mallory',
      shards: { total: 2, done: 1, running: 0, pending: 0, released: 0, failed: 1 },
      clips: { total: 480, ok: 430, missing: 10, invalid: 0, failed: 40, remaining: 0 },
      bytes: 430e6,
      clipsPerMin: 0,
      etaSeconds: 0,
    });
    // mav: 480 slots, 121 with an outcome → 359 left at 5 clips/min → 71.8 min
    expect(mav).toMatchObject({
      shards: { total: 2, done: 0, running: 1, pending: 0, released: 1, failed: 0 },
      clips: { total: 480, ok: 120, missing: 0, invalid: 1, failed: 0, remaining: 359 },
      clipsPerMin: 5,
      etaSeconds: Math.round((359 / 5) * 60),
    });
    expect(report.total).toMatchObject({
      shards: { total: 4, done: 1, running: 1, pending: 0, released: 1, failed: 1 },
      clips: { total: 960, ok: 550, remaining: 359 },
      bytes: 550e6,
      clipsPerMin: 5,
      etaSeconds: 4308,
    });
  });

  test('a vehicle that has work left and no recent outcomes has no ETA', () => {
    const report = buildStatusReport({ ...input, recent: [] });
    expect((report.rows as VehicleRow[])[1]?.etaSeconds).toBeNull();
    expect(renderStatusText(report)).toMatch(/^mav .* 0\.0\s+-$/m);
  });

  test('released shards are listed by reason with advice; failed shards with their last error', () => {
    const report = buildStatusReport(input);
    expect(report.released).toEqual([{ reason: 'quota', shards: 1, advice: expect.stringContaining('cap was reached') }]);
    const auth = buildStatusReport({ ...input, shards: shards.map((s) => (s.id === 4 ? { ...s, releaseReason: 'auth' } : s)) });
    expect(auth.released[0]?.advice).toBe('the token expired: put a fresh token in /home/ada/.config/fleetclip/token, then resubmit');
    expect(report.failedShards).toEqual([
      {
        id: 3,
        vehicle: 'mallory',
        hourStart: H1,
        hourStartIso: '2025-11-17T09:00:00.000Z',
        localTime: '2025-11-17 01:00-08:00',
        attempts: 5,
        lastError: 'slot failed after 5 attempts:\nHTTP 503',
      },
    ]);
  });

  test('--by hour groups all vehicles of one hour, in the campaign time zone', () => {
    const rows = buildStatusReport(input, 'hour').rows as HourRow[];
    expect(rows.map((r) => [r.localTime, r.shards.total, r.clips.ok, r.clips.remaining])).toEqual([
      ['2025-11-17 00:00-08:00', 2, 330, 140],
      ['2025-11-17 01:00-08:00', 2, 220, 219],
    ]);
  });

  test('--by camera takes outcomes from slot counts and totals from the shards', () => {
    const rows = buildStatusReport(input, 'camera').rows as CameraRow[];
    expect(
      rows.map((r) => [
        r.vehicle,
        r.camera,
        r.clips.total,
        r.clips.ok,
        r.clips.missing,
        r.clips.failed,
        r.clips.invalid,
        r.clips.remaining,
        r.bytes,
      ]),
    ).toEqual([
      ['mallory', 'front', 240, 240, 0, 0, 0, 0, 240e6],
      ['mallory', 'left', 240, 190, 10, 40, 0, 0, 190e6],
      ['mav', 'front', 240, 120, 0, 0, 0, 120, 120e6],
      ['mav', 'left', 240, 0, 0, 0, 1, 239, 0],
    ]);
  });

  test('--by shard: one row per shard with owner, lease, release reason and last error', () => {
    const rows = buildStatusReport(input, 'shard').rows as ShardRow[];
    expect(rows.map((r) => r.id)).toEqual([1, 2, 3, 4]);
    expect(rows[1]).toMatchObject({ owner: '77_3', leaseUntilIso: '2025-12-01T12:02:00.000Z', state: 'running' });
    expect(rows[3]).toMatchObject({ releaseReason: 'quota', leaseUntilIso: null, lastError: null });
  });

  test('the JSON document round-trips', () => {
    const report = buildStatusReport(input);
    expect(JSON.parse(JSON.stringify(report))).toEqual(report);
    expect(report).toMatchObject({
      schemaVersion: 1,
      generatedAt: '2025-12-01T12:00:00.000Z',
      rateWindowMinutes: 10,
      timeZone: 'America/Los_Angeles',
    });
  });
});

describe('renderStatusText', () => {
  test('a table per vehicle, a total line, and what needs doing', () => {
    const text = renderStatusText(buildStatusReport(input));
    const lines = text.trimEnd().split('\n');
    expect(lines[0]).toBe('campaign: 2025-11-17 in America/Los_Angeles; 2 vehicles; cameras front,left');
    expect(lines[1]).toMatch(/^\s+shards\s+clips$/);
    expect(lines[2]?.split(/\s+/)).toEqual('vehicle done run pend rel fail ok missing invalid failed left GB clips/min ETA'.split(' '));
    expect(lines[3]?.split(/\s+/)).toEqual(['mallory', '1', '0', '0', '0', '1', '430', '10', '0', '40', '0', '0.43', '0.0', 'done']);
    expect(lines[4]?.split(/\s+/)).toEqual(['mav', '0', '1', '0', '1', '0', '120', '0', '1', '0', '359', '0.12', '5.0', '1h11m']);
    expect(lines[5]).toMatch(/^-+( +-+)+$/);
    expect(lines[6]?.split(/\s+/)).toEqual(['total', '1', '1', '0', '1', '1', '550', '10', '1', '40', '359', '0.55', '5.0', '1h11m']);
    expect(lines[7]).toMatch(/^workers: 2 active/);
    expect(lines[8]).toMatch(/^released: 1 shard \(quota\): the workspace or bucket cap was reached/);
    expect(lines[9]).toBe(
      'failed: 1 shard: fleetclip status --failed lists them with their last error; fleetclip run --retry-failed tries them again',
    );
    // columns line up: every row is as wide as the header or narrower
    const headerWidth = lines[2]?.length ?? 0;
    for (const line of lines.slice(3, 7)) expect(line.length).toBeLessThanOrEqual(headerWidth);
    expect(lines[3]?.length).toBe(headerWidth);
  });

  test('--failed lists failed shards on one line each', () => {
    const text = renderFailedShards(buildStatusReport(input));
    expect(text.trimEnd().split('\n')).toEqual([
      expect.stringMatching(/^id\s+vehicle\s+hour \(America\/Los_Angeles\)\s+tries\s+last error$/),
      expect.stringMatching(/^ 3\s+mallory\s+2025-11-17 01:00-08:00\s+5\s+slot failed after 5 attempts: HTTP 503$/),
    ]);
    expect(renderFailedShards(buildStatusReport({ ...input, shards: shards.filter((s) => s.state !== 'failed') }))).toBe(
      'no failed shards\n',
    );
  });

  test('every cut renders', () => {
    for (const by of ['hour', 'camera', 'shard'] as const) {
      const text = renderStatusText(buildStatusReport(input, by));
      expect(text).toContain(by === 'camera' ? 'camera' : 'hour (America/Los_Angeles)');
    }
    expect(renderStatusText(buildStatusReport(input, 'shard'))).toMatch(/^ 2\s+mav .*running .*77_3 until 2025-12-01T12:02:00.000Z$/m);
  });
});
