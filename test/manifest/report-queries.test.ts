import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import fs from 'node:fs';
import {
  type Claim,
  type CoverageCount,
  type Manifest,
  type SlotResult,
  openManifest,
  openReportSource,
} from '../../src/manifest/index.js';
import { slotResults } from '../helpers/offline-campaign.js';
import { owner, plannedManifest } from './helpers.js';

const runs: string[] = [];
let file: string;
/** 108 hours of two vehicles: 216 shards, five reads' worth of slot_result (50 shards each), one of counters (500) */
const HOURS = 108;
const MINUTE = 29_000_000; // epoch minutes, late 2025
const FIRST = 1;
const LAST = 2 * HOURS;

/** front: 60 ok, 40 missing, 5 invalid, 1 failed, 14 without an outcome; rear: 120 ok */
function mixedResults(claim: Claim, minute: number): SlotResult[] {
  return [
    ...slotResults(claim, 'front', { from: 0, to: 60 }, 'ok', minute * 60_000),
    ...slotResults(claim, 'front', { from: 60, to: 100 }, 'missing', minute * 60_000),
    ...slotResults(claim, 'front', { from: 100, to: 105 }, 'invalid', minute * 60_000),
    ...slotResults(claim, 'front', { from: 105, to: 106 }, 'failed', minute * 60_000),
    ...slotResults(claim, 'rear', { from: 0, to: 120 }, 'ok', minute * 60_000),
  ];
}

const key = (c: CoverageCount) => `${c.shardId} ${c.camera} ${c.part} ${c.outcome}`;

function countsOf(
  m: Manifest,
  slotsPerPart: number,
): { pages: { shardsRead: number; shardsTotal: number }[]; counts: Map<string, number> } {
  const pages: { shardsRead: number; shardsTotal: number }[] = [];
  const counts = new Map<string, number>();
  for (const page of m.coverageCounts(slotsPerPart)) {
    pages.push({ shardsRead: page.shardsRead, shardsTotal: page.shardsTotal });
    for (const c of page.counts) counts.set(key(c), (counts.get(key(c)) ?? 0) + c.count);
  }
  return { pages, counts };
}

beforeAll(() => {
  ({ file } = plannedManifest(runs, HOURS));
  const m = openManifest(file);
  for (let id = FIRST; id <= LAST; id++) {
    const claim = m.claimNextShard(owner('w1'))!;
    expect(claim.shardId).toBe(id);
    if (id === FIRST) m.recordSlots(claim, mixedResults(claim, MINUTE));
    if (id === LAST) m.recordSlots(claim, mixedResults(claim, MINUTE + 5));
    m.completeShard(claim);
  }
  expect(m.drawRequestAllowance('w1', 3, (MINUTE + 2) * 60_000)).toBe(3);
  m.adjustBucket('veh-1', 2, 500);
  m.close();
});

afterAll(() => {
  for (const run of runs) fs.rmSync(run, { recursive: true, force: true });
});

describe('the report queries', () => {
  test('per-slot coverage counts are grouped in SQL, one read per 50 shards, over every shard', () => {
    const m = openManifest(file, { readonly: true });
    try {
      const { pages, counts } = countsOf(m, 1);
      expect(pages).toEqual([50, 100, 150, 200, LAST].map((shardsRead) => ({ shardsRead, shardsTotal: LAST })));
      for (const shard of [FIRST, LAST]) {
        expect(counts.get(`${shard} front 0 ok`)).toBe(1);
        expect(counts.get(`${shard} front 59 ok`)).toBe(1);
        expect(counts.get(`${shard} front 60 missing`)).toBe(1);
        expect(counts.get(`${shard} front 105 failed`)).toBe(1);
        expect(counts.get(`${shard} front 106 ok`)).toBeUndefined();
        expect(counts.get(`${shard} rear 119 ok`)).toBe(1);
      }
      expect(counts.size).toBe(2 * (106 + 120));
    } finally {
      m.close();
    }
  });

  test('parts of several slots add up their slots; a whole hour comes from the counters with the same totals', () => {
    const m = openManifest(file, { readonly: true });
    try {
      const tenths = countsOf(m, 10).counts;
      expect(tenths.get(`${LAST} front 0 ok`)).toBe(10);
      expect(tenths.get(`${LAST} front 6 missing`)).toBe(10);
      expect(tenths.get(`${LAST} front 10 invalid`)).toBe(5);
      expect(tenths.get(`${LAST} front 10 failed`)).toBe(1);
      expect(tenths.get(`${LAST} rear 11 ok`)).toBe(10);

      const { pages, counts: hours } = countsOf(m, 120);
      expect(pages).toEqual([{ shardsRead: LAST, shardsTotal: LAST }]);
      for (const shard of [FIRST, LAST]) {
        expect(Object.fromEntries(['ok', 'missing', 'invalid', 'failed'].map((o) => [o, hours.get(`${shard} front 0 ${o}`)]))).toEqual({
          ok: 60,
          missing: 40,
          invalid: 5,
          failed: 1,
        });
        expect(hours.get(`${shard} rear 0 ok`)).toBe(120);
      }
      expect(hours.size).toBe(2 * 5);
    } finally {
      m.close();
    }
  });

  test('tallies: results recorded and requests granted per bar of whole minutes, from the first minute with either', () => {
    const m = openReportSource(file);
    try {
      expect(m.tallySpan()).toEqual({ firstMinute: MINUTE, lastMinute: MINUTE + 5 });
      expect(m.tallies(MINUTE, 1)).toEqual([
        { bar: 0, results: 226, granted: 0 },
        { bar: 2, results: 0, granted: 3 },
        { bar: 5, results: 226, granted: 0 },
      ]);
      expect(m.tallies(MINUTE, 3)).toEqual([
        { bar: 0, results: 226, granted: 3 },
        { bar: 1, results: 226, granted: 0 },
      ]);
    } finally {
      m.close();
    }
  });

  test('bucket usage: every bucket counter, by vehicle then number', () => {
    const m = openReportSource(file);
    try {
      expect(m.bucketUsage()).toEqual([{ vehicle: 'veh-1', n: 2, bytes: 500 }]);
    } finally {
      m.close();
    }
  });

  test('an empty campaign has no coverage pages and no tally span', () => {
    const { file: empty } = plannedManifest(runs, 0);
    const m = openReportSource(empty);
    try {
      expect([...m.coverageCounts(1)]).toEqual([]);
      expect(m.tallySpan()).toBeUndefined();
      expect(m.bucketUsage()).toEqual([]);
    } finally {
      m.close();
    }
  });
});
