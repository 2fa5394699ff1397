import { afterEach, beforeEach, describe, expect, test } from '@jest/globals';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { openManifest } from '../../src/manifest/index.js';
import { CAMPAIGN_DEFAULTS, REQUESTS_PER_CLIP } from '../../src/plan/index.js';
import { runCli, runMain } from '../helpers/cli.js';

let dir: string;
let manifestPath: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'fc-plan-'));
  manifestPath = path.join(dir, 'run', 'manifest.sqlite');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const planArgs = (over: Record<string, string | undefined> = {}, ...extra: string[]): string[] => {
  const flags: Record<string, string | undefined> = {
    manifest: manifestPath,
    out: path.join(dir, 'downloads'),
    day: '2025-11-17',
    vehicles: 'mallory,mav',
    cameras: 'front-center,left-center',
    'api-base': 'http://127.0.0.1:9',
    ...over,
  };
  return ['plan', ...Object.entries(flags).flatMap(([k, v]) => (v === undefined ? [] : [`--${k}`, v])), ...extra];
};
const todayUtc = (): string => new Date().toISOString().slice(0, 10);
const hourMs = (iso: string): number => Date.parse(iso) / 1000;

function readManifest() {
  const m = openManifest(manifestPath, { readonly: true });
  try {
    return { settings: m.settings(), shards: m.shardRows() };
  } finally {
    m.close();
  }
}

describe('fleetclip plan', () => {
  test('creates a manifest holding the settings and one shard per vehicle-hour', async () => {
    const r = await runMain(planArgs({ tz: 'America/Los_Angeles', days: '2', 'token-file': path.join(dir, 'token') }));
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(r.stdout.split('\n')[0]).toBe(`planned 96 shards in ${manifestPath}`);
    const { settings, shards } = readManifest();
    expect(settings).toMatchObject({
      apiBase: 'http://127.0.0.1:9',
      tokenFile: path.join(dir, 'token'),
      outDir: path.join(dir, 'downloads'),
      vehicles: ['mallory', 'mav'],
      cameras: ['front-center', 'left-center'],
      days: ['2025-11-17', '2025-11-18'],
      timeZone: 'America/Los_Angeles',
      onMiss: { kind: 'probe-all' },
      journal: 'delete',
    });
    expect(shards).toHaveLength(96);
    expect(shards[0]).toMatchObject({ vehicle: 'mallory', hourStart: hourMs('2025-11-17T08:00:00Z'), state: 'pending', slotsTotal: 240 });
    expect(shards.at(-1)).toMatchObject({ vehicle: 'mav', hourStart: hourMs('2025-11-19T07:00:00Z') });
  });

  test('the same arguments again are a no-op; a different plan is refused with exit 2', async () => {
    expect((await runMain(planArgs())).code).toBe(0);
    const again = await runMain(planArgs());
    expect(again.code).toBe(0);
    expect(again.stdout.split('\n')[0]).toBe(`${manifestPath} already holds this plan (48 shards): nothing to do`);
    const json = await runMain(planArgs({}, '--json'));
    expect(JSON.parse(json.stdout)).toMatchObject({
      manifest: manifestPath,
      created: false,
      shardsAdded: 0,
      shardsTotal: 48,
      forecast: { shards: 48, slots: 48 * 2 * 120 },
    });
    const other = await runMain(planArgs({ vehicles: 'mallory' }));
    expect(other.code).toBe(2);
    expect(other.stderr).toBe(
      `fleetclip: ${manifestPath} already holds a different campaign; pass --extend to add days or vehicles to it\n`,
    );
    expect(readManifest().shards).toHaveLength(48);
  });

  test('--extend adds days and vehicles and leaves finished work alone', async () => {
    expect((await runMain(planArgs())).code).toBe(0);
    // a worker finishes the first shard
    const m = openManifest(manifestPath);
    const claim = m.claimNextShard({ workerId: 'test-1', host: 'h', pid: process.pid });
    if (!claim) throw new Error('no shard to claim');
    m.recordSlots(
      claim,
      claim.cameras.flatMap((camera) =>
        Array.from({ length: 120 }, (_, i) => ({
          vehicle: claim.vehicle,
          camera,
          start: claim.hourStart + 30 * i,
          outcome: 'missing' as const,
          attempts: 1,
          atMs: Date.now(),
        })),
      ),
    );
    m.completeShard(claim);
    m.close();

    const r = await runMain(planArgs({ day: '2025-11-18', vehicles: 'mav,megalodon' }, '--extend'));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n')[0]).toBe(`added 48 shards to ${manifestPath} (96 in all)`);
    const { settings, shards } = readManifest();
    expect(settings.days).toEqual(['2025-11-17', '2025-11-18']);
    expect(settings.vehicles).toEqual(['mallory', 'mav', 'megalodon']);
    expect(shards).toHaveLength(96);
    expect(shards.find((s) => s.id === claim.shardId)).toMatchObject({ state: 'done', missing: 240 });

    const knob = await runMain(planArgs({ day: '2025-11-19', 'api-rate': '50' }, '--extend'));
    expect(knob.code).toBe(2);
    expect(knob.stderr).toBe('fleetclip: --extend adds days or vehicles only, but these differ from the campaign: --api-rate 20 → 50\n');
  });

  test.each([
    ['the current UTC day', { day: todayUtc() }, /the Batch API serves only past UTC days$/],
    ['the future', { day: '2999-01-01' }, /the Batch API serves only past UTC days$/],
    ['an unknown time zone', { tz: 'Mars/Olympus' }, /^--tz: unknown time zone 'Mars\/Olympus'/],
    ['an empty vehicle list', { vehicles: ',' }, /^--vehicles needs at least one name$/],
    ['an empty camera list', { cameras: ' ' }, /^--cameras needs at least one name$/],
    ['--to before --day', { to: '2025-11-16' }, /^--to 2025-11-16 is before --day 2025-11-17$/],
    ['--days and --to', { days: '2', to: '2025-11-18' }, /^--days and --to exclude each other/],
    ['a shell-hostile vehicle', { vehicles: 'x;rm -rf ~' }, /^--vehicles: 'x;rm -rf ~' is not a valid (vehicle|camera) name/],
    ['a path-escaping camera', { cameras: '../a' }, /^--cameras: '..\/a' is not a valid (vehicle|camera) name/],
    ['a non-http API base', { 'api-base': 'file:///etc/passwd' }, /^--api-base must be an http\(s\) URL/],
    ['a bad day', { day: '2025-02-30' }, /^--day must be a date YYYY-MM-DD, got '2025-02-30'$/],
    ['a bad hour range', { hours: '18-8' }, /^--hours must be FROM-TO/],
    ['a bad strategy', { 'on-miss': 'skip:7' }, /^--on-miss must be probe-all, skip:SECS or gallop/],
    ['a bad size', { 'workspace-cap': 'lots' }, /^--workspace-cap must be a size such as 2MB or 10GiB, got 'lots'$/],
    ['a bad rate', { 'api-rate': '-3' }, /^--api-rate must be a positive number, got '-3'$/],
    ['a bad journal', { journal: 'truncate' }, /^--journal must be delete or wal, got 'truncate'$/],
    // yargs' own message, or ours when yargs lets the handler run after a failed validation
    ['a missing --day', { day: undefined }, /^(Missing required argument: day|--day is required)$/],
  ] as [string, Record<string, string | undefined>, RegExp][])(
    'refuses %s: one line, exit 2, no manifest',
    async (_what, over, message) => {
      const r = await runMain(planArgs(over));
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr.endsWith('\n')).toBe(true);
      expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
      expect(r.stderr.replace(/^fleetclip: /, '').trimEnd()).toMatch(message);
      expect(existsSync(manifestPath)).toBe(false);
    },
  );

  test('--dry-run --json prints shards and a forecast and writes nothing', async () => {
    const r = await runMain(
      planArgs(
        {
          tz: 'America/Los_Angeles',
          day: '2024-11-03',
          hours: '0-3',
          'clip-size': '3MB',
          throughput: '0.25',
          'su-rate': '1.20',
          'api-rate': '6',
        },
        '--dry-run',
        '--json',
      ),
    );
    expect(r).toMatchObject({ code: 0, stderr: '' });
    const doc = JSON.parse(r.stdout);
    // fall-back day: local 0, 1, 1 (again), 2 → 4 hours × 2 vehicles
    expect(doc.shards).toHaveLength(8);
    expect(doc.shards.slice(0, 8).map((s: { localTime: string }) => s.localTime)).toEqual([
      '2024-11-03 00:00-07:00',
      '2024-11-03 00:00-07:00',
      '2024-11-03 01:00-07:00',
      '2024-11-03 01:00-07:00',
      '2024-11-03 01:00-08:00',
      '2024-11-03 01:00-08:00',
      '2024-11-03 02:00-08:00',
      '2024-11-03 02:00-08:00',
    ]);
    expect(doc.shards[0]).toEqual({
      vehicle: 'mallory',
      hourStart: hourMs('2024-11-03T07:00:00Z'),
      hourStartIso: '2024-11-03T07:00:00.000Z',
      localTime: '2024-11-03 00:00-07:00',
      cameras: ['front-center', 'left-center'],
    });
    const slots = 8 * 2 * 120;
    expect(doc.forecast).toEqual({
      shards: 8,
      slots,
      apiRequestsMax: slots * REQUESTS_PER_CLIP,
      bytesExpected: slots * 3_000_000,
      apiLimitedHours: (slots * REQUESTS_PER_CLIP) / 6 / 3600,
      coreHours: slots / 0.25 / 3600,
      serviceUnits: (slots / 0.25 / 3600) * 1.2,
      workerClipsPerSec: 0.25,
      workersToFillBudget: 7, // 6 requests/s at 3.5 a clip, 0.25 clips/s a worker
      assumptions: {
        clipBytes: 3_000_000,
        apiRatePerSec: 6,
        maxConcurrent: CAMPAIGN_DEFAULTS.maxConcurrent,
        clipSeconds: CAMPAIGN_DEFAULTS.readyTime,
        throughputClipsPerSec: 0.25,
        suPerCoreHour: 1.2,
        requestsPerClip: REQUESTS_PER_CLIP,
        typicalRequestsPerClip: 3.5,
      },
    });
    expect(doc.settings).toMatchObject({ timeZone: 'America/Los_Angeles', hours: { from: 0, to: 3 }, days: ['2024-11-03'] });
    expect(existsSync(manifestPath)).toBe(false);
  });

  test('--dry-run without --json prints a shard table and the forecast', async () => {
    const r = await runMain(planArgs({ hours: '8-10' }, '--dry-run'));
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe('campaign: 2025-11-17 in UTC, local hours 8-10; vehicles mallory,mav; cameras front-center,left-center');
    expect(lines[2]).toMatch(/^mallory\s+2025-11-17T08:00:00Z\s+2025-11-17 08:00Z\s+front-center,left-center$/);
    expect(lines.slice(6)).toEqual([
      'forecast:',
      '  slots         960 clips of 30 s in 4 shards',
      `  API requests  at most 2,880 (3 per clip, no retries); at ${CAMPAIGN_DEFAULTS.apiRate} requests/s that takes at most 0.04 h`,
      '  bytes         1.92 GB if every slot has a clip of 2,000,000 bytes',
      '  worker time   0.05 core-hours at 5.71 clips/s per worker = 0.12 SU at 2.67 SU per core-hour',
      '  workers       1 fill the 20 requests/s budget: each keeps up to 128 clips of ~12 s in flight (3.5 requests a clip)',
    ]);
  });

  test('--help lists every flag with the defaults of CAMPAIGN_DEFAULTS', async () => {
    const r = await runMain(['plan', '--help']);
    expect(r.code).toBe(0);
    const help = r.stdout.replace(/\s+/g, ' ');
    for (const flag of [
      'manifest',
      'out',
      'day',
      'days',
      'to',
      'hours',
      'vehicles',
      'cameras',
      'tz',
      'api-base',
      'token-file',
      'on-miss',
      'api-rate',
      'max-concurrent',
      'min-time-ms',
      'bucket-cap',
      'workspace-cap',
      'max-clip-bytes',
      'min-download-rate',
      'journal',
      'clip-size',
      'throughput',
      'su-rate',
      'extend',
      'dry-run',
      'json',
    ])
      expect(help).toContain(`--${flag} `);
    for (const value of Object.values(CAMPAIGN_DEFAULTS)) expect(help).toContain(`(default ${value})`);
  });
});

describe('fleetclip plan, the built binary', () => {
  test('--dry-run --json parses', async () => {
    const r = await runCli(planArgs({ days: '3' }, '--dry-run', '--json'));
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).forecast.slots).toBe(3 * 24 * 2 * 2 * 120);
  });

  test('creates the manifest, then a refusal is one line with exit 2', async () => {
    const r = await runCli(planArgs());
    expect(r.code).toBe(0);
    expect(existsSync(manifestPath)).toBe(true);
    const bad = await runCli(planArgs({ vehicles: '../etc' }));
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^fleetclip: --vehicles: '\.\.\/etc' is not a valid (vehicle|camera) name[^\n]*\n$/);
  });
});

describe('fleetclip plan: secrets at rest and in transit', () => {
  const modeOf = (file: string): string => (statSync(file).mode & 0o7777).toString(8);

  test('a plain http:// API base beyond loopback is refused in one line, exit 2, unless --insecure-http', async () => {
    const refused = await runMain(planArgs({ 'api-base': 'http://batch.example.com' }));
    expect(refused).toEqual({
      code: 2,
      stdout: '',
      stderr:
        "fleetclip: --api-base is plain http:// beyond loopback ('http://batch.example.com'), so the token would travel unencrypted: use https://, or allow it with --insecure-http\n",
    });
    expect(existsSync(manifestPath)).toBe(false);
    expect(await runMain(planArgs({ 'api-base': 'http://batch.example.com' }, '--insecure-http'))).toMatchObject({ code: 0, stderr: '' });
    expect(readManifest().settings).toMatchObject({ apiBase: 'http://batch.example.com', insecureHttp: true });
  });

  test('owner-only by default whatever the umask: the run folder 0700, the manifest, its journal and campaign.json 0600', async () => {
    const umask = process.umask(0o002);
    try {
      expect(await runMain(planArgs())).toMatchObject({ code: 0, stderr: '' });
    } finally {
      process.umask(umask);
    }
    const run = path.dirname(manifestPath);
    expect([run, manifestPath, path.join(run, 'campaign.json')].map(modeOf)).toEqual(['700', '600', '600']);
    expect(readManifest().settings.shareWithGroup).toBeUndefined();
    // SQLite gives the journal it creates the manifest's mode
    const db = new Database(manifestPath);
    db.exec("BEGIN IMMEDIATE; UPDATE shard SET state = 'pending'");
    try {
      expect(modeOf(`${manifestPath}-journal`)).toBe('600');
    } finally {
      db.exec('ROLLBACK');
      db.close();
    }
  });

  test('--share-with-group: setgid folders 2770 and files 0660 whatever the umask; a run folder that was there keeps its mode', async () => {
    mkdirSync(path.dirname(manifestPath), { mode: 0o755 });
    chmodSync(path.dirname(manifestPath), 0o755);
    const umask = process.umask(0o077);
    try {
      expect(
        await runMain(planArgs({ manifest: path.join(dir, 'run', 'new', 'manifest.sqlite') }, '--share-with-group', '--journal', 'wal')),
      ).toMatchObject({
        code: 0,
        stderr: '',
      });
    } finally {
      process.umask(umask);
    }
    const run = path.join(dir, 'run', 'new');
    const manifest = path.join(run, 'manifest.sqlite');
    expect([path.dirname(run), run, manifest, path.join(run, 'campaign.json')].map(modeOf)).toEqual(['755', '2770', '660', '660']);
    const m = openManifest(manifest);
    expect(m.settings().shareWithGroup).toBe(true);
    expect([`${manifest}-wal`, `${manifest}-shm`].map(modeOf)).toEqual(['660', '660']);
    m.close();
  });
});
