import { describe, expect, test } from '@jest/globals';
import { UsageError } from '../../src/errors.js';
import { type SampleDraw, type SampleInput, drawSampleSlots, planSample, sampleShards, slotCountOf } from '../../src/plan/index.js';

const DAY = 86_400;
/** 2025-12-01T00:00:00Z */
const TODAY = Date.parse('2025-12-01T00:00:00Z') / 1000;
const context = { nowMs: (TODAY + 13 * 3600) * 1000, cwd: '/work/run', homeDir: '/home/ada' };
const draw = (extra: Partial<SampleDraw> = {}): SampleDraw => ({
  vehicles: ['mav', 'mallory'],
  cameras: ['front-center', 'left-center'],
  windowStart: TODAY - 5 * DAY,
  windowEnd: TODAY,
  n: 40,
  seed: 7,
  minGapSeconds: 0,
  ...extra,
});
const base: SampleInput = {
  apiBase: 'https://api.example.test',
  out: 'downloads',
  vehicles: 'mav,mallory',
  cameras: 'front-center,left-center',
  n: '40',
  lookback: '5d',
  seed: '7',
};
const refusal = (input: SampleInput): string => {
  try {
    planSample(input, context);
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return (err as Error).message;
  }
  throw new Error('expected a UsageError');
};

describe('drawSampleSlots', () => {
  test('the same seed draws the same slots; another seed others', () => {
    expect(drawSampleSlots(draw())).toEqual(drawSampleSlots(draw()));
    const other = drawSampleSlots(draw({ seed: 8 }));
    expect(other[0]!.starts).not.toEqual(drawSampleSlots(draw())[0]!.starts);
  });

  test('n distinct slots per vehicle and camera, ascending, on the 30 s grid, inside the window', () => {
    const drawn = drawSampleSlots(draw());
    expect(drawn.map((d) => `${d.vehicle} ${d.camera}`)).toEqual([
      'mav front-center',
      'mav left-center',
      'mallory front-center',
      'mallory left-center',
    ]);
    for (const { starts } of drawn) {
      expect(starts).toHaveLength(40);
      expect(new Set(starts).size).toBe(40);
      expect([...starts].sort((a, b) => a - b)).toEqual(starts);
      for (const s of starts) {
        expect(s % 30).toBe(0);
        expect(s).toBeGreaterThanOrEqual(TODAY - 5 * DAY);
        expect(s + 30).toBeLessThanOrEqual(TODAY);
      }
    }
  });

  test("each vehicle and camera has its own stream: adding a vehicle leaves the others' slots alone", () => {
    const two = drawSampleSlots(draw());
    const three = drawSampleSlots(draw({ vehicles: ['mav', 'mallory', 'morizo'] }));
    expect(three.filter((d) => d.vehicle !== 'morizo')).toEqual(two);
  });

  test.each([
    { minGapSeconds: 600, n: 40 },
    { minGapSeconds: 45, n: 200 },
    { minGapSeconds: 3 * 3600, n: 40 }, // 5 days hold 40 slots 3 h apart: barely
  ])('--min-gap $minGapSeconds s keeps $n slots that far apart', ({ minGapSeconds, n }) => {
    for (const { starts } of drawSampleSlots(draw({ minGapSeconds, n }))) {
      expect(starts).toHaveLength(n);
      for (let i = 1; i < starts.length; i++) expect(starts[i]! - starts[i - 1]!).toBeGreaterThanOrEqual(minGapSeconds);
    }
  });

  test('every slot of a small window when n is all it holds, and a clear refusal beyond', () => {
    const hour = draw({ windowStart: TODAY - 3600, n: 120, vehicles: ['mav'], cameras: ['front-center'] });
    expect(drawSampleSlots(hour)[0]!.starts).toEqual(Array.from({ length: 120 }, (_, i) => TODAY - 3600 + 30 * i));
    expect(() => drawSampleSlots({ ...hour, n: 121 })).toThrow(
      /^--n 121 is more than the 120 slots of 30 s that the 1h before today \(UTC\) hold: give a smaller --n/,
    );
    // 10 minutes apart, an hour holds 6 (the first in its first 10 minutes, the others 10 minutes after each other)
    const six = drawSampleSlots({ ...hour, n: 6, minGapSeconds: 600 })[0]!.starts;
    expect(six).toHaveLength(6);
    for (let i = 1; i < 6; i++) expect(six[i]! - six[i - 1]!).toBeGreaterThanOrEqual(600);
    expect(() => drawSampleSlots({ ...hour, n: 7, minGapSeconds: 600 })).toThrow(
      /^--n 7 is more than the 6 slots of 30 s at least 10m apart/,
    );
  });

  test('spread over the window: every day of a 5-day lookback gets some of 200 slots', () => {
    const { starts } = drawSampleSlots(draw({ n: 200, vehicles: ['mav'], cameras: ['front-center'] }))[0]!;
    const days = new Set(starts.map((s) => Math.floor((s - (TODAY - 5 * DAY)) / DAY)));
    expect([...days].sort()).toEqual([0, 1, 2, 3, 4]);
  });
});

describe('sampleShards', () => {
  test('one shard per vehicle and UTC hour holding a slot, hour-major, each with its cameras and slot numbers', () => {
    const h = TODAY - 2 * 3600;
    const shards = sampleShards([
      { vehicle: 'mav', camera: 'left-center', starts: [h + 30, h + 3600 + 90] },
      { vehicle: 'mav', camera: 'front-center', starts: [h + 60] },
      { vehicle: 'alpha', camera: 'front-center', starts: [h + 3600] },
    ]);
    expect(shards).toEqual([
      { vehicle: 'mav', hourStart: h, cameras: ['front-center', 'left-center'], slots: { 'front-center': [2], 'left-center': [1] } },
      { vehicle: 'alpha', hourStart: h + 3600, cameras: ['front-center'], slots: { 'front-center': [0] } },
      { vehicle: 'mav', hourStart: h + 3600, cameras: ['left-center'], slots: { 'left-center': [3] } },
    ]);
    expect(shards.map(slotCountOf)).toEqual([2, 1, 1]);
  });
});

describe('planSample', () => {
  test('a campaign in UTC over the lookback before today, probe-all, with its draw; shards hold the n x vehicles x cameras slots', () => {
    const { settings, shards, forecast } = planSample(base, context);
    expect(settings).toMatchObject({
      vehicles: ['mallory', 'mav'],
      cameras: ['front-center', 'left-center'],
      days: ['2025-11-26', '2025-11-27', '2025-11-28', '2025-11-29', '2025-11-30'],
      timeZone: 'UTC',
      onMiss: { kind: 'probe-all' },
      outDir: '/work/run/downloads',
      sample: { n: 40, seed: 7, windowStart: TODAY - 5 * DAY, windowEnd: TODAY, minGapSeconds: 0 },
    });
    expect(shards.reduce((n, s) => n + slotCountOf(s), 0)).toBe(40 * 2 * 2);
    expect(forecast.slots).toBe(160);
    expect(forecast.shards).toBe(shards.length);
    // today (UTC) is never drawn from, however late in the day
    const late = planSample(base, { ...context, nowMs: (TODAY + DAY - 1) * 1000 });
    expect(Math.max(...late.shards.map((s) => s.hourStart))).toBeLessThan(TODAY);
    expect(late.shards).toEqual(shards);
  });

  test('a lookback in hours starts mid-day; --min-gap in minutes', () => {
    const { settings, shards } = planSample({ ...base, lookback: '36h', minGap: '30m', n: '20' }, context);
    expect(settings.days).toEqual(['2025-11-29', '2025-11-30']);
    expect(settings.sample).toMatchObject({ windowStart: TODAY - 36 * 3600, minGapSeconds: 1800 });
    expect(Math.min(...shards.map((s) => s.hourStart))).toBeGreaterThanOrEqual(TODAY - 36 * 3600);
  });

  test.each([
    [{ n: '0' }, /^--n must be a positive integer number, got '0'$/],
    [{ n: '2.5' }, /^--n must be a positive integer number/],
    [{ lookback: 'a week' }, /^--lookback must be a duration such as 5d/],
    [{ lookback: '45s' }, /^--lookback must be a whole number of 30 s slots, at most 366d, got '45s'$/],
    [{ lookback: '400d' }, /^--lookback must be a whole number of 30 s slots, at most 366d/],
    [{ seed: '-1' }, /^--seed must be a non-negative integer number, got '-1'$/],
    [{ seed: 'lucky' }, /^--seed must be a non-negative integer number/],
    [{ minGap: 'soon' }, /^--min-gap must be a duration/],
    [{ n: '500', lookback: '1h' }, /^--n 500 is more than the 120 slots of 30 s/],
    [{ vehicles: 'x;y' }, /^--vehicles: 'x;y' is not a valid vehicle name/],
    [{ apiBase: undefined }, /^--api-base is required$/],
  ] as [SampleInput, RegExp][])('%j is refused with one line naming the flag', (extra, message) => {
    const text = refusal({ ...base, ...extra });
    expect(text).toMatch(message);
    expect(text).not.toContain('\n');
  });
});
