import { describe, expect, test } from '@jest/globals';
import { UsageError } from '../../src/errors.js';
import { CAMPAIGN_DEFAULTS, type CampaignInput, REQUESTS_PER_CLIP, extendCampaignSettings, planCampaign } from '../../src/plan/index.js';

const context = { nowMs: Date.parse('2025-12-01T12:00:00Z'), cwd: '/work/run', homeDir: '/home/ada' };
const base: CampaignInput = {
  apiBase: 'https://api.example.test/fleet/',
  out: 'downloads',
  day: '2025-11-17',
  vehicles: 'mav,mallory',
  cameras: 'front-center,left-center',
};
const plan = (extra: CampaignInput = {}) => planCampaign({ ...base, ...extra }, context);
const refusal = (extra: CampaignInput): string => {
  try {
    plan(extra);
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return (err as Error).message;
  }
  throw new Error('expected a UsageError');
};

describe('planCampaign settings', () => {
  test('fills defaults, resolves paths, normalises the API base', () => {
    const { settings } = plan();
    expect(settings).toEqual({
      apiBase: 'https://api.example.test/fleet',
      tokenFile: '/home/ada/.config/fleetclip/token',
      outDir: '/work/run/downloads',
      vehicles: ['mallory', 'mav'],
      cameras: ['front-center', 'left-center'],
      days: ['2025-11-17'],
      timeZone: 'UTC',
      onMiss: { kind: 'probe-all' },
      apiRatePerSec: CAMPAIGN_DEFAULTS.apiRate,
      maxConcurrent: CAMPAIGN_DEFAULTS.maxConcurrent,
      minTimeMs: 10,
      bucketCapBytes: 10 * 2 ** 30,
      workspaceCapBytes: 20 * 2 ** 30,
      clipBytesEstimate: 2_000_000,
      journal: 'delete',
    });
  });

  test('an output root inside the run folder is stored relative to it, so the run folder can move', () => {
    const at = (out: string) => planCampaign({ ...base, out }, { ...context, runDir: '/work/run' }).settings.outDir;
    expect(at('downloads')).toBe('downloads'); // cwd is the run folder
    expect(at('.')).toBe('.');
    expect(at('/scratch/ada/clips')).toBe('/scratch/ada/clips');
    expect(at('../elsewhere')).toBe('/work/elsewhere');
  });

  test('takes every knob', () => {
    const { settings } = plan({
      tokenFile: '../secrets/token',
      out: '/scratch/ada/clips',
      tz: 'America/Los_Angeles',
      hours: '8-18',
      days: '3',
      onMiss: 'skip:120',
      apiRate: '7.5',
      maxConcurrent: '2',
      minTimeMs: '0',
      bucketCap: '1GB',
      workspaceCap: '3 GiB',
      clipSize: '1.5MB',
      maxClipBytes: '200MB',
      minDownloadRate: '32KiB',
      journal: 'wal',
    });
    expect(settings).toMatchObject({
      tokenFile: '/work/secrets/token',
      outDir: '/scratch/ada/clips',
      timeZone: 'America/Los_Angeles',
      hours: { from: 8, to: 18 },
      days: ['2025-11-17', '2025-11-18', '2025-11-19'],
      onMiss: { kind: 'skip', skipSeconds: 120 },
      apiRatePerSec: 7.5,
      maxConcurrent: 2,
      minTimeMs: 0,
      bucketCapBytes: 1e9,
      workspaceCapBytes: 3 * 2 ** 30,
      clipBytesEstimate: 1_500_000,
      maxClipBytes: 200_000_000,
      minDownloadBytesPerSec: 32 * 1024,
      journal: 'wal',
    });
  });

  test.each([
    [{ apiBase: 'ftp://x.test' }, /^--api-base must be an http\(s\) URL/],
    [{ apiBase: 'https://user:pw@x.test' }, /^--api-base must be an http\(s\) URL without credentials/],
    [{ apiBase: 'https://x.test/?token=abc' }, /^--api-base must be/],
    [{ apiBase: 'not a url' }, /^--api-base must be/],
    [{ apiBase: '' }, /^--api-base is required$/],
    [{ out: undefined }, /^--out is required$/],
    [{ day: undefined }, /^--day is required$/],
    [{ day: ['2025-11-17', '2025-11-18'] as unknown as string }, /^--day was given more than once$/],
    [{ vehicles: '' }, /^--vehicles needs at least one name$/],
    [{ cameras: 'front,../a' }, /^--cameras: '..\/a' is not a valid (vehicle|camera) name/],
    [{ vehicles: 'x;rm -rf ~' }, /^--vehicles: 'x;rm -rf ~' is not a valid (vehicle|camera) name/],
    [{ tz: 'Nowhere/Land' }, /^--tz: unknown time zone 'Nowhere\/Land'/],
    [{ to: '2025-11-10' }, /^--to 2025-11-10 is before --day 2025-11-17$/],
    [{ days: '0' }, /^--days must be a positive integer, got '0'$/],
    [{ days: '2.5' }, /^--days must be a positive integer/],
    [{ onMiss: 'skip:45' }, /^--on-miss must be probe-all, skip:SECS or gallop/],
    [{ onMiss: 'sometimes' }, /^--on-miss must be/],
    [{ apiRate: '0' }, /^--api-rate must be a positive number, got '0'$/],
    [{ apiRate: 'fast' }, /^--api-rate must be a positive number, got 'fast'$/],
    [{ maxConcurrent: '1.5' }, /^--max-concurrent must be a positive integer number, got '1.5'$/],
    [{ minTimeMs: '-1' }, /^--min-time-ms must be a non-negative number/],
    [{ bucketCap: '10 parsecs' }, /^--bucket-cap must be a size such as 2MB or 10GiB, got '10 parsecs'$/],
    [{ workspaceCap: '0GiB' }, /^--workspace-cap must be a size/],
    [{ bucketCap: '30GiB' }, /^--bucket-cap \(32212254720 bytes\) must not exceed --workspace-cap/],
    [{ clipSize: '20GiB' }, /^--clip-size .* must not exceed --bucket-cap/],
    [{ maxClipBytes: '1MB' }, /^--max-clip-bytes \(1000000 bytes\) must be at least --clip-size \(2000000 bytes\)$/],
    [{ minDownloadRate: 'slow' }, /^--min-download-rate must be a size such as 2MB or 10GiB, got 'slow'$/],
    [{ journal: 'memory' }, /^--journal must be delete or wal, got 'memory'$/],
    [{ throughput: '0' }, /^--throughput must be a positive number/],
    [{ suRate: '-2' }, /^--su-rate must be a non-negative number/],
    [{ hours: '18-8' }, /^--hours must be FROM-TO/],
  ] as [CampaignInput, RegExp][])('%j is refused with one line naming the flag', (extra, message) => {
    const text = refusal(extra);
    expect(text).toMatch(message);
    expect(text).not.toContain('\n');
  });
});

describe('planCampaign shards', () => {
  test('per vehicle, per hour, hour-major, all cameras in each', () => {
    const { shards } = plan({ days: '2' });
    expect(shards).toHaveLength(2 * 2 * 24);
    expect(shards.slice(0, 3)).toEqual([
      { vehicle: 'mallory', hourStart: Date.parse('2025-11-17T00:00:00Z') / 1000, cameras: ['front-center', 'left-center'] },
      { vehicle: 'mav', hourStart: Date.parse('2025-11-17T00:00:00Z') / 1000, cameras: ['front-center', 'left-center'] },
      { vehicle: 'mallory', hourStart: Date.parse('2025-11-17T01:00:00Z') / 1000, cameras: ['front-center', 'left-center'] },
    ]);
    expect(new Set(shards.map((s) => `${s.vehicle}@${s.hourStart}`)).size).toBe(shards.length);
  });

  test('a DST window covers exactly its local days: 23 + 24 + 25 hours', () => {
    const { shards } = planCampaign({ ...base, vehicles: 'mav', day: '2024-03-10', days: 1, tz: 'America/Los_Angeles' }, context);
    expect(shards).toHaveLength(23);
    const fallBack = planCampaign({ ...base, vehicles: 'mav', day: '2024-11-02', to: '2024-11-04', tz: 'America/Los_Angeles' }, context);
    expect(fallBack.shards).toHaveLength(24 + 25 + 24);
    expect(new Date((fallBack.shards[0]?.hourStart ?? 0) * 1000).toISOString()).toBe('2024-11-02T07:00:00.000Z');
    expect(new Date((fallBack.shards.at(-1)?.hourStart ?? 0) * 1000).toISOString()).toBe('2024-11-05T07:00:00.000Z');
  });

  test('hour ranges that select nothing are refused', () => {
    expect(refusal({ day: '2024-03-10', tz: 'America/Los_Angeles', hours: '2-3' })).toBe(
      '--hours 2-3 selects no hour of 2024-03-10 in America/Los_Angeles',
    );
  });
});

describe('planCampaign refuses the current UTC day and the future', () => {
  const at = (iso: string) => ({ ...context, nowMs: Date.parse(iso) });
  test('yesterday (UTC) is fine, today is not', () => {
    expect(() => planCampaign({ ...base, day: '2025-11-30' }, at('2025-12-01T00:00:00Z'))).not.toThrow();
    expect(() => planCampaign({ ...base, day: '2025-12-01' }, at('2025-12-01T23:59:59Z'))).toThrow(
      new UsageError(
        'the window ends 2025-12-02T00:00:00.000Z, after the start of today (2025-12-01T00:00:00.000Z): the Batch API serves only past UTC days',
      ),
    );
    expect(() => planCampaign({ ...base, day: '2026-01-01' }, at('2025-12-01T12:00:00Z'))).toThrow(/serves only past UTC days/);
  });

  test('a multi-day window that reaches today is refused', () => {
    expect(() => planCampaign({ ...base, day: '2025-11-28', days: 4 }, at('2025-12-01T06:00:00Z'))).toThrow(/serves only past UTC days/);
    expect(() => planCampaign({ ...base, day: '2025-11-28', days: 3 }, at('2025-12-01T06:00:00Z'))).not.toThrow();
  });

  test('a west-of-UTC local day ends in the next UTC day: it is checked by its UTC end', () => {
    // 2025-11-30 in Los Angeles ends at 2025-12-01T08:00Z, on the UTC day of `now`
    expect(() => planCampaign({ ...base, day: '2025-11-30', tz: 'America/Los_Angeles' }, at('2025-12-01T20:00:00Z'))).toThrow(
      /the window ends 2025-12-01T08:00:00.000Z/,
    );
    // …but its first 16 local hours end at 2025-12-01T00:00Z, so they can be planned
    const { shards } = planCampaign({ ...base, day: '2025-11-30', tz: 'America/Los_Angeles', hours: '0-16' }, at('2025-12-01T20:00:00Z'));
    expect(shards).toHaveLength(16 * 2);
  });
});

describe('forecast', () => {
  test('slots, requests, bytes, core-hours and service units follow from the shards and knobs', () => {
    const { shards, forecast } = plan({ days: '3', hours: '8-18', clipSize: '2MB', throughput: '0.5', suRate: '1.2', apiRate: '10' });
    const slots = 2 /* vehicles */ * 3 /* days */ * 10 /* hours */ * 2 /* cameras */ * 120;
    expect(shards).toHaveLength(60);
    expect(forecast).toEqual({
      shards: 60,
      slots,
      apiRequestsMax: slots * REQUESTS_PER_CLIP,
      bytesExpected: slots * 2_000_000,
      apiLimitedHours: (slots * REQUESTS_PER_CLIP) / 10 / 3600,
      coreHours: slots / 0.5 / 3600,
      serviceUnits: (slots / 0.5 / 3600) * 1.2,
      workerClipsPerSec: 0.5,
      // 10 requests/s at 3.5 a clip is 2.86 clips/s: six workers at 0.5
      workersToFillBudget: 6,
      assumptions: {
        clipBytes: 2_000_000,
        apiRatePerSec: 10,
        maxConcurrent: CAMPAIGN_DEFAULTS.maxConcurrent,
        clipSeconds: CAMPAIGN_DEFAULTS.readyTime,
        throughputClipsPerSec: 0.5,
        suPerCoreHour: 1.2,
        requestsPerClip: REQUESTS_PER_CLIP,
        typicalRequestsPerClip: 3.5,
      },
    });
    expect(forecast.slots).toBe(14_400);
    expect(forecast.coreHours).toBeCloseTo(8, 10);
    expect(forecast.serviceUnits).toBeCloseTo(9.6, 10);
  });

  test("defaults: savio3_htc rate; a worker's clips/s from Little's law, as its window is sized", () => {
    const { forecast } = plan();
    expect(forecast.slots).toBe(2 * 24 * 2 * 120);
    // the budget binds a worker first: 20 requests/s at 3.5 a clip (a window of 128 x 12 s would allow 10.7 clips/s)
    expect(forecast.workerClipsPerSec).toBeCloseTo(20 / 3.5, 10);
    expect(forecast.workersToFillBudget).toBe(1);
    expect(forecast.serviceUnits).toBeCloseTo((forecast.slots / (20 / 3.5) / 3600) * 2.67, 10);
    // a small window binds instead: 4 clips of 12 s is 1/3 clip/s, and 18 workers fill the budget
    const small = plan({ maxConcurrent: '4' }).forecast;
    expect(small.workerClipsPerSec).toBeCloseTo(4 / 12, 10);
    expect(small.workersToFillBudget).toBe(18);
  });
});

describe('extendCampaignSettings', () => {
  test('unites days and vehicles', () => {
    const stored = plan({ days: '2' }).settings;
    const extension = plan({ day: '2025-11-20', vehicles: 'megalodon,mav' }).settings;
    expect(extendCampaignSettings(stored, extension)).toEqual({
      ...stored,
      days: ['2025-11-17', '2025-11-18', '2025-11-20'],
      vehicles: ['mallory', 'mav', 'megalodon'],
    });
  });

  test('may add --insecure-http and --share-with-group (opting in is never silent) but not drop them', () => {
    const http = { apiBase: 'http://batch.example.com', insecureHttp: true };
    const stored = { ...plan(http).settings, insecureHttp: undefined };
    expect(extendCampaignSettings(stored, plan({ ...http, day: '2025-11-18' }).settings)).toMatchObject({ insecureHttp: true });
    expect(extendCampaignSettings(plan().settings, plan({ day: '2025-11-18', shareWithGroup: true }).settings)).toMatchObject({
      days: ['2025-11-17', '2025-11-18'],
      shareWithGroup: true,
    });
    expect(() => extendCampaignSettings(plan({ shareWithGroup: true }).settings, plan({ day: '2025-11-18' }).settings)).toThrow(
      /--share-with-group true → null$/,
    );
    expect(() => extendCampaignSettings(plan(http).settings, plan({ apiBase: 'http://127.0.0.1:9', day: '2025-11-18' }).settings)).toThrow(
      /--api-base .*; --insecure-http true → null$/,
    );
  });

  test('refuses any other difference, naming the flags', () => {
    const stored = plan().settings;
    expect(() => extendCampaignSettings(stored, plan({ day: '2025-11-18', cameras: 'front-center', hours: '8-18' }).settings)).toThrow(
      new UsageError(
        '--extend adds days or vehicles only, but these differ from the campaign: --cameras ["front-center","left-center"] → ["front-center"]; --hours null → {"from":8,"to":18}',
      ),
    );
  });
});
