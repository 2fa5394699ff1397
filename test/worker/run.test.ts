import { afterEach, describe, expect, test } from '@jest/globals';
import { rename, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { CLI, runCli } from '../helpers/cli.js';
import { openManifest, readReceipts, type RunningClaim } from '../../src/manifest/index.js';
import { clipFileName } from '../../src/storage/index.js';
import { WORKER_FLAGS, compareWithTruth, exitOf, filesUnder, plannedCampaign, waitFor, type Campaign } from './campaign.js';

let campaign: Campaign | undefined;
afterEach(async () => {
  await campaign?.sim.close();
  if (campaign) await rm(campaign.dir, { recursive: true, force: true });
  campaign = undefined;
});

describe('fleetclip run', () => {
  test('with moderate faults, 3 workers put every clip of the truth on disk exactly once, byte-identical, in its bucket; the run folder can then move', async () => {
    const c = (campaign = await plannedCampaign({
      outInRun: true,
      hours: '16-17',
      vehicles: 'mav,megalodon',
      cameras: 'front-center,left-center',
      // 1 MiB buckets hold ~15 clips: several buckets per vehicle
      plan: ['--bucket-cap', '1MiB'],
      sim: {
        rateLimitPerSec: 400,
        faults: {
          rate429: 0.02,
          retryAfterSec: 1,
          rate5xx: 0.03,
          dropRate: 0.03,
          shortBodyRate: 0.02,
          tinyRate: 0.03,
          corruptRate: 0.02,
          headNotAllowedRate: 0.1,
        },
      },
    }));
    const run = await runCli(['run', '--manifest', c.manifest, '--workers', '3', ...WORKER_FLAGS], { timeoutMs: 80_000 });
    expect(run.stderr).toContain('every shard done');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`clips are under ${c.out}`);

    const seen = await compareWithTruth(c, {
      vehicles: ['mav', 'megalodon'],
      cameras: ['front-center', 'left-center'],
      from: '16:00',
      to: '17:00',
    });
    expect(seen.truth).toBeGreaterThan(200);
    expect(seen).toMatchObject({ missing: [], duplicated: [], differ: [], misplaced: [], extra: [], other: [] });
    expect(await filesUnder(`${c.out}/.partial`)).toEqual([]);
    const buckets = new Set((await filesUnder(c.out)).map((f) => f.split('/').slice(0, 2).join('/')));
    expect(buckets.size).toBeGreaterThan(4);

    const status = await runCli(['status', '--manifest', c.manifest, '--json']);
    const report = JSON.parse(status.stdout) as { total: { clips: { ok: number; total: number; remaining: number }; bytes: number } };
    expect(report.total.clips.ok).toBe(seen.files);
    expect(report.total.clips.remaining).toBe(0);
    expect(c.sim.stats().tokenLeaks).toBe(0);

    // every ok clip's recorded bucket is where its file is on disk
    const m = openManifest(c.manifest, { readonly: true });
    try {
      const okPaths = m
        .plannedShards()
        .flatMap((s) => m.slotResults(s.id))
        .filter((r) => r.outcome === 'ok')
        .map((r) => `${r.vehicle}/download${r.bucket}/${clipFileName(r.vehicle, r.camera, r.start)}`);
      expect(okPaths.sort()).toEqual((await filesUnder(c.out)).sort());
    } finally {
      m.close();
    }

    // the manifest locates clips relative to the campaign: a moved run folder is still whole, every clip found
    const moved = path.join(c.dir, 'moved');
    await rename(path.dirname(c.manifest), moved);
    const verify = await runCli(['manifest', 'verify', '--manifest', path.join(moved, 'manifest.sqlite'), '--checksums', '--json']);
    expect(verify.code).toBe(0);
    expect(JSON.parse(verify.stdout)).toMatchObject({ ok: true, problems: [], counts: { filesChecked: seen.files } });
  }, 90_000);

  test('a clip still invalid after every re-request fails its shard (exit 1); run --retry-failed fetches it once the API heals', async () => {
    const c = (campaign = await plannedCampaign({
      hours: '16-17',
      vehicles: 'mav',
      cameras: 'front-center',
      sim: { faults: { tinyRate: 1 } },
    }));
    const broken = await runCli(['run', '--manifest', c.manifest, '--workers', '1', ...WORKER_FLAGS, '--log-level', 'error'], {
      timeoutMs: 60_000,
    });
    expect(broken.code).toBe(1);
    expect(broken.stdout).toContain('fleetclip run --retry-failed tries them again');
    const failed = await runCli(['status', '--manifest', c.manifest, '--failed']);
    expect(failed.stdout).toMatch(/\d+ clip\(s\) still invalid \(tiny or corrupt\) after every re-request/);
    expect((await filesUnder(c.out)).filter((f) => f.endsWith('.bag'))).toEqual([]);

    c.sim.setFaults({ tinyRate: 0 });
    const again = await runCli(['run', '--manifest', c.manifest, '--workers', '1', '--retry-failed', ...WORKER_FLAGS], {
      timeoutMs: 60_000,
    });
    expect(again.stderr).toContain('fleetclip run: 1 failed shard queued again');
    expect(again.code).toBe(0);
    const seen = await compareWithTruth(c, { vehicles: ['mav'], cameras: ['front-center'], from: '16:00', to: '17:00' });
    expect(seen.truth).toBeGreaterThan(50);
    expect(seen).toMatchObject({ missing: [], duplicated: [], differ: [], misplaced: [], extra: [], other: [] });
  }, 90_000);

  test('a worker SIGKILLed mid-shard: its shard is released at once (not when its lease lapses), a replacement finishes it, every clip exactly once', async () => {
    const c = (campaign = await plannedCampaign({
      hours: '16-17',
      vehicles: 'mav',
      cameras: 'front-center,left-center',
      sim: { clipBytes: 512 * 1024 },
    }));
    const run = spawn(process.execPath, [CLI, 'run', '--manifest', c.manifest, '--workers', '1', ...WORKER_FLAGS], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const ran = exitOf(run);
    let victim: RunningClaim | undefined;
    await waitFor(
      () => {
        const m = openManifest(c.manifest, { readonly: true });
        try {
          if ((m.shardRows()[0]?.ok ?? 0) >= 20) victim = m.runningClaims()[0]; // mid-shard: some clips recorded, most not
          return victim !== undefined;
        } finally {
          m.close();
        }
      },
      30_000,
      'a worker 20 clips into its shard',
    );
    const killedAtMs = Date.now();
    process.kill(victim!.owner.pid, 'SIGKILL');
    const r = await ran;
    expect(r.stderr).toMatch(new RegExp(`worker w1/${victim!.owner.pid} died \\(SIGKILL\\); shard 1 released`));
    expect(r.stderr).toContain('fleetclip run: every shard done (2 worker(s) started, 1 replacement(s))');
    expect(r.code).toBe(0);

    // the receipts tell the story in order: the claim and its lease, the release for the death (after the kill, long before
    // that lease could lapse), the replacement's claim of the same shard (fence + 1), which then finished it
    const story = readReceipts(path.dirname(c.manifest))
      .receipts.map((receipt) => receipt.event)
      .filter((e) => e.t === 'claim' || e.t === 'end')
      .sort((a, b) => a.atMs - b.atMs);
    const fence = victim!.fence;
    expect(story).toEqual([
      expect.objectContaining({ t: 'claim', shardId: 1, fence, owner: expect.objectContaining({ pid: victim!.owner.pid }) }),
      expect.objectContaining({ t: 'end', shardId: 1, fence, state: 'released', note: `worker w1/${victim!.owner.pid} died (SIGKILL)` }),
      expect.objectContaining({ t: 'claim', shardId: 1, fence: fence + 1, attempt: 2 }),
      expect.objectContaining({ t: 'end', shardId: 1, fence: fence + 1, state: 'done' }),
    ]);
    const [releasedAtMs, replacedAtMs] = [story[1]!.atMs, story[2]!.atMs];
    const leaseUntilMs = story[0]?.t === 'claim' ? story[0].leaseUntilMs : NaN;
    expect(releasedAtMs).toBeGreaterThanOrEqual(killedAtMs);
    expect(releasedAtMs).toBeLessThan(leaseUntilMs);
    expect(replacedAtMs).toBeLessThan(leaseUntilMs);

    expect(
      await compareWithTruth(c, { vehicles: ['mav'], cameras: ['front-center', 'left-center'], from: '16:00', to: '17:00' }),
    ).toMatchObject({
      missing: [],
      duplicated: [],
      differ: [],
      misplaced: [],
      extra: [],
      other: [],
    });
    expect(await filesUnder(`${c.out}/.partial`)).toEqual([]);
  }, 90_000);

  test.each(['0', '1.5', String(4 * os.availableParallelism() + 1), '100000'])(
    '--workers %s is a one-line usage error',
    async (workers) => {
      const r = await runCli(['run', '--manifest', '/nonexistent/m.sqlite', '--workers', workers]);
      expect(r.code).toBe(2);
      expect(r.stderr).toBe(
        `fleetclip: --workers must be an integer from 1 to ${4 * os.availableParallelism()} (4 per core), got ${workers}\n`,
      );
    },
  );
});
