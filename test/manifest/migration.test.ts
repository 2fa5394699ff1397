import { afterAll, describe, expect, test } from '@jest/globals';
import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { openManifest, readReceipts, rebuildManifest, verifyManifest, type SlotResult } from '../../src/manifest/index.js';
import { writeCampaignFile } from '../../src/manifest/campaign-file.js';
import { SCHEMA_VERSION, migrate } from '../../src/manifest/schema.js';
import { clipFileName } from '../../src/storage/index.js';
import { counters, HOUR0, recount, settingsFor, shardsFor, tempRun } from './helpers.js';

const runs: string[] = [];
afterAll(() => runs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

/** v4's own statements (src/manifest/manifest.ts before v5), so the rows are exactly what v4 wrote. */
const V4 = {
  campaign: `INSERT INTO campaign (id, settings, created_ms, updated_ms) VALUES (1, @settings, @now, @now)`,
  shard: `INSERT OR IGNORE INTO shard (vehicle, hour_start, cameras) VALUES (@vehicle, @hourStart, @cameras)`,
  take: `UPDATE shard SET state = 'running', fence = fence + 1, attempts = attempts + 1, owner_worker = @workerId, owner_host = 'h', owner_pid = 1,
           lease_until_ms = @until, release_reason = NULL, updated_ms = 0 WHERE id = @id`,
  done: `UPDATE shard SET state = 'done', lease_until_ms = NULL, last_error = NULL, release_reason = NULL WHERE id = ?`,
  slot: `INSERT INTO slot_result (vehicle, camera, start, shard_id, fence, outcome, bytes, sha256, path, bag, attempts, error, at_ms, worker)
         VALUES (@vehicle, @camera, @start, @shardId, @fence, @outcome, @bytes, @sha256, @path, @bag, @attempts, @error, @atMs, @worker)
         ON CONFLICT (vehicle, camera, start) DO UPDATE SET shard_id = excluded.shard_id, fence = excluded.fence,
           outcome = excluded.outcome, bytes = excluded.bytes, sha256 = excluded.sha256, path = excluded.path, bag = excluded.bag,
           attempts = excluded.attempts, error = excluded.error, at_ms = excluded.at_ms, worker = excluded.worker`,
  request: `INSERT OR REPLACE INTO clip_request (shard_id, camera, start, filename, requested_ms) VALUES (?, ?, ?, ?, ?)`,
  bucket: `INSERT INTO storage_bucket (vehicle, n, bytes) VALUES (@vehicle, @n, max(0, @bytes))
           ON CONFLICT (vehicle, n) DO UPDATE SET bytes = max(0, bytes + @bytes)`,
  budget: `INSERT OR REPLACE INTO request_budget (id, rate_per_sec, tokens, refilled_ms, last_decrease_ms) VALUES (1, 7, 3, 1000, 0)`,
};

type V4Result = SlotResult & { path?: string };

/**
 * A run folder as fleetclip v4 left it: the schema of migrations 1-4 filled by v4's statements, clips on disk at the
 * absolute paths the rows name, v1 receipts, campaign.json. Shard 1 (veh-1) done, with a slot failed then ok; shard 2
 * (veh-2) still running, its clip in download2, one request still in flight.
 */
function v4Run() {
  const run = tempRun();
  runs.push(run);
  const file = path.join(run, 'manifest.sqlite');
  // as v4 stored them: `onMiss` as its text; v5 reads back the parsed form
  const settings = { ...settingsFor(run), onMiss: { kind: 'gallop', maxStrideSeconds: 600 } } as const;
  const v4Settings = { ...settings, onMiss: 'gallop:600' };
  const shards = shardsFor(settings, 1);
  const clip = (vehicle: string, camera: string, i: number, bucket: number, atMs: number): V4Result => {
    const start = HOUR0 + i * 30;
    const where = path.join(settings.outDir, vehicle, `download${bucket}`, clipFileName(vehicle, camera, start));
    const body = Buffer.from(`#ROSBAG V2.0 ${vehicle} ${camera} ${i}`.repeat(10 + i));
    fs.mkdirSync(path.dirname(where), { recursive: true });
    fs.writeFileSync(where, body);
    const bag = {
      topics: [`/${camera}/image`, '/imu'],
      messageCount: 300 + i,
      firstMessageTime: start + 0.25,
      lastMessageTime: start + 29.875,
    };
    return {
      vehicle,
      camera,
      start,
      outcome: 'ok',
      bytes: body.length,
      sha256: createHash('sha256').update(body).digest('hex'),
      path: where,
      bag,
      attempts: 1,
      atMs,
    };
  };
  const slot = (vehicle: string, camera: string, i: number, outcome: 'missing' | 'failed', atMs: number): V4Result => ({
    vehicle,
    camera,
    start: HOUR0 + i * 30,
    outcome,
    attempts: 1,
    atMs,
    ...(outcome === 'failed' && { error: 'HTTP 503' }),
  });
  const first = [
    clip('veh-1', 'front', 0, 1, 1_000),
    clip('veh-1', 'front', 1, 1, 1_500),
    slot('veh-1', 'rear', 0, 'missing', 2_000),
    slot('veh-1', 'rear', 1, 'failed', 2_500),
  ];
  const later = [clip('veh-1', 'rear', 1, 1, 125_000)]; // the failed slot, fetched again two minutes later
  const second = [clip('veh-2', 'front', 0, 2, 130_000)];

  const db = new Database(file);
  migrate(db, 4);
  const run4 = (sql: string, ...params: unknown[]) => db.prepare(sql).run(...params);
  run4(V4.campaign, { settings: JSON.stringify(v4Settings), now: 0 });
  for (const s of shards) run4(V4.shard, { ...s, cameras: JSON.stringify(s.cameras) });
  run4(V4.take, { id: 1, workerId: 'w1', until: 9e12 });
  run4(V4.take, { id: 2, workerId: 'w2', until: 9e12 });
  const record = (shardId: number, worker: string, results: V4Result[]) => {
    for (const r of results) {
      run4(V4.slot, {
        bytes: null,
        sha256: null,
        path: null,
        error: null,
        ...r,
        bag: r.bag ? JSON.stringify(r.bag) : null,
        shardId,
        fence: 1,
        worker,
      });
    }
  };
  record(1, 'w1', first);
  record(1, 'w1', later);
  run4(V4.done, 1);
  record(2, 'w2', second);
  run4(V4.request, 2, 'front', HOUR0, 'veh-2-front-server.bag', 120_000); // recorded since: dropped by the migration
  run4(V4.request, 2, 'rear', HOUR0 + 30, 'veh-2-rear-server.bag', 131_000); // in flight: kept
  const inBucket = (rs: V4Result[]) => rs.filter((r) => r.outcome === 'ok').reduce((n, r) => n + r.bytes!, 0);
  run4(V4.bucket, { vehicle: 'veh-1', n: 1, bytes: inBucket([...first, ...later]) });
  run4(V4.bucket, { vehicle: 'veh-2', n: 2, bytes: inBucket(second) });
  run4(V4.budget);
  db.close();

  const journal = (worker: string, events: object[]) => {
    fs.mkdirSync(path.join(run, 'receipts'), { recursive: true });
    fs.writeFileSync(path.join(run, 'receipts', `${worker}.jsonl`), events.map((e) => `${JSON.stringify({ v: 1, ...e })}\n`).join(''));
  };
  const claim = (shardId: number, workerId: string) => ({
    t: 'claim',
    shardId,
    fence: 1,
    attempt: 1,
    owner: { workerId, host: 'h', pid: 1 },
    leaseUntilMs: 9e12,
    atMs: 0,
  });
  const slots = (shardId: number, workerId: string, results: V4Result[]) => ({ t: 'slots', shardId, fence: 1, workerId, results });
  journal('w1', [claim(1, 'w1'), slots(1, 'w1', first), slots(1, 'w1', later), { t: 'end', shardId: 1, fence: 1, state: 'done', atMs: 0 }]);
  journal('w2', [claim(2, 'w2'), slots(2, 'w2', second)]);
  writeCampaignFile(run, { settings: v4Settings as unknown as typeof settings, shards: shards.map((s, i) => ({ id: i + 1, ...s })) });

  /** what v5 reads back: the path became a bucket, the rest is unchanged */
  const asV5 = ({ path: _path, ...r }: V4Result, bucket?: number): SlotResult => ({ ...r, ...(bucket !== undefined && { bucket }) });
  const expected = {
    1: [asV5(first[0]!, 1), asV5(first[1]!, 1), asV5(first[2]!), asV5(later[0]!, 1)],
    2: [asV5(second[0]!, 2)],
  };
  return { run, file, settings, expected, bytes: { 'veh-1': inBucket([...first, ...later]), 'veh-2': inBucket(second) } };
}

describe('a v4 manifest migrated to v5', () => {
  test('reads back every row, counter, remembered request, bucket and setting', () => {
    const { file, settings, expected, bytes } = v4Run();
    const m = openManifest(file);
    expect(m.schemaVersion).toBe(SCHEMA_VERSION);
    expect(m.settings()).toEqual(settings);
    expect(m.outDir()).toBe(settings.outDir);
    expect(m.slotResults(1)).toEqual(expected[1]);
    expect(m.slotResults(2)).toEqual(expected[2]);
    expect(m.shardRows().map((r) => [r.id, r.state, r.owner, r.ok, r.missing, r.invalid, r.failed, r.bytes])).toEqual([
      [1, 'done', 'w1', 3, 1, 0, 0, bytes['veh-1']],
      [2, 'running', 'w2', 1, 0, 0, 0, bytes['veh-2']],
    ]);
    expect(counters(file)).toEqual(recount(file));
    expect(m.slotCounts().map((c) => `${c.vehicle} ${c.camera} ${c.outcome} ${c.count}`)).toEqual([
      'veh-1 front ok 2',
      'veh-1 rear ok 1',
      'veh-1 rear missing 1',
      'veh-2 front ok 1',
    ]);
    // the rows' times, per minute: 1.0 to 2.5 s in minute 0, the later ones in minute 2
    expect(m.recentOutcomes(0)).toEqual([
      { vehicle: 'veh-1', count: 4 },
      { vehicle: 'veh-2', count: 1 },
    ]);
    expect(m.recentOutcomes(120_000)).toEqual([
      { vehicle: 'veh-1', count: 1 },
      { vehicle: 'veh-2', count: 1 },
    ]);
    expect(m.rememberedRequests(2)).toEqual([
      { camera: 'rear', start: HOUR0 + 30, filename: 'veh-2-rear-server.bag', requestedAtMs: 131_000 },
    ]);
    expect(m.workspaceBytes()).toBe(bytes['veh-1'] + bytes['veh-2']);
    expect(m.requestRate(1000)).toBe(7);
    m.close();
    const db = new Database(file, { readonly: true });
    expect(db.prepare(`SELECT name FROM sqlite_master WHERE name LIKE '%v4%'`).all()).toEqual([]);
    db.close();
  });

  test('verify finds the clips by bucket and file name and agrees with the v1 receipts; rebuild from them gives the same', async () => {
    const { run, file, expected } = v4Run();
    openManifest(file).close(); // migrates
    expect(
      readReceipts(run)
        .receipts.flatMap((r) => (r.event.t === 'slots' ? r.event.results : []))
        .map((r) => r.bucket),
    ).toEqual([1, 1, undefined, undefined, 1, 2]);
    const report = await verifyManifest(file, { checksums: true });
    expect(report.problems).toEqual([]);
    expect(report.counts).toMatchObject({ shards: 2, slotResults: 5, filesChecked: 4 });

    expect(await rebuildManifest(file, { force: true })).toMatchObject({ rebuilt: true, slotResults: 5 });
    const m = openManifest(file);
    expect([m.slotResults(1), m.slotResults(2)]).toEqual([expected[1], expected[2]]);
    m.close();
    expect(counters(file)).toEqual(recount(file));
  });
});
