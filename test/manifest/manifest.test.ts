import { afterAll, describe, expect, test } from '@jest/globals';
import Database from 'better-sqlite3';
import fs from 'node:fs';
import path from 'node:path';
import { LeaseLostError, ManifestError, UsageError } from '../../src/errors.js';
import { openManifest, readCampaignFile, readReceipts, type Claim, type Manifest, type SlotResult } from '../../src/manifest/index.js';
import { counters, HOUR0, owner, recount, settingsFor, shardsFor, tempRun } from './helpers.js';

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
  bucket: 1,
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
    const slow = readReceipts(run)
      .receipts.filter((r) => r.journal === 'slow.jsonl')
      .map((r) => r.event.t);
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
    a.recordSlots(c, [
      slot(c, 0, { outcome: 'failed', bytes: undefined, bucket: undefined, error: 'timeout' }),
      slot(c, 1, { outcome: 'missing', bytes: undefined, bucket: undefined }),
    ]);
    const bag = { topics: ['/cam'], messageCount: 3, firstMessageTime: c.hourStart + 1.5, lastMessageTime: c.hourStart + 29.999999 };
    a.recordSlots(c, [slot(c, 0, { attempts: 2, atMs: 300_000, bag })]);
    const results = a.slotResults(c.shardId);
    expect(results).toEqual([
      { ...slot(c, 0, { attempts: 2, atMs: 300_000 }), bag },
      { vehicle: 'veh-1', camera: 'front', start: c.hourStart + 30, outcome: 'missing', sha256: 'cd'.repeat(32), attempts: 1, atMs: 1001 },
    ]);
    expect(a.shardRows()[0]).toMatchObject({ ok: 1, missing: 1, failed: 0, bytes: 100, slotsTotal: 240 });
    expect(a.slotCounts()).toEqual([
      { vehicle: 'veh-1', camera: 'front', hourStart: HOUR0, outcome: 'ok', count: 1, bytes: 100 },
      { vehicle: 'veh-1', camera: 'front', hourStart: HOUR0, outcome: 'missing', count: 1, bytes: 0 },
    ]);
    // per whole minute: the two first results in minute 0, the overwrite in minute 5
    expect(a.recentOutcomes(240_000)).toEqual([{ vehicle: 'veh-1', count: 1 }]);
    expect(a.recentOutcomes(0)).toEqual([{ vehicle: 'veh-1', count: 3 }]);
    expect(a.recentOutcomeCount(240_000).slots).toBe(1);
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
    a.recordSubmission({ jobId: '103', arrayRange: '0', atMs: 3, kind: 'heal', script: '/run/slurm/heal.sh' });
    expect(a.submissions()).toEqual([
      { jobId: '101', arrayRange: '0-9%4', atMs: 1, kind: 'workers' },
      { jobId: '102', arrayRange: '0-2', atMs: 2, kind: 'workers' },
      { jobId: '103', arrayRange: '0', atMs: 3, kind: 'heal', script: '/run/slurm/heal.sh' },
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
  test('reserveBucket fills download1 up to the cap, then download2; adjustments count; workspaceBytes sums the buckets', () => {
    const { a, b } = planned(1);
    const one = a.claimNextShard(owner('wa'))!; // veh-1
    const two = b.claimNextShard(owner('wb'))!; // veh-2
    const at = (claim: Claim, i: number) => ({ camera: 'front', start: claim.hourStart + i * 30 });
    expect(a.reserveBucket(one, at(one, 0), 600, 1000)).toBe(1);
    expect(a.reserveBucket(one, at(one, 1), 600, 1000)).toBe(2);
    expect(a.reserveBucket(one, at(one, 2), 400, 1000)).toBe(1);
    expect(a.reserveBucket(one, at(one, 3), 5000, 1000)).toBe(3); // larger than the cap: a bucket of its own
    expect(b.reserveBucket(two, at(two, 0), 1, 1000)).toBe(1);
    b.adjustBucket('veh-1', 1, -500);
    expect(a.reserveBucket(one, at(one, 4), 450, 1000)).toBe(1);
    expect(b.workspaceBytes()).toBe(600 + 600 + 400 + 5000 + 1 - 500 + 450);
    a.close();
    b.close();
  });

  test('a slot reserved by an earlier attempt keeps its bucket; the reservation is fenced', () => {
    const { a, b } = planned(1);
    const first = a.claimNextShard(owner('slow'), { nowMs: 0, leaseMs: 1000 })!;
    const clip = { camera: 'rear', start: first.hourStart + 60 };
    expect(a.reserveBucket(first, clip, 700, 1000)).toBe(1);
    const taker = b.claimNextShard(owner('fast'), { nowMs: 5000 })!; // the lease lapsed: same shard, fence 2
    expect(taker.shardId).toBe(first.shardId);
    expect(() => a.reserveBucket(first, clip, 700, 1000)).toThrow(LeaseLostError);
    expect(b.reserveBucket(taker, { camera: 'front', start: taker.hourStart }, 200, 1000)).toBe(1); // 900 of 1000 now
    // the same clip again, 50 bytes larger: not a second reservation, the first one grows (950, though 750 would not fit anew)
    expect(b.reserveBucket(taker, clip, 750, 1000)).toBe(1);
    expect(b.workspaceBytes()).toBe(950);
    b.rememberRequests(taker, [{ camera: 'rear', start: clip.start, filename: 'server-name.bag', requestedAtMs: 5 }]);
    expect(b.rememberedRequests(taker.shardId)).toEqual([
      { camera: 'rear', start: clip.start, filename: 'server-name.bag', requestedAtMs: 5, bucket: 1 },
    ]);
    expect(() => b.reserveBucket(taker, { camera: 'roof', start: taker.hourStart }, 1, 1000)).toThrow('is not a slot of shard 1');
    a.close();
    b.close();
  });

  test('recording a slot forgets its request; a reservation that did not become its clip is given back', () => {
    const { file, a } = planned(1);
    const c = a.claimNextShard(owner('w'))!;
    const slots = [0, 1, 2].map((i) => ({ camera: 'front', start: c.hourStart + i * 30 }));
    a.rememberRequests(
      c,
      slots.map((s, i) => ({ ...s, filename: `f${i}.bag`, requestedAtMs: i })),
    );
    for (const s of slots) a.reserveBucket(c, s, 100, 1000);
    a.rememberRequests(c, [{ ...slots[0]!, filename: 'f0-again.bag', requestedAtMs: 9 }]); // keeps the reservation
    expect(a.rememberedRequests(c.shardId).map((r) => [r.filename, r.bucket])).toEqual([
      ['f0-again.bag', 1],
      ['f1.bag', 1],
      ['f2.bag', 1],
    ]);
    expect(a.workspaceBytes()).toBe(300);
    a.recordSlots(c, [slot(c, 0, { bytes: 100 }), slot(c, 1, { outcome: 'invalid', bytes: undefined, bucket: undefined, error: 'tiny' })]);
    expect(a.rememberedRequests(c.shardId).map((r) => r.filename)).toEqual(['f2.bag']);
    expect(a.workspaceBytes()).toBe(200); // the invalid clip's 100 bytes came back
    const db = new Database(file, { readonly: true });
    expect(db.prepare('SELECT count(*) FROM clip_request').pluck().get()).toBe(1);
    db.close();
    a.close();
  });

  test('the request budget grants at most the planned rate, halves on 429 and recovers', () => {
    const { a, b } = planned(1); // apiRatePerSec 10
    expect(a.drawRequestAllowance('wa', 8, 0)).toBe(8);
    expect(b.drawRequestAllowance('wb', 8, 0)).toBe(2);
    expect(a.drawRequestAllowance('wa', 8, 0)).toBe(0);
    expect(a.drawRequestAllowance('wa', 20, 1000)).toBe(10);
    b.report429(1000);
    a.report429(1200); // same burst: counted once
    expect(a.requestRate(1200)).toBeCloseTo(5 + (10 / 60) * 0.2, 5);
    expect(a.drawRequestAllowance('wa', 20, 2000)).toBe(5);
    expect(a.requestRate(2000 + 60_000)).toBe(10);
    a.close();
    b.close();
  });
});

describe('counters', () => {
  test('the per-shard and per-camera counters follow inserts and overwrites, as a recount of slot_result finds them', () => {
    const { file, a, b } = planned(2);
    const one = a.claimNextShard(owner('wa'))!;
    const two = b.claimNextShard(owner('wb'))!;
    a.recordSlots(one, [
      slot(one, 0, { outcome: 'invalid', bytes: 40, bucket: undefined }),
      slot(one, 1),
      slot(one, 2, { camera: 'rear', outcome: 'failed', bytes: undefined }),
    ]);
    b.recordSlots(two, [slot(two, 0, { outcome: 'missing', bytes: undefined }), slot(two, 1, { bytes: 5000 })]);
    expect(counters(file)).toEqual(recount(file));
    a.recordSlots(one, [slot(one, 0, { bytes: 70 }), slot(one, 2, { camera: 'rear', outcome: 'missing', bytes: undefined })]); // invalid, later ok; failed, later missing
    expect(
      a
        .shardRows()
        .slice(0, 2)
        .map((r) => [r.ok, r.missing, r.invalid, r.failed, r.bytes]),
    ).toEqual([
      [2, 1, 0, 0, 70 + 101],
      [1, 1, 0, 0, 5000],
    ]);
    expect(counters(file)).toEqual(recount(file));
    expect(a.slotCounts().filter((c) => c.hourStart === HOUR0)).toEqual([
      { vehicle: 'veh-1', camera: 'front', hourStart: HOUR0, outcome: 'ok', count: 2, bytes: 171 },
      { vehicle: 'veh-1', camera: 'rear', hourStart: HOUR0, outcome: 'missing', count: 1, bytes: 0 },
    ]);
    a.close();
    b.close();
  });

  test('running shards and recent outcomes are counted for the pre-claim estimate', () => {
    const { a } = planned(2);
    expect(a.runningShardCount()).toBe(0);
    const one = a.claimNextShard(owner('w'))!;
    const two = a.claimNextShard(owner('w'))!;
    expect(a.runningShardCount()).toBe(2);
    a.recordSlots(one, [slot(one, 0, { atMs: 60_000 }), slot(one, 1, { atMs: 119_999 }), slot(one, 2, { atMs: 180_000 })]);
    a.recordSlots(two, [slot(two, 0, { atMs: 180_001 })]);
    a.completeShard(one);
    expect(a.runningShardCount()).toBe(1);
    expect(a.recentOutcomeCount(0)).toEqual({ slots: 4, fromMs: 60_000 });
    expect(a.recentOutcomeCount(80_000)).toEqual({ slots: 4, fromMs: 60_000 }); // from minute 1 on: 80 s is nearer 60 s than 120 s
    expect(a.recentOutcomeCount(100_000)).toEqual({ slots: 2, fromMs: 180_000 }); // from minute 2 on: the first with any is minute 3
    expect(a.recentOutcomeCount(10_000_000)).toEqual({ slots: 0 });
    expect(a.recentOutcomes(100_000)).toEqual([{ vehicle: 'veh-1', count: 2 }]);
    a.close();
  });

  test('activity: workers report in flight, window and hedges; readiness adds up and fades; grants count per minute', () => {
    const { a, b } = planned(1);
    const buckets = (pairs: [number, number][]) => Object.assign(Array<number>(64).fill(0), Object.fromEntries(pairs));
    a.reportActivity(
      'w1',
      { inflight: 5, window: 8, clipRequests: 100, hedges: 2, readiness: buckets([[20, 10]]), fadeAbove: 1_000 },
      60_000,
    );
    b.reportActivity(
      'w2',
      {
        inflight: 3,
        window: 4,
        clipRequests: 50,
        hedges: 1,
        readiness: buckets([
          [20, 5],
          [30, 1],
        ]),
        fadeAbove: 1_000,
      },
      100_000,
    );
    a.reportActivity('w1', { inflight: 6, window: 9, clipRequests: 120, hedges: 2, readiness: buckets([]), fadeAbove: 1_000 }, 110_000);
    expect(a.readinessCounts().slice(19, 31)).toEqual([0, 15, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    expect(a.activity(120_000, 30_000, 5)).toMatchObject({ workers: 2, inflight: 9, window: 13, clipRequests: 170, hedges: 3 });
    expect(a.activity(200_000, 30_000, 5)).toMatchObject({ workers: 0, inflight: 0, clipRequests: 170 });
    b.reportActivity(
      'w2',
      { inflight: 0, window: 4, clipRequests: 50, hedges: 1, readiness: buckets([[20, 990]]), fadeAbove: 1_000 },
      130_000,
    );
    expect(a.readinessCounts()[20]).toBe((15 + 990) / 2); // past 1,000 every count is halved
    // grants: the budget holds one second's worth (rate 7 here)
    expect(a.drawRequestAllowance('w1', 5, 600_000)).toBe(5);
    expect(a.drawRequestAllowance('w1', 5, 601_000)).toBe(5);
    expect(a.activity(660_000, 30_000, 1).grantedPerSec).toBeCloseTo(10 / 60);
    expect(a.activity(720_000, 30_000, 1).grantedPerSec).toBe(0);
    a.close();
    b.close();
  });

  test('progress: shard and slot totals from the counters, claimable shards counting a lapsed lease', () => {
    const { a } = planned(2);
    const shards = a.plannedShards().length;
    const slotsTotal = a.shardRows().reduce((n, r) => n + r.slotsTotal, 0);
    expect(a.progress()).toEqual({
      shards: { total: shards, failed: 0, claimable: shards, unfinished: shards },
      slots: { total: slotsTotal, done: 0, ok: 0 },
    });
    const one = a.claimNextShard(owner('w'), { nowMs: 1_000, leaseMs: 1_000 })!;
    a.recordSlots(one, [slot(one, 0), slot(one, 1, { outcome: 'missing' })]);
    a.failShard(a.claimNextShard(owner('w'), { nowMs: 1_200 })!, 'broken');
    expect(a.progress(1_500)).toEqual({
      shards: { total: shards, failed: 1, claimable: shards - 2, unfinished: shards - 1 },
      slots: { total: slotsTotal, done: 2, ok: 1 },
    });
    expect(a.progress(3_000).shards.claimable).toBe(shards - 1); // the first claim's lease has lapsed
    a.close();
  });
});
