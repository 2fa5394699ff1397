import { afterAll, describe, expect, test } from '@jest/globals';
import fs from 'node:fs';
import path from 'node:path';
import { LeaseLostError, ManifestError, UsageError } from '../../src/errors.js';
import { openManifest, readCampaignFile, readReceipts, type Claim, type Manifest, type SlotResult } from '../../src/manifest/index.js';
import { HOUR0, owner, settingsFor, shardsFor, tempRun } from './helpers.js';

const runs: string[] = [];
afterAll(() => runs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

/** A planned manifest (2 vehicles x `hours`) plus a second connection to the same file, as another worker has. */
function planned(hours = 2): { run: string; file: string; a: Manifest; b: Manifest } {
  const run = tempRun();
  runs.push(run);
  const file = path.join(run, 'manifest.sqlite');
  const a = openManifest(file, { create: true });
  const settings = settingsFor(run);
  a.plan(settings, shardsFor(settings, hours));
  return { run, file, a, b: openManifest(file) };
}

const slot = (claim: Claim, i: number, over: Partial<SlotResult> = {}): SlotResult => ({
  vehicle: claim.vehicle,
  camera: claim.cameras[0]!,
  start: claim.hourStart + i * 30,
  outcome: 'ok',
  bytes: 100 + i,
  sha256: 'cd'.repeat(32),
  path: `/clips/${claim.vehicle}/download1/${i}.bag`,
  attempts: 1,
  atMs: 1000 + i,
  ...over,
});

describe('claims', () => {
  test('two connections claim different shards, in id order, each with lease 1', () => {
    const { a, b } = planned();
    const one = a.claimNextShard(owner('wa'))!;
    const two = b.claimNextShard(owner('wb'))!;
    expect([one.shardId, two.shardId]).toEqual([1, 2]);
    expect([one.fence, two.fence]).toEqual([1, 1]);
    expect(one).toMatchObject({ vehicle: 'veh-1', hourStart: HOUR0, cameras: ['front', 'rear'], attempt: 1, workerId: 'wa' });
    a.close();
    b.close();
  });

  test('nothing left to claim gives undefined', () => {
    const { a, b } = planned(1);
    expect(a.claimNextShard(owner('wa'))).toBeDefined();
    expect(b.claimNextShard(owner('wb'))).toBeDefined();
    expect(a.claimNextShard(owner('wa'))).toBeUndefined();
    a.close();
    b.close();
  });

  test('a released shard is claimable again; a failed one only after resetFailed / resetShards', () => {
    const { a } = planned(1);
    const first = a.claimNextShard(owner('w'))!;
    const second = a.claimNextShard(owner('w'))!;
    a.releaseShard(first, 'SIGTERM');
    a.failShard(second, 'HTTP 500 five times');
    expect(a.shardRows().map((r) => [r.state, r.releaseReason, r.lastError])).toEqual([
      ['released', 'SIGTERM', undefined],
      ['failed', undefined, 'HTTP 500 five times'],
    ]);
    const again = a.claimNextShard(owner('w2'))!;
    expect(again).toMatchObject({ shardId: first.shardId, fence: 2, attempt: 2 });
    expect(a.claimNextShard(owner('w2'))).toBeUndefined();
    expect(a.resetFailed()).toBe(1);
    expect(a.claimNextShard(owner('w2'))).toMatchObject({ shardId: second.shardId, fence: 2, attempt: 1 });
    a.completeShard(again);
    expect(a.resetShards([again.shardId, second.shardId])).toBe(1); // the running one is left alone
    expect(a.shardRows()[0]).toMatchObject({ state: 'pending', attempts: 0 });
    a.close();
  });
});

describe('fencing', () => {
  test('a worker whose lease was taken over is refused every write, and the new owner keeps its work', () => {
    const { run, a, b } = planned(1);
    const stale = a.claimNextShard(owner('slow'), { nowMs: 0, leaseMs: 1000 })!;
    a.recordSlots(stale, [slot(stale, 0)]);
    const fresh = b.claimNextShard(owner('fast'), { nowMs: 5000 })!; // the first shard's lease lapsed at 1000
    expect(fresh).toMatchObject({ shardId: stale.shardId, fence: 2 });
    b.recordSlots(fresh, [slot(fresh, 1, { bytes: 7 })]);

    const refused: (() => unknown)[] = [
      () => a.heartbeat(stale),
      () => a.recordSlots(stale, [slot(stale, 1, { bytes: 666 })]),
      () => a.rememberRequests(stale, [{ camera: 'front', start: stale.hourStart, filename: 'x', requestedAtMs: 1 }]),
      () => a.completeShard(stale),
      () => a.failShard(stale, 'boom'),
      () => a.releaseShard(stale, 'bye'),
    ];
    for (const write of refused) {
      expect(write).toThrow(LeaseLostError);
      expect(write).toThrow(`shard ${stale.shardId} was taken over by fast (lease 2, ours 1); stop working on it`);
    }
    expect(b.slotResults(fresh.shardId).map((r) => r.bytes)).toEqual([100, 7]);
    expect(b.shardRows()[0]).toMatchObject({ state: 'running', owner: 'fast', attempts: 2 });
    b.completeShard(fresh);
    expect(() => b.completeShard(fresh)).toThrow('is done now');
    // refused writes left no receipt: the slow worker's journal has its claim and first batch only
    const slow = readReceipts(run).receipts.filter((r) => r.journal === 'slow.jsonl').map((r) => r.event.t);
    expect(slow).toEqual(['claim', 'slots']);
    a.close();
    b.close();
  });

  test('heartbeats extend the lease, so a live worker is not taken over', () => {
    const { a, b } = planned(1);
    const c = a.claimNextShard(owner('w'), { nowMs: 0, leaseMs: 1000 })!;
    const extended = a.heartbeat(c, { nowMs: 900, leaseMs: 1000 });
    expect(extended.leaseUntilMs).toBe(1900);
    expect(b.claimNextShard(owner('other'), { nowMs: 1500 })?.shardId).not.toBe(c.shardId);
    a.close();
    b.close();
  });

  test('a slot outside the claimed shard is refused', () => {
    const { a } = planned(1);
    const c = a.claimNextShard(owner('w'))!;
    expect(() => a.recordSlots(c, [slot(c, 120)])).toThrow(ManifestError);
    expect(() => a.recordSlots(c, [slot(c, 0, { camera: 'roof' })])).toThrow('is not a slot of shard 1');
    expect(() => a.recordSlots(c, [slot(c, 0, { start: c.hourStart + 7 })])).toThrow(ManifestError);
    a.close();
  });
});

describe('slot results and reads', () => {
  test('a later result for the same slot replaces the earlier one; counts and recent outcomes follow', () => {
    const { a } = planned(1);
    const c = a.claimNextShard(owner('w'))!;
    a.recordSlots(c, [slot(c, 0, { outcome: 'failed', bytes: undefined, path: undefined, error: 'timeout' }), slot(c, 1, { outcome: 'missing', bytes: undefined, path: undefined })]);
    a.recordSlots(c, [slot(c, 0, { attempts: 2, atMs: 5000, bag: { topics: ['/cam'], messageCount: 3, firstMessageTime: 1.5, lastMessageTime: 2.5 } })]);
    const results = a.slotResults(c.shardId);
    expect(results).toEqual([
      { ...slot(c, 0, { attempts: 2, atMs: 5000 }), bag: { topics: ['/cam'], messageCount: 3, firstMessageTime: 1.5, lastMessageTime: 2.5 } },
      { vehicle: 'veh-1', camera: 'front', start: c.hourStart + 30, outcome: 'missing', sha256: 'cd'.repeat(32), attempts: 1, atMs: 1001 },
    ]);
    expect(a.shardRows()[0]).toMatchObject({ ok: 1, missing: 1, failed: 0, bytes: 100, slotsTotal: 240 });
    expect(a.slotCounts()).toEqual([
      { vehicle: 'veh-1', camera: 'front', hourStart: HOUR0, outcome: 'missing', count: 1, bytes: 0 },
      { vehicle: 'veh-1', camera: 'front', hourStart: HOUR0, outcome: 'ok', count: 1, bytes: 100 },
    ]);
    expect(a.recentOutcomes(2000)).toEqual([{ vehicle: 'veh-1', count: 1 }]);
    a.close();
  });

  test('remembered requests are read back per shard, the latest cut of a slot winning', () => {
    const { a, b } = planned(1);
    const c = a.claimNextShard(owner('w'))!;
    a.rememberRequests(c, [
      { camera: 'rear', start: c.hourStart + 60, filename: 'veh-1_rear_x.bag', requestedAtMs: 77 },
      { camera: 'front', start: c.hourStart + 30, filename: 'veh-1_front_y.bag', requestedAtMs: 78 },
    ]);
    a.rememberRequests(c, [{ camera: 'rear', start: c.hourStart + 60, filename: 'veh-1_rear_z.bag', requestedAtMs: 79 }]); // cut again
    expect(b.rememberedRequests(c.shardId)).toEqual([
      { camera: 'front', start: c.hourStart + 30, filename: 'veh-1_front_y.bag', requestedAtMs: 78 },
      { camera: 'rear', start: c.hourStart + 60, filename: 'veh-1_rear_z.bag', requestedAtMs: 79 },
    ]);
    a.close();
    b.close();
  });

  test('Slurm submissions are kept in order', () => {
    const { a } = planned(1);
    a.recordSubmission({ jobId: '101', arrayRange: '0-9%4', atMs: 1 });
    a.recordSubmission({ jobId: '102', arrayRange: '0-2', atMs: 2 });
    expect(a.submissions()).toEqual([
      { jobId: '101', arrayRange: '0-9%4', atMs: 1 },
      { jobId: '102', arrayRange: '0-2', atMs: 2 },
    ]);
    a.close();
  });
});

describe('plan', () => {
  test('the same plan again is a no-op; a different one needs extend; campaign.json follows', () => {
    const { run, a } = planned(2);
    const settings = settingsFor(run);
    expect(a.plan(settings, shardsFor(settings, 2))).toEqual({ created: false, shardsAdded: 0, shardsTotal: 4 });
    expect(() => a.plan(settings, shardsFor(settings, 3))).toThrow(UsageError);
    expect(() => a.plan({ ...settings, apiRatePerSec: 99 }, shardsFor(settings, 2))).toThrow('already holds a different campaign');
    const more = { ...settings, vehicles: [...settings.vehicles, 'veh-3'] };
    expect(a.plan(more, shardsFor(more, 3), { extend: true })).toEqual({ created: false, shardsAdded: 5, shardsTotal: 9 });
    expect(a.settings()).toEqual(more);
    const record = readCampaignFile(run);
    expect(record.settings).toEqual(more);
    expect(record.shards).toEqual(a.plannedShards());
    expect(record.shards.map((s) => s.id)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    a.close();
  });
});

describe('shared counters', () => {
  test('reserveBucket fills download1 up to the cap, then download2; adjustments count', () => {
    const { a, b } = planned(1);
    expect(a.reserveBucket('veh-1', 600, 1000)).toBe(1);
    expect(b.reserveBucket('veh-1', 600, 1000)).toBe(2);
    expect(a.reserveBucket('veh-1', 400, 1000)).toBe(1);
    expect(a.reserveBucket('veh-1', 5000, 1000)).toBe(3); // larger than the cap: a bucket of its own
    expect(a.reserveBucket('veh-2', 1, 1000)).toBe(1);
    b.adjustBucket('veh-1', 1, -500);
    expect(a.reserveBucket('veh-1', 450, 1000)).toBe(1);
    a.close();
    b.close();
  });

  test('the request budget grants at most the planned rate, halves on 429 and recovers', () => {
    const { a, b } = planned(1); // apiRatePerSec 10
    expect(a.drawRequestAllowance('wa', 8, 0)).toBe(8);
    expect(b.drawRequestAllowance('wb', 8, 0)).toBe(2);
    expect(a.drawRequestAllowance('wa', 8, 0)).toBe(0);
    expect(a.drawRequestAllowance('wa', 20, 1000)).toBe(10);
    b.report429(1000);
    a.report429(1200); // same burst: counted once
    expect(a.requestRate(1200)).toBeCloseTo(5 + 10 / 60 * 0.2, 5);
    expect(a.drawRequestAllowance('wa', 20, 2000)).toBe(5);
    expect(a.requestRate(2000 + 60_000)).toBe(10);
    a.close();
    b.close();
  });
});
