import { describe, expect, test } from '@jest/globals';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { verifyManifest, rebuildManifest } from '../../src/manifest/index.js';
import { runMain } from '../helpers/cli.js';
import { TmpfsMounts, whyNoTmpfs } from '../helpers/mounts.js';
import {
  archivedPath,
  archiveRows,
  at,
  downloadedCampaign,
  filesUnder,
  scratchFolders,
  sha256File,
  workspaceBytes,
  type DownloadedCampaign,
} from './helpers.js';

const { runs, folder: destFolder } = scratchFolders();

const LA = 'America/Los_Angeles';

const archive = (c: DownloadedCampaign, dest: string, ...flags: string[]) =>
  runMain(['archive', '--manifest', c.manifest, '--dest', dest, '--progress', 'off', ...flags]);

/** `<day>/<vehicle>/<camera>/<file>` of each clip, as found under `dest`. */
const layoutOf = (dest: string) => filesUnder(dest);

describe('date folders', () => {
  test('across UTC midnight in America/Los_Angeles: a clip lands on its local day (the campaign zone), or its UTC day with --tz UTC', async () => {
    const starts = [
      at('2025-11-17T23:59:30Z'), // 15:59:30 PST on the 17th
      at('2025-11-18T00:00:00Z'), // 16:00:00 PST on the 17th: the UTC date has moved on, the local one has not
      at('2025-11-18T07:59:30Z'), // 23:59:30 PST: the last slot of the local day
      at('2025-11-18T08:00:00Z'), // 00:00:00 PST on the 18th
    ];
    const local = downloadedCampaign(runs, { timeZone: LA, days: ['2025-11-17', '2025-11-18'], starts, cameras: ['front'] });
    const dest = destFolder();
    const done = await archive(local, dest);
    expect(done.stderr).toBe('');
    expect(done.code).toBe(0);
    expect(layoutOf(dest)).toEqual([
      '2025-11-17/veh-1/front/veh-1_front_20251117T235930Z_30s.bag',
      '2025-11-17/veh-1/front/veh-1_front_20251118T000000Z_30s.bag',
      '2025-11-17/veh-1/front/veh-1_front_20251118T075930Z_30s.bag',
      '2025-11-18/veh-1/front/veh-1_front_20251118T080000Z_30s.bag',
    ]);

    // again to the same destination in UTC: the clips whose UTC day differs are copied into those folders too
    expect(JSON.parse((await archive(local, dest, '--tz', 'UTC', '--json')).stdout)).toMatchObject({ copied: { clips: 2 } });
    expect(layoutOf(dest).filter((f) => f.startsWith('2025-11-18/'))).toEqual([
      '2025-11-18/veh-1/front/veh-1_front_20251118T000000Z_30s.bag',
      '2025-11-18/veh-1/front/veh-1_front_20251118T075930Z_30s.bag',
      '2025-11-18/veh-1/front/veh-1_front_20251118T080000Z_30s.bag',
    ]);

    const utc = destFolder();
    expect((await archive(local, utc, '--tz', 'UTC')).code).toBe(0);
    expect(layoutOf(utc)).toEqual([
      '2025-11-17/veh-1/front/veh-1_front_20251117T235930Z_30s.bag',
      '2025-11-18/veh-1/front/veh-1_front_20251118T000000Z_30s.bag',
      '2025-11-18/veh-1/front/veh-1_front_20251118T075930Z_30s.bag',
      '2025-11-18/veh-1/front/veh-1_front_20251118T080000Z_30s.bag',
    ]);
  });

  test('across the DST days of America/Los_Angeles: both 1 AM hours of the 25-hour day, and the 23-hour day, stay on their local day', async () => {
    const starts = [
      at('2025-11-02T07:00:00Z'), // 00:00 PDT, Nov 2: the first slot of the 25-hour day
      at('2025-11-02T08:30:00Z'), // 01:30 PDT
      at('2025-11-02T09:30:00Z'), // 01:30 PST: the same wall-clock time again, an hour later
      at('2025-11-03T07:59:30Z'), // 23:59:30 PST, Nov 2: its last slot
      at('2025-11-03T08:00:00Z'), // 00:00 PST, Nov 3
      at('2025-03-09T08:00:00Z'), // 00:00 PST, Mar 9: the first slot of the 23-hour day
      at('2025-03-09T09:59:30Z'), // 01:59:30 PST
      at('2025-03-09T10:00:00Z'), // 03:00:00 PDT: 2 AM does not exist
      at('2025-03-10T06:59:30Z'), // 23:59:30 PDT, Mar 9: its last slot
      at('2025-03-10T07:00:00Z'), // 00:00 PDT, Mar 10
    ];
    const c = downloadedCampaign(runs, {
      timeZone: LA,
      days: ['2025-03-09', '2025-03-10', '2025-11-02', '2025-11-03'],
      starts,
      cameras: ['front'],
    });
    const dest = destFolder();
    expect((await archive(c, dest)).code).toBe(0);
    expect(layoutOf(dest)).toEqual([
      '2025-03-09/veh-1/front/veh-1_front_20250309T080000Z_30s.bag',
      '2025-03-09/veh-1/front/veh-1_front_20250309T095930Z_30s.bag',
      '2025-03-09/veh-1/front/veh-1_front_20250309T100000Z_30s.bag',
      '2025-03-09/veh-1/front/veh-1_front_20250310T065930Z_30s.bag',
      '2025-03-10/veh-1/front/veh-1_front_20250310T070000Z_30s.bag',
      '2025-11-02/veh-1/front/veh-1_front_20251102T070000Z_30s.bag',
      '2025-11-02/veh-1/front/veh-1_front_20251102T083000Z_30s.bag',
      '2025-11-02/veh-1/front/veh-1_front_20251102T093000Z_30s.bag',
      '2025-11-02/veh-1/front/veh-1_front_20251103T075930Z_30s.bag',
      '2025-11-03/veh-1/front/veh-1_front_20251103T080000Z_30s.bag',
    ]);
  });
});

/** Six slots of two cameras of two vehicles on one day: 24 clips in several buckets. */
function smallCampaign(): DownloadedCampaign {
  const starts = [0, 30, 60, 3600, 3630, 7200].map((s) => at('2025-11-17T18:00:00Z') + s);
  return downloadedCampaign(runs, { timeZone: LA, days: ['2025-11-17'], starts, vehicles: ['veh-1', 'veh-2'] });
}

/** A folder on another filesystem than the workspace (tmpfs /dev/shm), so a rename could not move a clip there. */
function otherFilesystem(): string | undefined {
  try {
    return fs.statSync('/dev/shm').dev !== fs.statSync(os.tmpdir()).dev ? destFolder('/dev/shm') : undefined;
  } catch {
    return undefined;
  }
}
const crossDevice = otherFilesystem();

describe('copy and move', () => {
  test('copies every clip, verified, and records it; the workspace and its counts stay; a second run has nothing to do', async () => {
    const c = smallCampaign();
    const dest = destFolder();
    const before = workspaceBytes(c);
    const first = await archive(c, dest, '--json');
    expect(first.code).toBe(0);
    expect(JSON.parse(first.stdout)).toMatchObject({
      archived: { clips: 24, bytes: c.clips.reduce((n, k) => n + k.bytes, 0) },
      copied: { clips: 24 },
      freedBytes: 0,
      failed: 0,
      campaignDone: true,
    });
    for (const clip of c.clips) {
      expect(sha256File(archivedPath(dest, '2025-11-17', clip))).toBe(clip.sha256);
      expect(fs.existsSync(clip.path)).toBe(true);
    }
    expect(filesUnder(dest).filter((f) => f.endsWith('.partial'))).toEqual([]);
    expect(workspaceBytes(c)).toBe(before);
    expect(archiveRows(c.manifest).archived.every((row) => row.endsWith(`${JSON.stringify([dest, '2025-11-17'])} 0`))).toBe(true);

    const again = await archive(c, dest, '--json');
    expect(JSON.parse(again.stdout)).toMatchObject({ archived: { clips: 0 }, copied: { clips: 0 } });
  });

  test(`--move${crossDevice ? ' to another filesystem' : ''}: the workspace copies go, the bucket counts drop to 0, verify and rebuild know where the clips are`, async () => {
    const c = smallCampaign();
    const dest = crossDevice ?? destFolder();
    // copied first: a --move then copies nothing and only deletes verified sources
    expect((await archive(c, dest)).code).toBe(0);
    const moved = await archive(c, dest, '--move', '--json');
    expect(moved.code).toBe(0);
    expect(JSON.parse(moved.stdout)).toMatchObject({
      archived: { clips: 24 },
      copied: { clips: 0 },
      freedBytes: c.clips.reduce((n, k) => n + k.bytes, 0),
    });
    expect(filesUnder(c.out)).toEqual([]);
    expect(workspaceBytes(c)).toBe(0);
    for (const clip of c.clips) expect(sha256File(archivedPath(dest, '2025-11-17', clip))).toBe(clip.sha256);

    // the manifest knows where they are: verify looks for them at the destination, not in the workspace
    const verified = await verifyManifest(c.manifest, { checksums: true });
    expect(verified).toMatchObject({ ok: true, problems: [] });
    expect(verified.counts.filesChecked).toBe(24);
    // the receipts know it too: a rebuilt manifest has the same archive rows and bucket counts
    const rows = archiveRows(c.manifest);
    expect((await rebuildManifest(c.manifest, { force: true })).rebuilt).toBe(true);
    expect(archiveRows(c.manifest)).toEqual(rows);
    expect(await verifyManifest(c.manifest)).toMatchObject({ ok: true, problems: [] });

    // and says so when an archived copy goes missing
    fs.rmSync(archivedPath(dest, '2025-11-17', c.clips[0]!));
    const broken = await verifyManifest(c.manifest);
    expect(broken.problems).toEqual([expect.stringContaining(`${archivedPath(dest, '2025-11-17', c.clips[0]!)} is missing on disk`)]);
  });

  test('--dry-run lists what would be archived per date folder, vehicle and camera, with bytes, and changes nothing', async () => {
    const c = smallCampaign();
    const dest = destFolder();
    const listed = await archive(c, dest, '--move', '--dry-run', '--json');
    expect(listed.code).toBe(0);
    const bytesOf = (vehicle: string, camera: string) =>
      c.clips.filter((k) => k.vehicle === vehicle && k.camera === camera).reduce((n, k) => n + k.bytes, 0);
    expect(JSON.parse(listed.stdout)).toEqual({
      manifest: c.manifest,
      destination: dest,
      timeZone: LA,
      move: true,
      folders: ['veh-1', 'veh-2'].flatMap((vehicle) =>
        ['front', 'rear'].map((camera) => ({ day: '2025-11-17', vehicle, camera, clips: 6, bytes: bytesOf(vehicle, camera) })),
      ),
      total: { clips: 24, bytes: c.clips.reduce((n, k) => n + k.bytes, 0) },
    });
    const text = await archive(c, dest, '--dry-run');
    expect(text.stdout).toContain(`would copy 24 clips`);
    expect(text.stdout).toMatch(/^2025-11-17 +veh-2 +rear +6 +24\.\d kB$/m);
    expect(filesUnder(dest)).toEqual([]);
    expect(archiveRows(c.manifest).archived).toEqual([]);
  });
});

describe('what archive refuses', () => {
  test('a clip whose copy does not verify is not archived: its source stays, the run says so and exits 1; the others are archived', async () => {
    const c = smallCampaign();
    const dest = destFolder();
    const bad = c.clips[5]!;
    const bytes = fs.readFileSync(bad.path);
    bytes[100] = bytes[100]! ^ 0xff; // a bit flipped on the workspace disk: same size, other sha256
    fs.writeFileSync(bad.path, bytes);

    const run = await archive(c, dest, '--move');
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`not archived: ${bad.vehicle} ${bad.camera}`);
    expect(run.stderr).toContain('verification failed');
    expect(run.stderr).toContain('the source is left in place');
    expect(run.stdout).toContain('1 clip not archived, the workspace copy left in place');
    expect(fs.readFileSync(bad.path)).toEqual(bytes);
    expect(filesUnder(dest).filter((f) => f.includes(bad.fileName))).toEqual([]);
    expect(filesUnder(c.out)).toEqual([path.relative(c.out, bad.path)]);
    expect(archiveRows(c.manifest).archived).toHaveLength(23);
    expect(workspaceBytes(c)).toBe(bad.bytes);
  });

  test('another file under a clip’s name at the destination is left alone, and so is the source', async () => {
    const c = smallCampaign();
    const dest = destFolder();
    const clip = c.clips[0]!;
    const foreign = archivedPath(dest, '2025-11-17', clip);
    fs.mkdirSync(path.dirname(foreign), { recursive: true });
    fs.writeFileSync(foreign, 'someone else’s file');
    const run = await archive(c, dest, '--move');
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('already holds other bytes: both left as they are');
    expect(fs.readFileSync(foreign, 'utf8')).toBe('someone else’s file');
    expect(fs.existsSync(clip.path)).toBe(true);
  });

  test('a destination that is missing, a file, or inside the workspace is one line, exit 2, before anything moves', async () => {
    const c = smallCampaign();
    const missing = path.join(destFolder(), 'not-there');
    const run = await archive(c, missing, '--move');
    expect(run).toEqual({ code: 2, stdout: '', stderr: `fleetclip: the destination ${missing} does not exist: create it first\n` });
    const file = path.join(destFolder(), 'a-file');
    fs.writeFileSync(file, '');
    expect((await archive(c, file, '--move')).stderr).toBe(`fleetclip: the destination ${file} is not a folder\n`);
    const inside = path.join(c.out, 'archive');
    fs.mkdirSync(inside);
    expect((await archive(c, inside, '--move')).stderr).toBe(
      `fleetclip: the destination ${inside} is inside the campaign's output folder ${c.out}: archive to a folder outside it\n`,
    );
    expect(filesUnder(c.out)).toHaveLength(24);
    expect(archiveRows(c.manifest).archived).toEqual([]);
  });

  const noReadOnlyMount = whyNoTmpfs();
  (noReadOnlyMount ? test.skip : test)(
    `a destination that is not writable (a read-only filesystem) is one line, exit 6, before anything moves${noReadOnlyMount ? ` (skipped: ${noReadOnlyMount})` : ''}`,
    async () => {
      const c = smallCampaign();
      const readOnly = destFolder();
      const mounts = new TmpfsMounts();
      mounts.mount(readOnly, 'ro,size=1m');
      try {
        const run = await archive(c, readOnly, '--move');
        expect(run).toEqual({ code: 6, stdout: '', stderr: `fleetclip: the destination ${readOnly} is not writable: EROFS\n` });
      } finally {
        mounts.unmountAll();
      }
      expect(filesUnder(c.out)).toHaveLength(24);
      expect(archiveRows(c.manifest).archived).toEqual([]);
    },
  );

  test('flags: a bad --tz, --dry-run with --watch, a bad --watch, a bad rclone destination are usage errors', async () => {
    const c = smallCampaign();
    const dest = destFolder();
    expect((await archive(c, dest, '--tz', 'Mars/Olympus')).stderr).toContain("--tz: unknown time zone 'Mars/Olympus'");
    expect((await archive(c, dest, '--dry-run', '--watch', '5')).stderr).toBe(
      'fleetclip: --dry-run and --watch exclude each other: a dry run is one listing\n',
    );
    expect((await archive(c, dest, '--watch', '0')).code).toBe(2);
    expect((await archive(c, 'rclone:nocolon')).stderr).toContain('is not rclone:NAME:path');
  });
});
