import { afterAll, describe, expect, test } from '@jest/globals';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { openManifest, readReceipts, verifyManifest } from '../../src/manifest/index.js';
import { finished, firstLine, owner, plannedManifest, settingsFor, shardsFor, startWorker, tempRun } from './helpers.js';

const runs: string[] = [];
afterAll(() => runs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

describe('many real processes on one manifest file', () => {
  test('16 workers drain 48 shards: no shard held twice at once, no result lost, no SQLITE_BUSY escaping', async () => {
    const { run, file } = plannedManifest(runs, 24);

    const outs = await Promise.all(Array.from({ length: 16 }, (_, i) => finished(startWorker(file, `w${i}`, 'drain'))));
    // all at once, so a failure shows what every worker said
    expect(outs.map((o, i) => ({ worker: `w${i}`, code: o.code, stderr: o.stderr }))).toEqual(
      outs.map((_, i) => ({ worker: `w${i}`, code: 0, stderr: '' })),
    );
    const holds = outs.flatMap((o) =>
      o.stdout
        .trim()
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { shardId: number; fence: number; fromMs: number; toMs: number; slots: number }),
    );
    // every shard claimed exactly once (nobody's lease expired), each by one worker
    expect(holds.map((h) => h.shardId).sort((a, b) => a - b)).toEqual(Array.from({ length: 48 }, (_, i) => i + 1));
    expect(holds.every((h) => h.fence === 1 && h.slots === 240)).toBe(true);
    expect(new Set(outs.filter((o) => o.stdout.length > 0).map((o) => o.stdout)).size).toBeGreaterThan(1);

    const m2 = openManifest(file, { readonly: true });
    const rows = m2.shardRows();
    expect(rows.every((r) => r.state === 'done' && r.ok + r.missing === 240 && r.attempts === 1)).toBe(true);
    expect(m2.slotCounts().reduce((n, c) => n + c.count, 0)).toBe(48 * 240);
    m2.close();
    expect(readReceipts(run).journals.length).toBe(16);
    const verdict = await verifyManifest(file);
    expect(verdict.problems.filter((p) => !p.includes('missing on disk'))).toEqual([]);
  }, 180_000); // a guard against a hang only: 16 processes on a shared 2-core machine take 5-30 s

  test('a worker SIGKILLed while holding a shard loses it once its lease lapses', async () => {
    const run = tempRun();
    runs.push(run);
    const file = path.join(run, 'manifest.sqlite');
    const settings = settingsFor(run, { vehicles: ['veh-1'] });
    const m = openManifest(file, { create: true });
    m.plan(settings, shardsFor(settings, 1));

    const holder = startWorker(file, 'doomed', 'hold');
    const held = JSON.parse(await firstLine(holder)) as { shardId: number; fence: number; leaseUntilMs: number };
    holder.kill('SIGKILL');
    await finished(holder);

    expect(m.claimNextShard(owner('rescuer'), { nowMs: held.leaseUntilMs - 1 })).toBeUndefined();
    const taken = m.claimNextShard(owner('rescuer'), { nowMs: held.leaseUntilMs + 1 });
    expect(taken).toMatchObject({ shardId: held.shardId, fence: held.fence + 1, attempt: 2, workerId: 'rescuer' });
    m.completeShard(taken!);
    expect(m.shardRows()[0]).toMatchObject({ state: 'done', owner: 'rescuer' });
    m.close();
  }, 30_000);

  test('a commit that meets a reader (status) waits for it and goes through: nothing is redone, no receipt voided', async () => {
    const { run, file } = plannedManifest(runs, 1);
    const m = openManifest(file);
    const claim = m.claimNextShard(owner('w'))!;
    // a reader in another process holds the shared lock for 300 ms, as a long status read would
    const script = `const db = new (require('better-sqlite3'))(process.argv[1], { readonly: true });
      db.exec('BEGIN'); db.prepare('SELECT count(*) FROM shard').get(); process.stdout.write('held\\n');
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 300); db.exec('COMMIT');`;
    const reader = spawn(process.execPath, ['-e', script, file], {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, NODE_OPTIONS: '' },
    });
    const done = finished(reader);
    expect(await firstLine(reader)).toBe('held');
    const started = Date.now();
    m.recordSlots(claim, [{ vehicle: claim.vehicle, camera: 'front', start: claim.hourStart, outcome: 'missing', attempts: 1, atMs: 1 }]);
    expect(Date.now() - started).toBeGreaterThan(100);
    expect((await done).code).toBe(0);
    expect(m.slotResults(claim.shardId)).toHaveLength(1);
    m.close();
    expect(fs.readFileSync(path.join(run, 'receipts', 'w.jsonl'), 'utf8')).not.toContain('"t":"void"');
  });
});
