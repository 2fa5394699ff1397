import { afterAll, afterEach, describe, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import { CLI, runCli } from '../helpers/cli.js';
import { TmpfsMounts, whyNoTmpfs } from '../helpers/mounts.js';
import { openManifest } from '../../src/manifest/index.js';
import { slotIso } from '../../src/storage/index.js';
import { DAY, WORKER_FLAGS, filesUnder, plannedCampaign, type Campaign } from './campaign.js';

/*
 * An output folder a worker or `fetch` cannot use is a storage error: exit 6 and one line, never a stack trace, and
 * `run` does not start replacement workers that would only meet the same wall. Each way a folder can be unusable is
 * made for real: a file in the way, no permission, a read-only and a full filesystem (tmpfs mounts, as root).
 */

const NOBODY = { uid: 65534, gid: 65534 };

/** Root reads and writes past any permission: as root, the CLI runs as nobody to meet EACCES. */
function unprivileged(): { as?: typeof NOBODY; skip?: string } {
  if (process.getuid?.() !== 0) return {};
  try {
    execFileSync(process.execPath, [CLI, '--version'], { ...NOBODY, stdio: 'ignore' });
    return { as: NOBODY };
  } catch {
    return { skip: `this runs as root and uid ${NOBODY.uid} cannot run ${CLI}` };
  }
}

const noMount = whyNoTmpfs();
const asNobody = unprivileged();
const mounts = new TmpfsMounts();

let campaign: Campaign | undefined;
afterEach(async () => {
  mounts.unmountAll();
  await campaign?.sim.close();
  if (campaign) await rm(campaign.dir, { recursive: true, force: true });
  campaign = undefined;
});
afterAll(() => mounts.unmountAll());

interface Unusable {
  name: string;
  errno: string;
  /** makes the output folder `out` unusable */
  spoil(out: string): Promise<void>;
  /** the user the CLI runs as */
  as?: typeof NOBODY;
  skip?: string;
  /** what the worker says on stderr */
  workerSays: string;
  /** the campaign's one shard afterwards */
  shard: { state: string; releaseReason?: string };
}

const UNUSABLE: Unusable[] = [
  {
    name: 'a file in the way',
    errno: 'ENOTDIR',
    spoil: (out) => writeFile(out, 'not a folder\n'),
    workerSays: 'ENOTDIR',
    shard: { state: 'released', releaseReason: 'storage' },
  },
  {
    name: 'a folder without permission',
    errno: 'EACCES',
    spoil: async (out) => {
      await mkdir(out);
      await chmod(out, 0o000);
    },
    ...asNobody,
    workerSays: 'EACCES',
    shard: { state: 'released', releaseReason: 'storage' },
  },
  {
    name: 'a read-only filesystem',
    errno: 'EROFS',
    spoil: async (out) => mounts.mount(out, 'ro,size=1g'), // 1 GiB "free": the worker's free-space check lets it start
    ...(noMount && { skip: noMount }),
    workerSays: 'EROFS',
    shard: { state: 'released', releaseReason: 'storage' },
  },
  {
    name: 'a full filesystem',
    errno: 'ENOSPC',
    spoil: async (out) => mounts.mount(out, 'size=1m'), // a clip is 2 MB
    ...(noMount && { skip: noMount }),
    workerSays: 'disk nearly full', // the worker's free-space check refuses to claim a shard at all
    shard: { state: 'pending' },
  },
];

/** A planned one-shard campaign with 2 MB clips, its run folder handed to `as` when the CLI runs as another user. */
async function campaignFor(u: Unusable): Promise<Campaign> {
  const c = (campaign = await plannedCampaign({ hours: '16-17', vehicles: 'mav', cameras: 'front-center', sim: { clipBytes: 2_000_000 } }));
  if (u.as) execFileSync('chown', ['-R', `${u.as.uid}:${u.as.gid}`, c.dir]);
  await u.spoil(c.out);
  return c;
}

const each = (u: Unusable) => (u.skip ? test.skip : test);

describe.each(UNUSABLE)('an output folder that is $name ($errno)', (u) => {
  each(u)(`fetch: exit 6, one line naming ${u.errno}, nothing left behind${u.skip ? ` (skipped: ${u.skip})` : ''}`, async () => {
    const c = await campaignFor(u);
    const [slot] = c.sim.truth({ day: DAY, vehicle: 'mav', camera: 'front-center', from: '16:00', to: '17:00' });
    const r = await runCli(
      [
        ...['fetch', '--api-base', c.sim.baseUrl, '--token-file', c.tokenFile, '--vehicle', 'mav', '--camera', 'front-center'],
        ...['--at', slotIso(slot!.start), '--out', c.out, '--min-clip-bytes', '1000'],
      ],
      { ...(u.as && { as: u.as }) },
    );
    expect(r.stderr).toMatch(new RegExp(`^fleetclip: cannot [^\\n]+: ${u.errno}\\n$`));
    expect(r.code).toBe(6);
    expect(r.stdout).toBe('');
    if (u.errno === 'ENOSPC') expect(await filesUnder(c.out)).toEqual([]);
  });

  each(u)(
    `run: the worker exits 6 with one line, no shard is left running, no replacement is started${u.skip ? ` (skipped: ${u.skip})` : ''}`,
    async () => {
      const c = await campaignFor(u);
      const r = await runCli(['run', '--manifest', c.manifest, '--workers', '1', ...WORKER_FLAGS], {
        timeoutMs: 60_000,
        ...(u.as && { as: u.as }),
      });
      expect(r.stderr).not.toContain('internal error');
      expect(r.stderr).not.toMatch(/^\s+at /m); // no stack trace
      expect(r.stderr).toMatch(new RegExp(`^\\[w1/\\d+\\] \\S+ warn +[^\\n]*${u.workerSays}`, 'm'));
      expect(r.stderr).toContain(
        'fleetclip run: workers stopped with exit 6 (see docs/exit-codes.md and their logs) (1 worker(s) started, 0 replacement(s))',
      );
      expect(r.code).toBe(6);
      const m = openManifest(c.manifest, { readonly: true });
      try {
        expect(m.shardRows()[0]).toMatchObject(u.shard);
      } finally {
        m.close();
      }
    },
    60_000,
  );
});
