import { describe, expect, test } from '@jest/globals';
import type { CoverageCount, ShardStatusRow } from '../../src/manifest/index.js';
import { CoverageGrid, MAX_SLOTS_GROUPED, type StateCounts, columnSecondsFor, columnState } from '../../src/report/index.js';

const H0 = Date.parse('2025-11-17T00:00:00Z') / 1000;
const DAY = 86_400;

function shard(id: number, vehicle: string, hour: number): ShardStatusRow {
  return {
    id,
    vehicle,
    hourStart: H0 + hour * 3600,
    cameras: ['front', 'rear'],
    state: 'pending',
    attempts: 0,
    slotsTotal: 240,
    ok: 0,
    missing: 0,
    invalid: 0,
    failed: 0,
    bytes: 0,
  };
}

const counts = (over: Partial<StateCounts>): StateCounts => ({ ok: 0, missing: 0, invalid: 0, failed: 0, pending: 0, ...over });
const count = (shardId: number, camera: string, part: number, outcome: CoverageCount['outcome'], n = 1): CoverageCount => ({
  shardId,
  camera,
  part,
  outcome,
  count: n,
});

describe('columnSecondsFor', () => {
  test.each([
    { window: 'an hour', seconds: 3600, column: 30 },
    { window: 'a day', seconds: DAY, column: 120 },
    { window: 'a week', seconds: 7 * DAY, column: 900 },
    { window: 'a month', seconds: 31 * DAY, column: 3600 },
    { window: 'a leap year', seconds: 366 * DAY, column: 43_200 },
    { window: 'three years', seconds: 3 * 366 * DAY, column: 2 * DAY },
  ])('$window: columns of $column s, at most 1000 of them', ({ seconds, column }) => {
    expect(columnSecondsFor(seconds)).toBe(column);
    expect(seconds / column).toBeLessThanOrEqual(1000);
  });
});

describe('columnState', () => {
  test.each([
    { what: 'all ok', c: counts({ ok: 120 }), state: 'ok' },
    { what: 'one failed slot among ok ones', c: counts({ ok: 119, failed: 1 }), state: 'failed' },
    { what: 'one invalid slot among ok ones', c: counts({ ok: 100, missing: 19, invalid: 1 }), state: 'invalid' },
    { what: 'failed beats invalid', c: counts({ invalid: 3, failed: 1 }), state: 'failed' },
    { what: 'mostly no data', c: counts({ ok: 40, missing: 80 }), state: 'missing' },
    { what: 'mostly pending', c: counts({ ok: 50, pending: 70 }), state: 'pending' },
    { what: 'a tie of ok and no data', c: counts({ ok: 60, missing: 60 }), state: 'ok' },
    { what: 'nothing planned', c: counts({}), state: undefined },
  ])('$what → $state', ({ c, state }) => {
    expect(columnState(c)).toBe(state);
  });
});

describe('CoverageGrid', () => {
  test('30 s columns: each slot in its column, pending until counted, one row per vehicle and camera, runs merged', () => {
    const grid = new CoverageGrid([shard(1, 'mav', 0), shard(2, 'mallory', 0), shard(3, 'mav', 1)]);
    expect(grid).toMatchObject({ startSec: H0, columnSeconds: 30, columns: 240, slotsPerPart: 1 });
    for (let slot = 0; slot < 10; slot++) grid.add(count(1, 'front', slot, 'ok'));
    grid.add(count(1, 'front', 10, 'failed'));
    grid.add(count(3, 'front', 0, 'missing'));
    grid.add(count(99, 'front', 0, 'ok')); // a shard planned after the shard list was read
    const timeline = grid.timeline();
    expect(timeline.rows.map((r) => `${r.vehicle} ${r.camera}`)).toEqual(['mallory front', 'mallory rear', 'mav front', 'mav rear']);
    const mavFront = timeline.rows[2]!;
    expect(mavFront.totals).toEqual(counts({ ok: 10, failed: 1, missing: 1, pending: 228 }));
    expect(mavFront.runs).toEqual([
      { state: 'ok', from: 0, to: 10 },
      { state: 'failed', from: 10, to: 11 },
      { state: 'pending', from: 11, to: 120 },
      { state: 'missing', from: 120, to: 121 },
      { state: 'pending', from: 121, to: 240 },
    ]);
    // four rows of 240 columns are well within the hover titles: one a column
    expect(timeline.spanColumns).toBe(1);
    expect(mavFront.spans).toHaveLength(240);
    expect(mavFront.spans[10]).toEqual({ from: 10, to: 11, counts: counts({ failed: 1 }) });
    // mallory has no second hour: its row ends where its plan does
    expect(timeline.rows[0]!.runs).toEqual([{ state: 'pending', from: 0, to: 120 }]);
    expect(timeline.rows[0]!.spans).toHaveLength(120);
  });

  test('a sample campaign’s shard plans only its drawn slots: the others are blank, not pending', () => {
    const sampled = (id: number, hour: number, slots: Record<string, number[]>): ShardStatusRow => ({
      ...shard(id, 'mav', hour),
      slotsTotal: Object.values(slots).flat().length,
      slots,
    });
    const grid = new CoverageGrid([sampled(1, 0, { front: [3, 40], rear: [119] })]);
    expect(grid).toMatchObject({ columnSeconds: 30, columns: 120, slotsPerPart: 1 });
    grid.add(count(1, 'front', 3, 'missing'));
    const [front, rear] = grid.timeline().rows;
    expect(front!.totals).toEqual(counts({ missing: 1, pending: 1 }));
    expect(front!.runs).toEqual([
      { state: 'missing', from: 3, to: 4 },
      { state: 'pending', from: 40, to: 41 },
    ]);
    expect(rear!.runs).toEqual([{ state: 'pending', from: 119, to: 120 }]);
    // hour columns: a column counts the hour's drawn slots only
    const hours = new CoverageGrid([sampled(1, 0, { front: [3, 40] }), sampled(2, 1, { front: [0] })], 2);
    expect(hours.slotsPerPart).toBe(120);
    expect(hours.timeline().rows[0]!.spans.map((sp) => sp.counts.pending)).toEqual([2, 1]);
  });

  test('fewer hover titles than columns when there are many rows: spans of whole minutes or hours, counts summed', () => {
    const grid = new CoverageGrid([shard(1, 'mav', 0), shard(2, 'mav', 1)]);
    const timeline = grid.timeline(2 * 8); // two rows, eight titles each: 15 min spans of the two hours
    expect(timeline.spanColumns).toBe(30);
    const front = timeline.rows[0]!;
    expect(front.spans).toHaveLength(8);
    expect(front.spans[7]).toEqual({ from: 210, to: 240, counts: counts({ pending: 30 }) });
  });

  test('hour columns: a shard fills one column, a failed slot colours it', () => {
    const grid = new CoverageGrid([shard(1, 'mav', 0), shard(2, 'mav', 1), shard(3, 'mav', 3)], 4);
    expect(grid).toMatchObject({ columnSeconds: 3600, columns: 4, slotsPerPart: 120 });
    grid.add(count(1, 'front', 0, 'ok', 119));
    grid.add(count(1, 'front', 0, 'failed', 1));
    grid.add(count(2, 'front', 0, 'ok', 100));
    grid.add(count(2, 'front', 0, 'missing', 20));
    grid.add(count(3, 'front', 0, 'ok', 120));
    const front = grid.timeline().rows.find((r) => r.camera === 'front')!;
    expect(front.runs).toEqual([
      { state: 'failed', from: 0, to: 1 },
      { state: 'ok', from: 1, to: 2 },
      // hour 2 was not planned: the run stops, and no title covers it
      { state: 'ok', from: 3, to: 4 },
    ]);
    expect(front.spans).toEqual([
      { from: 0, to: 1, counts: counts({ ok: 119, failed: 1 }) },
      { from: 1, to: 2, counts: counts({ ok: 100, missing: 20 }) },
      { from: 3, to: 4, counts: counts({ ok: 120 }) },
    ]);
  });

  test('a campaign of more than 4 M slots gets hour columns (read from the counters) even where shorter ones would fit', () => {
    const vehicles = Array.from({ length: 300 }, (_, v) => `veh-${v}`);
    const day = vehicles.flatMap((vehicle, v) =>
      Array.from({ length: 24 }, (_, hour) => ({
        ...shard(v * 24 + hour + 1, vehicle, hour),
        cameras: ['a', 'b', 'c', 'd', 'e'],
        slotsTotal: 600,
      })),
    );
    expect(day.length * 600).toBeGreaterThan(MAX_SLOTS_GROUPED);
    expect(new CoverageGrid(day)).toMatchObject({ columnSeconds: 3600, columns: 24, slotsPerPart: 120 });
    expect(new CoverageGrid(day.slice(0, 24 * 200))).toMatchObject({ columnSeconds: 120, columns: 720, slotsPerPart: 4 });
  });

  test('an empty campaign is an empty timeline', () => {
    expect(new CoverageGrid([]).timeline()).toMatchObject({ rows: [], columns: 120 });
  });
});
