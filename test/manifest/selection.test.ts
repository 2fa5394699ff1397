import { afterAll, describe, expect, test } from '@jest/globals';
import fs from 'node:fs';
import path from 'node:path';
import { ManifestError } from '../../src/errors.js';
import { openManifest, readCampaignFile, rebuildManifest, verifyManifest, type SlotResult } from '../../src/manifest/index.js';
import type { ShardSpec } from '../../src/plan/types.js';
import { HOUR0, owner, settingsFor, tempRun } from './helpers.js';

const runs: string[] = [];
afterAll(() => runs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

/** A sample campaign: two shards holding a few slots each, the cameras' selections differing. */
function sampleRun() {
  const run = tempRun();
  runs.push(run);
  const file = path.join(run, 'manifest.sqlite');
  const settings = settingsFor(run, { sample: { n: 2, seed: 3, windowStart: HOUR0, windowEnd: HOUR0 + 7200, minGapSeconds: 0 } });
  const shards: ShardSpec[] = [
    { vehicle: 'veh-1', hourStart: HOUR0, cameras: ['front', 'rear'], slots: { front: [3, 40], rear: [7] } },
    { vehicle: 'veh-1', hourStart: HOUR0 + 3600, cameras: ['rear'], slots: { rear: [119] } },
  ];
  const m = openManifest(file, { create: true });
  m.plan(settings, shards);
  return { run, file, m, shards };
}

const missing = (camera: string, slotNo: number, hourStart = HOUR0): SlotResult => ({
  vehicle: 'veh-1',
  camera,
  start: hourStart + slotNo * 30,
  outcome: 'missing',
  attempts: 1,
  atMs: Date.now(),
});

describe('a sample shard holds only its selected slots', () => {
  test('claims carry the selection; a slot outside it is refused; counters and totals count the selection', () => {
    const { m } = sampleRun();
    try {
      expect(m.plannedShards().map((s) => s.slots)).toEqual([{ front: [3, 40], rear: [7] }, { rear: [119] }]);
      const claim = m.claimNextShard(owner('w1'))!;
      expect(claim.slots).toEqual({ front: [3, 40], rear: [7] });
      // slot 7 of front is in the hour and the camera is the shard's, but it was not drawn
      expect(() => m.recordSlots(claim, [missing('front', 7)])).toThrow(ManifestError);
      expect(() => m.recordSlots(claim, [missing('front', 7)])).toThrow(/is not a slot of shard 1/);
      m.recordSlots(claim, [missing('front', 3), missing('rear', 7)]);
      expect(m.shardRows().map((s) => [s.slotsTotal, s.slots, s.missing])).toEqual([
        [3, { front: [3, 40], rear: [7] }, 2],
        [1, { rear: [119] }, 0],
      ]);
      expect(m.progress().slots).toEqual({ total: 4, done: 2, ok: 0 });
    } finally {
      m.close();
    }
  });

  test('scan answers are kept per slot, apart from outcomes, and refused outside the selection', () => {
    const { m } = sampleRun();
    try {
      m.recordAvailability(1, [
        { camera: 'front', start: HOUR0 + 3 * 30, available: false, checkedMs: 1000 },
        { camera: 'rear', start: HOUR0 + 7 * 30, available: true, checkedMs: 1000 },
      ]);
      m.recordAvailability(1, [{ camera: 'front', start: HOUR0 + 3 * 30, available: true, checkedMs: 2000 }]);
      expect(m.slotAvailability(1)).toEqual([
        { camera: 'front', start: HOUR0 + 90, available: true, checkedMs: 2000 },
        { camera: 'rear', start: HOUR0 + 210, available: true, checkedMs: 1000 },
      ]);
      expect(() => m.recordAvailability(1, [{ camera: 'front', start: HOUR0 + 30, available: false, checkedMs: 1 }])).toThrow(
        /is not a slot of shard 1/,
      );
      expect(m.shardRows()[0]).toMatchObject({ ok: 0, missing: 0 });
    } finally {
      m.close();
    }
  });

  test('campaign.json keeps the selections: verify agrees, and a rebuild restores them', async () => {
    const { run, file, m, shards } = sampleRun();
    const claim = m.claimNextShard(owner('w1'))!;
    m.recordSlots(claim, [missing('front', 3), missing('front', 40), missing('rear', 7)]);
    m.completeShard(claim);
    m.close();
    expect(readCampaignFile(run).shards.map((s) => s.slots)).toEqual(shards.map((s) => s.slots));
    expect(await verifyManifest(file)).toMatchObject({ ok: true, problems: [] });

    const rebuilt = await rebuildManifest(file, { force: true });
    expect(rebuilt.rebuilt).toBe(true);
    const after = openManifest(file, { readonly: true });
    try {
      expect(after.plannedShards().map((s) => s.slots)).toEqual(shards.map((s) => s.slots));
      expect(after.shardRows().map((s) => [s.state, s.slotsTotal, s.missing])).toEqual([
        ['done', 3, 3],
        ['pending', 1, 0],
      ]);
    } finally {
      after.close();
    }
    expect(await verifyManifest(file)).toMatchObject({ ok: true });
  });

  test('planning a sample again: the same draw is a no-op, another is refused with advice', () => {
    const { m, shards } = sampleRun();
    try {
      const settings = m.settings();
      expect(m.plan(settings, shards)).toMatchObject({ created: false, shardsAdded: 0 });
      const other = shards.map((s, i) => (i === 0 ? { ...s, slots: { front: [3, 41], rear: [7] } } : s));
      expect(() => m.plan(settings, other)).toThrow(/already holds a different campaign; a sample campaign cannot be changed or extended/);
    } finally {
      m.close();
    }
  });
});
