import { afterEach, describe, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { mkdir, rm, statfs } from 'node:fs/promises';
import path from 'node:path';
import { openManifest } from '../../src/manifest/index.js';
import { StopController, runWorker } from '../../src/worker/index.js';
import { exitOf, filesUnder, shardRow, plannedCampaign, startWork, type Campaign } from './campaign.js';

/**
 * A campaign's limits on what a clip may take, as its workers meet clips far bigger than it expects (8-16 MiB against
 * a --clip-size of 64 KiB): the per-clip cap, and the workspace cap and free-space floor while a clip streams, not
 * only before it starts.
 */
let campaign: Campaign | undefined;
let mounted: string | undefined;
afterEach(async () => {
  if (mounted) execFileSync('umount', [mounted]);
  mounted = undefined;
  await campaign?.sim.close();
  if (campaign) await rm(campaign.dir, { recursive: true, force: true });
  campaign = undefined;
});

const MiB = 2 ** 20;
const ONE_CLIP_AT_A_TIME = ['--api-rate', '500', '--max-concurrent', '1', '--min-time-ms', '5'];

/** One vehicle, one camera, one hour: 120 slots, about half of them with a clip of `clipBytes`. */
function oneCameraHour(clipBytes: number, plan: string[], pacing?: string[]): Promise<Campaign> {
  return plannedCampaign({ hours: '16-17', vehicles: 'mav', cameras: 'front-center', sim: { clipBytes }, plan, ...(pacing && { pacing }) });
}

const bags = async (c: Campaign) => (await filesUnder(c.out)).filter((f) => f.endsWith('.bag'));

describe('the per-clip cap', () => {
  test("the campaign's --max-clip-bytes reaches its workers: a bigger clip fails at once, cut off, requested once, never placed", async () => {
    const c = (campaign = await oneCameraHour(512 * 1024, ['--max-clip-bytes', '256KiB']));
    const r = await exitOf(startWork(c));
    expect(r.code).toBe(1); // some slots failed: the shard is failed, resubmittable
    expect(shardRow(c)).toMatchObject({ state: 'failed' });
    const m = openManifest(c.manifest, { readonly: true });
    const results = m.slotResults(shardRow(c).id);
    m.close();
    const withData = results.filter((s) => s.outcome !== 'missing');
    expect(withData.length).toBeGreaterThan(10);
    for (const slot of withData)
      expect(slot).toMatchObject({ outcome: 'failed', error: expect.stringMatching(/over the cap of 262144 bytes/) });
    expect(c.sim.stats().requests.video?.['200']).toBe(withData.length); // each cut once, never requested again
    expect(await bags(c)).toEqual([]);
  }, 60_000);

  test('`work --max-clip-bytes` overrides the campaign cap: the same clips then arrive', async () => {
    const c = (campaign = await oneCameraHour(512 * 1024, ['--max-clip-bytes', '256KiB']));
    const r = await exitOf(startWork(c, ['--max-clip-bytes', '1MiB']));
    expect(r.code).toBe(0);
    expect(shardRow(c)).toMatchObject({ state: 'done' });
    expect((await bags(c)).length).toBeGreaterThan(10);
  }, 60_000);
});

describe('storage limits while a clip streams', () => {
  test('a clip that would carry the workspace over its cap stops mid-way: nothing placed, shard released (quota), exit 6', async () => {
    const c = (campaign = await oneCameraHour(
      8 * MiB,
      ['--bucket-cap', '1MiB', '--workspace-cap', '1MiB', '--max-clip-bytes', '64MiB'],
      ONE_CLIP_AT_A_TIME,
    ));
    const r = await exitOf(startWork(c));
    expect(r.code).toBe(6);
    expect(r.stderr).toContain('workspace cap reached');
    expect(shardRow(c)).toMatchObject({ state: 'released', releaseReason: 'quota' });
    expect(await filesUnder(c.out)).toEqual([]); // no clip placed, no temporary left
  }, 60_000);

  const asRoot = process.getuid?.() === 0 ? test : test.skip;
  asRoot(
    'a clip that would take the disk under its free-space floor stops mid-way (a 48 MiB tmpfs, floor 24 MiB): exit 6, the floor kept',
    async () => {
      const c = (campaign = await oneCameraHour(16 * MiB, ['--max-clip-bytes', '64MiB'], ONE_CLIP_AT_A_TIME));
      await mkdir(c.out, { recursive: true });
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=48m', 'fc-workspace-test', c.out]);
      mounted = c.out;
      const r = await runWorker(
        { manifestPath: c.manifest, progress: 'off', minFreeBytes: 24 * MiB, clipOptions: { minClipBytes: 32768 } },
        { stderr: { write: () => true } },
        { stop: new StopController(1000) },
      );
      expect(r.exitCode).toBe(6);
      expect(r.summary).toMatch(/^disk nearly full at /);
      // the first 16 MiB clip fits above the floor; the second would cross it and stops mid-way
      expect(await bags(c)).toHaveLength(1);
      expect(await filesUnder(path.join(c.out, '.partial'))).toEqual([]);
      const fs = await statfs(c.out);
      expect(fs.bavail * fs.bsize).toBeGreaterThanOrEqual(24 * MiB);
      expect(shardRow(c)).toMatchObject({ state: 'released', releaseReason: 'quota' });
    },
    60_000,
  );
});
