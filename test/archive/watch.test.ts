import { afterEach, expect, test } from '@jest/globals';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { openManifest, verifyManifest } from '../../src/manifest/index.js';
import { mintToken } from '../../src/sim/index.js';
import { archiveRelPathOf, clipFileName } from '../../src/storage/index.js';
import { CLI, runMain } from '../helpers/cli.js';
import { exitOf, filesUnder, planArgs, plannedCampaign, startWork, waitFor, type Campaign } from '../worker/campaign.js';
import { sha256File } from './helpers.js';

/*
 * `archive --watch --move` beside a real worker. Which comes first is made certain by the token, not by timing: the
 * worker of the second vehicle starts with an expired token, so it holds its shard running and waits for a renewal
 * while the archive takes the first vehicle's clips; only then does the test renew the token.
 */

let campaign: Campaign | undefined;
let dest: string | undefined;
afterEach(async () => {
  await campaign?.sim.close();
  if (campaign) await rm(campaign.dir, { recursive: true, force: true });
  if (dest) await rm(dest, { recursive: true, force: true });
  campaign = undefined;
});

const HOURS = '16-17';
const CAMERAS = 'front-center,left-center';

/** The ok clips the manifest holds, and the running shards' vehicles. */
function manifestView(c: Campaign) {
  const m = openManifest(c.manifest, { readonly: true });
  try {
    const ok = m
      .plannedShards()
      .flatMap((s) => m.slotResults(s.id))
      .filter((r) => r.outcome === 'ok');
    const running = m
      .shardRows()
      .filter((s) => s.state === 'running')
      .map((s) => s.vehicle);
    return { ok, running, workspaceBytes: m.workspaceBytes() };
  } finally {
    m.close();
  }
}

const archivedCount = (c: Campaign): number => {
  const m = openManifest(c.manifest, { readonly: true });
  try {
    return m.shardsWithClips().reduce((n, s) => n + s.okClips - m.clipsToArchive(s).length, 0);
  } finally {
    m.close();
  }
};

test('--watch --move archives while a worker runs, and ends once the campaign is done with every clip archived', async () => {
  const c = (campaign = await plannedCampaign({ hours: HOURS, vehicles: 'mav', cameras: CAMERAS }));
  dest = await mkdtemp(path.join(os.tmpdir(), 'fleetclip-archive-watch-'));
  expect((await exitOf(startWork(c))).code).toBe(0);
  const firstVehicle = manifestView(c).ok.length;
  expect(firstVehicle).toBeGreaterThan(20);

  // a second vehicle, and a worker for it that can only wait: its token has expired
  expect((await runMain(planArgs(c, { hours: HOURS, vehicles: 'mav,megalodon', cameras: CAMERAS, plan: ['--extend'] }))).code).toBe(0);
  await writeFile(c.tokenFile, `${mintToken({ expiresAtSec: Math.floor(Date.now() / 1000) - 60 })}\n`);
  const worker = startWork(c, ['--auth-grace', '600']);
  const workerExit = exitOf(worker);
  await waitFor(() => manifestView(c).running.includes('megalodon'), 30_000, "the second vehicle's shard to be running");

  const archive = spawn(process.execPath, [CLI, 'archive', '--manifest', c.manifest, '--dest', dest, '--move', '--watch', '1', '--json'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  archive.stdout?.setEncoding('utf8').on('data', (t: string) => (stdout += t));
  archive.stderr?.setEncoding('utf8').on('data', (t: string) => (stderr += t));
  const archiveExit = new Promise<number | null>((resolve) => archive.on('exit', (code) => resolve(code)));

  // the first vehicle's clips are archived and their bytes freed while the worker holds its shard, and the archive waits on
  await waitFor(() => archivedCount(c) === firstVehicle, 30_000, "the first vehicle's clips to be archived");
  await waitFor(() => /pass \d+ done; 1 shard\(s\) still pending or running/.test(stderr), 30_000, 'a pass to end with the shard running');
  expect(manifestView(c)).toMatchObject({ running: ['megalodon'], workspaceBytes: 0 });
  expect(worker.exitCode).toBeNull();
  expect(archive.exitCode).toBeNull();

  await writeFile(c.tokenFile, `${mintToken({ expiresAtSec: Math.floor(Date.now() / 1000) + 3600 })}\n`);
  expect((await workerExit).code).toBe(0);
  expect(await archiveExit).toBe(0);
  const report = JSON.parse(stdout) as { archived: { clips: number }; campaignDone: boolean; passes: number; failed: number };
  const { ok, workspaceBytes } = manifestView(c);
  expect(ok.length).toBeGreaterThan(firstVehicle);
  expect(report).toMatchObject({ archived: { clips: ok.length }, campaignDone: true, failed: 0 });
  expect(report.passes).toBeGreaterThanOrEqual(2);

  // every ok clip is at the destination, byte for byte, and nowhere in the workspace
  for (const r of ok) {
    const fileName = clipFileName(r.vehicle, r.camera, r.start);
    expect(sha256File(path.join(dest, archiveRelPathOf('2025-11-17', r.vehicle, r.camera, fileName)))).toBe(r.sha256);
  }
  expect((await filesUnder(c.out)).filter((f) => f.endsWith('.bag'))).toEqual([]);
  expect(workspaceBytes).toBe(0);
  expect(await verifyManifest(c.manifest, { checksums: true })).toMatchObject({ ok: true, problems: [] });
  expect(fs.readdirSync(dest)).toEqual(['2025-11-17']);
}, 120_000);
