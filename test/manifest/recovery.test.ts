import { afterAll, describe, expect, test } from '@jest/globals';
import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ManifestError } from '../../src/errors.js';
import {
  openManifest,
  openReceiptJournal,
  readReceipts,
  rebuildManifest,
  verifyManifest,
  type Claim,
  type Manifest,
  type SlotResult,
} from '../../src/manifest/index.js';
import { clipFileName } from '../../src/storage/index.js';
import { counters, owner, plannedManifest, recount, settingsFor, shardsFor, tempRun } from './helpers.js';

const runs: string[] = [];
afterAll(() => runs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

/** Writes a real clip under <out>/<vehicle>/download1/ and returns its ok result. */
function clip(run: string, claim: Claim, i: number, camera = claim.cameras[0]!): SlotResult {
  const start = claim.hourStart + i * 30;
  const file = path.join(run, 'out', claim.vehicle, 'download1', clipFileName(claim.vehicle, camera, start));
  const body = Buffer.from(`#ROSBAG V2.0 ${claim.vehicle} ${camera} ${start}`.repeat(i + 1));
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, body);
  return {
    vehicle: claim.vehicle,
    camera,
    start,
    outcome: 'ok',
    bytes: body.length,
    sha256: createHash('sha256').update(body).digest('hex'),
    bucket: 1,
    attempts: 1,
    atMs: 1000 + i,
  };
}

const miss = (claim: Claim, i: number): SlotResult => ({
  vehicle: claim.vehicle,
  camera: claim.cameras[1]!,
  start: claim.hourStart + i * 30,
  outcome: 'missing',
  attempts: 1,
  atMs: 2000 + i,
});

/** What a user can see of a manifest, lease expiry aside (heartbeats are not receipted). */
function view(m: Manifest) {
  const shards = m.shardRows().map(({ leaseUntilMs: _lease, ...rest }) => rest);
  return { settings: m.settings(), shards, slots: shards.map((s) => m.slotResults(s.id)), submissions: m.submissions() };
}

/**
 * A campaign with some history: a takeover (fences 1 → 2 across two journals), a failure reset by an operator,
 * a release, a shard still running, a submission, and real clips on disk.
 */
function campaignWithHistory() {
  const run = tempRun();
  runs.push(run);
  const file = path.join(run, 'manifest.sqlite');
  const settings = settingsFor(run);
  const m = openManifest(file, { create: true });
  m.plan(settings, shardsFor(settings, 2));
  const slow = m.claimNextShard(owner('slow'), { nowMs: 0, leaseMs: 1000 })!;
  m.recordSlots(slow, [clip(run, slow, 0), clip(run, slow, 1), miss(slow, 0)]);
  const fast = m.claimNextShard(owner('fast'), { nowMs: 5000 })!; // takes shard 1 over
  m.recordSlots(fast, [clip(run, fast, 1), clip(run, fast, 2)]);
  m.completeShard(fast);
  const doomed = m.claimNextShard(owner('slow'))!;
  m.recordSlots(doomed, [miss(doomed, 3)]);
  m.failShard(doomed, 'HTTP 500 five times');
  m.resetFailed();
  const third = m.claimNextShard(owner('third'))!;
  expect(third.shardId).toBe(doomed.shardId);
  m.recordSlots(third, [clip(run, third, 4)]);
  m.releaseShard(third, 'SIGUSR1: time limit near');
  const holding = m.claimNextShard(owner('third'))!;
  m.recordSlots(holding, [clip(run, holding, 5)]);
  m.recordSubmission({ jobId: '555', arrayRange: '0-3%2', atMs: 42 });
  const before = view(m);
  m.close();
  return { run, file, before };
}

describe('manifest verify', () => {
  test('a manifest with history agrees with its receipts and files', async () => {
    const { file } = campaignWithHistory();
    const report = await verifyManifest(file, { checksums: true });
    expect(report.problems).toEqual([]);
    expect(report).toMatchObject({ ok: true, damaged: false, counts: { shards: 4, slotResults: 7, journals: 4, filesChecked: 5 } });
  });

  test('finds a missing clip, a clip of the wrong size and, with checksums, one with other bytes', async () => {
    const { file } = campaignWithHistory();
    const m = openManifest(file, { readonly: true });
    const paths = m
      .plannedShards()
      .flatMap((s) => m.slotResults(s.id))
      .filter((r) => r.outcome === 'ok')
      .sort((a, b) => a.start - b.start)
      .map((r) => path.join(m.outDir(), r.vehicle, `download${r.bucket}`, clipFileName(r.vehicle, r.camera, r.start)));
    m.close();
    fs.rmSync(paths[0]!);
    fs.appendFileSync(paths[1]!, 'x');
    const body = fs.readFileSync(paths[2]!);
    body[0] ^= 0xff;
    fs.writeFileSync(paths[2]!, body);
    expect((await verifyManifest(file)).problems).toHaveLength(2);
    const report = await verifyManifest(file, { checksums: true });
    expect(report.ok).toBe(false);
    expect(report.problems).toEqual([
      expect.stringContaining(`clip ${paths[0]} is missing on disk`),
      expect.stringMatching(new RegExp(`clip ${paths[1]} has \\d+ bytes, recorded \\d+`)),
      expect.stringContaining(`clip ${paths[2]} does not match its sha256`),
    ]);
  });

  test('finds a manifest that disagrees with the receipts', async () => {
    const { file } = campaignWithHistory();
    const db = new Database(file);
    db.exec(`UPDATE slot_result SET outcome = 3 WHERE outcome = 1 AND slot_no % 2 = 0`); // a missing slot now failed
    db.exec(`UPDATE shard SET state = 'done' WHERE id = 3`);
    db.close();
    const report = await verifyManifest(file);
    expect(report.damaged).toBe(false);
    expect(report.problems).toEqual([
      'shard 3: manifest says done (lease 0, attempt 0), receipts say pending (lease 0, attempt 0)',
      expect.stringMatching(/^slot veh-1 rear \d+: manifest says failed lease 1 .* receipts say missing lease 1/),
    ]);
  });
});

describe('a moved run folder', () => {
  test('with outDir stored relative to it, its clips are found where they moved, by bucket and file name', async () => {
    const run = tempRun();
    runs.push(run);
    const settings = settingsFor(run, { outDir: 'out' });
    const m = openManifest(path.join(run, 'manifest.sqlite'), { create: true });
    m.plan(settings, shardsFor(settings, 1));
    const c = m.claimNextShard(owner('w'))!;
    m.recordSlots(c, [clip(run, c, 0), clip(run, c, 1), miss(c, 2)]);
    m.completeShard(c);
    m.close();

    const moved = `${run}-moved`;
    runs.push(moved);
    fs.renameSync(run, moved);
    const reopened = openManifest(path.join(moved, 'manifest.sqlite'), { readonly: true });
    expect(reopened.outDir()).toBe(path.join(moved, 'out'));
    reopened.close();
    expect(await verifyManifest(path.join(moved, 'manifest.sqlite'), { checksums: true })).toMatchObject({
      ok: true,
      problems: [],
      counts: { filesChecked: 2 },
    });
  });
});

describe('manifest rebuild', () => {
  test.each([
    { damage: 'deleted', apply: (f: string) => fs.rmSync(f) },
    { damage: 'truncated to half', apply: (f: string) => fs.truncateSync(f, Math.floor(fs.statSync(f).size / 2)) },
    { damage: 'truncated to nothing', apply: (f: string) => fs.truncateSync(f, 0) },
  ])('after the database was $damage, the rebuilt manifest agrees with receipts and files', async ({ damage, apply }) => {
    const { run, file, before } = campaignWithHistory();
    const original = fs.readFileSync(file);
    apply(file);
    const damaged = await verifyManifest(file);
    expect(damaged).toMatchObject({ ok: false, damaged: true });

    const report = await rebuildManifest(file);
    expect(report).toMatchObject({ rebuilt: true, shards: 4, slotResults: 7 });
    if (damage === 'deleted') expect(report.movedAside).toBeUndefined();
    else expect(fs.readFileSync(report.movedAside!).equals(original.subarray(0, fs.statSync(report.movedAside!).size))).toBe(true);

    const m = openManifest(file);
    expect(view(m)).toEqual(before);
    // bucket bytes were summed from the ok clips' buckets; the counters follow the restored rows
    const inBucket1 = before.slots
      .flat()
      .filter((r) => r.vehicle === 'veh-1' && r.outcome === 'ok')
      .reduce((n, r) => n + r.bytes!, 0);
    expect(m.workspaceBytes()).toBe(inBucket1);
    expect(counters(file)).toEqual(recount(file));
    // fencing survives: the lease of the shard still running is the one its worker holds
    const running = m.shardRows().find((r) => r.state === 'running')!;
    expect(() =>
      m.completeShard({
        shardId: running.id,
        vehicle: running.vehicle,
        hourStart: running.hourStart,
        cameras: running.cameras,
        fence: 0,
        attempt: 1,
        leaseUntilMs: 0,
        workerId: 'third',
      }),
    ).toThrow(ManifestError);
    m.close();
    expect((await verifyManifest(file, { checksums: true })).problems).toEqual([]);
    expect(fs.readdirSync(run).filter((n) => n.includes('.rebuild-'))).toEqual([]);
  });

  test('a healthy manifest is left alone unless forced', async () => {
    const { file, before } = campaignWithHistory();
    expect(await rebuildManifest(file)).toMatchObject({ rebuilt: false });
    const forced = await rebuildManifest(file, { force: true });
    expect(forced.rebuilt).toBe(true);
    expect(fs.existsSync(forced.movedAside!)).toBe(true);
    const m = openManifest(file);
    expect(view(m)).toEqual(before);
    m.close();
  });

  test('without campaign.json there is nothing to rebuild from', async () => {
    const { run, file } = campaignWithHistory();
    fs.rmSync(path.join(run, 'campaign.json'));
    await expect(rebuildManifest(file)).rejects.toThrow(/cannot read the campaign record .*campaign\.json/);
    expect((await verifyManifest(file)).problems[0]).toMatch(/campaign\.json.*a rebuild would not be possible/);
  });
});

describe('receipt journals', () => {
  test('a torn last line (a crash mid-write) is noted and skipped, and the next receipt starts on a new line', async () => {
    const { run, file, before } = campaignWithHistory();
    const journal = path.join(run, 'receipts', 'third.jsonl');
    fs.appendFileSync(journal, '{"v":1,"t":"slots","shardId":4,"fen');
    expect(readReceipts(run).problems).toEqual([expect.stringMatching(/^third\.jsonl @\d+: torn last line/)]);
    const reopened = openReceiptJournal(run, 'third');
    reopened.append({ t: 'submission', submission: { jobId: '556', arrayRange: '0', atMs: 43 } });
    reopened.close();
    const reading = readReceipts(run);
    expect(reading.problems).toEqual([expect.stringMatching(/^third\.jsonl @\d+: unreadable line, ignored/)]);
    expect(reading.receipts.filter((r) => r.event.t === 'submission')).toHaveLength(2);
    fs.rmSync(file);
    await rebuildManifest(file);
    const m = openManifest(file);
    expect(view(m)).toEqual({
      ...before,
      submissions: [...before.submissions, { jobId: '556', arrayRange: '0', atMs: 43, kind: 'workers' }],
    });
    m.close();
  });

  test('a voided receipt (its transaction rolled back) is dropped', () => {
    const run = tempRun();
    runs.push(run);
    const j = openReceiptJournal(run, 'slurm 12_3');
    expect(path.basename(j.path)).toBe('slurm_12_3.jsonl');
    const first = j.append({ t: 'submission', submission: { jobId: '1', arrayRange: '0', atMs: 1 } });
    const second = j.append({ t: 'submission', submission: { jobId: '2', arrayRange: '0', atMs: 2 } });
    j.append({ t: 'void', offset: first });
    j.close();
    expect(second).toBeGreaterThan(first);
    expect(readReceipts(run).receipts.map((r) => r.event)).toEqual([
      { v: 2, t: 'submission', submission: { jobId: '2', arrayRange: '0', atMs: 2 } },
    ]);
  });
});

describe('a writer killed mid-transaction', () => {
  /**
   * A real process that begins a write, changes every shard and more than its page cache holds (so SQLite syncs the
   * journal and writes into the database file), and is SIGKILLed before COMMIT: its journal stays hot.
   */
  function killedWriter(file: string): void {
    const script = `const db = new (require('better-sqlite3'))(process.argv[1]); db.pragma('cache_size = 10');
      db.exec("BEGIN IMMEDIATE; UPDATE shard SET state = 'failed'"); db.prepare('UPDATE campaign SET settings = ?').run('x'.repeat(4e6));
      process.kill(process.pid, 'SIGKILL');`;
    const r = spawnSync(process.execPath, ['-e', script, file], { env: { ...process.env, NODE_OPTIONS: '' } });
    expect(r.signal).toBe('SIGKILL');
    expect(fs.statSync(`${file}-journal`).size).toBeGreaterThan(0);
  }

  test("read-only readers (status, run's progress) roll its journal back and see the last committed state", () => {
    const { file, settings } = plannedManifest(runs, 2);
    const watching = openManifest(file, { readonly: true }); // opened before the crash, like `status --watch`
    killedWriter(file);
    expect(watching.shardRows().map((s) => s.state)).toEqual(['pending', 'pending', 'pending', 'pending']);
    expect(watching.settings()).toEqual(settings);
    expect(fs.existsSync(`${file}-journal`)).toBe(false);
    watching.close();

    killedWriter(file);
    const fresh = openManifest(file, { readonly: true }); // opened after it, like `status`
    expect(fresh.shardRows().map((s) => s.state)).toEqual(['pending', 'pending', 'pending', 'pending']);
    fresh.close();
  });

  test('without write access to the folder, the read says what happened and what to do', () => {
    const { run, file } = plannedManifest(runs, 1);
    killedWriter(file);
    // the reader may read the folder and the manifest (owner-only by default: opened up here as for a reading
    // group) but not delete the journal from the folder: as root, the reader runs as nobody
    for (const f of [file, `${file}-journal`]) fs.chmodSync(f, 0o644);
    fs.chmodSync(run, 0o555);
    const asRoot = process.getuid?.() === 0;
    const manifestModule = pathToFileURL(path.resolve('dist/manifest/index.js')).href;
    const script = `import('${manifestModule}').then((m) => { try { m.openManifest(process.argv[1], { readonly: true }); console.log('opened'); } catch (e) { console.log(e.message); } })`;
    try {
      const r = spawnSync(process.execPath, ['-e', script, file], {
        encoding: 'utf8',
        env: { ...process.env, NODE_OPTIONS: '' },
        ...(asRoot ? { uid: 65534, gid: 65534 } : {}),
      });
      expect(r.stdout).toMatch(
        /a worker was killed in the middle of a write and left its rollback journal \(manifest\.sqlite-journal\), which only a process allowed to write the manifest can roll back/,
      );
    } finally {
      fs.chmodSync(run, 0o755);
    }
  });
});
