import { afterAll, describe, expect, test } from '@jest/globals';
import fs from 'node:fs';
import path from 'node:path';
import { UsageError } from '../../src/errors.js';
import { assertSafeForManyNodes, assessLocation, inspectFilesystem, lockSelfTest, parseProcMounts } from '../../src/manifest/index.js';
import { mountFor } from '../../src/manifest/filesystem.js';
import { tempRun } from './helpers.js';

const runs: string[] = [];
afterAll(() => runs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

const PROC_MOUNTS = [
  '/dev/vda1 / ext4 rw,relatime,errors=remount-ro 0 0',
  'tmpfs /tmp tmpfs rw,nosuid,nodev 0 0',
  '10.0.0.1@o2ib:10.0.0.2@o2ib:/scratch /global/scratch lustre rw,flock,lazystatfs,user_xattr 0 0',
  '10.0.0.1@o2ib:/scratch2 /global/scratch2 lustre rw,localflock,lazystatfs 0 0',
  '10.0.0.1@o2ib:/scratch3 /global/scratch3 lustre rw,noflock 0 0',
  '10.0.0.1@o2ib:/scratch4 /global/scratch4 lustre rw,lazystatfs 0 0',
  'nfs01:/home /global/home nfs4 rw,relatime,vers=4.1,rsize=1048576,hard,proto=tcp,timeo=600,local_lock=none,addr=10.0.0.5 0 0',
  'nfs02:/data /data nfs rw,vers=3,nolock,proto=tcp 0 0',
  'gpfs1 /gpfs/fs1 gpfs rw,relatime 0 0',
  '/dev/sdb1 /mnt/my\\040disk xfs rw 0 0',
].join('\n');

const mounts = parseProcMounts(PROC_MOUNTS);
const passed = { ok: true, detail: 'held and refused' };

describe('/proc/mounts', () => {
  test('each line becomes a mount, escapes decoded', () => {
    expect(mounts).toHaveLength(10);
    expect(mounts[2]).toEqual({
      device: '10.0.0.1@o2ib:10.0.0.2@o2ib:/scratch',
      mountPoint: '/global/scratch',
      fsType: 'lustre',
      options: ['rw', 'flock', 'lazystatfs', 'user_xattr'],
    });
    expect(mounts[9]?.mountPoint).toBe('/mnt/my disk');
  });

  test.each([
    { file: '/global/scratch/u/run/manifest.sqlite', mountPoint: '/global/scratch' },
    { file: '/global/scratch2/run', mountPoint: '/global/scratch2' },
    { file: '/global/scratchy/run', mountPoint: '/' },
    { file: '/tmp', mountPoint: '/tmp' },
    { file: '/mnt/my disk/a', mountPoint: '/mnt/my disk' },
  ])('$file is on $mountPoint', ({ file, mountPoint }) => {
    expect(mountFor(file, mounts)?.mountPoint).toBe(mountPoint);
  });
});

describe('the verdict', () => {
  test.each([
    {
      where: '/global/scratch/run',
      kind: 'lustre',
      lustreLocking: 'flock',
      one: true,
      many: true,
      says: 'coherent across all client nodes',
    },
    { where: '/global/scratch2/run', kind: 'lustre', lustreLocking: 'localflock', one: true, many: false, says: 'silently corrupt' },
    { where: '/global/scratch3/run', kind: 'lustre', lustreLocking: 'noflock', one: true, many: false, says: 'ENOSYS' },
    { where: '/global/scratch4/run', kind: 'lustre', lustreLocking: 'unstated', one: true, many: false, says: 'cannot be confirmed' },
    { where: '/global/home/u', kind: 'nfs', lustreLocking: undefined, one: true, many: false, says: 'broken on many NFS implementations' },
    { where: '/data/run', kind: 'nfs', lustreLocking: undefined, one: true, many: false, says: 'local-only locks' },
    { where: '/gpfs/fs1/run', kind: 'gpfs', lustreLocking: undefined, one: true, many: true, says: 'coherent across the cluster' },
    { where: '/home/u/run', kind: 'local', lustreLocking: undefined, one: true, many: false, says: 'other nodes cannot see it' },
  ])('$where: $kind $lustreLocking → many nodes $many', ({ where, kind, lustreLocking, one, many, says }) => {
    const mount = mountFor(where, mounts)!;
    const v = assessLocation({ path: where, fsType: 'from statfs', mount, lockTest: passed });
    expect(v).toMatchObject({ kind, fsType: mount.fsType, mountPoint: mount.mountPoint, safeForOneNode: one, safeForManyNodes: many });
    expect(v.lustreLocking).toBe(lustreLocking);
    expect(v.reasons[0]).toContain(says);
  });

  test('a failed lock test or a WAL manifest rules out many nodes even on a flock mount', () => {
    const mount = mountFor('/global/scratch/run', mounts)!;
    const failed = assessLocation({ path: '/global/scratch/run', fsType: 'lustre', mount, lockTest: { ok: false, detail: 'no lock' } });
    expect(failed).toMatchObject({ safeForOneNode: false, safeForManyNodes: false });
    expect(failed.reasons).toContain('lock self-test FAILED: no lock');
    const wal = assessLocation({ path: '/global/scratch/run', fsType: 'lustre', mount, lockTest: passed, journalMode: 'wal' });
    expect(wal.safeForManyNodes).toBe(false);
    expect(wal.reasons.at(-1)).toContain('WAL mode');
  });

  test('without a mount table the statfs type decides', () => {
    expect(assessLocation({ path: '/x', fsType: 'gpfs', lockTest: passed })).toMatchObject({ kind: 'gpfs', safeForManyNodes: true });
    expect(assessLocation({ path: '/x', fsType: 'beegfs', lockTest: passed })).toMatchObject({ kind: 'other', safeForManyNodes: false });
  });
});

describe('on this machine', () => {
  test('the two-process lock self-test passes on the local disk', async () => {
    const dir = tempRun();
    runs.push(dir);
    expect(await lockSelfTest(dir)).toEqual({
      ok: true,
      detail: 'a second process was refused the lock while it was held, and got it after release',
    });
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  test('doctor calls a temp folder local: fine for one node, not for many, and submit would refuse it', async () => {
    const dir = tempRun();
    runs.push(dir);
    const report = await inspectFilesystem(path.join(dir, 'manifest.sqlite'));
    expect(report).toMatchObject({ kind: 'local', safeForOneNode: true, safeForManyNodes: false, lockTest: { ok: true } });
    expect(report.journalMode).toBeUndefined();
    expect(() => assertSafeForManyNodes(report, '--allow-unsafe-manifest')).toThrow(UsageError);
    expect(() => assertSafeForManyNodes(report, '--allow-unsafe-manifest')).toThrow(
      /is not safe for workers on many nodes .*pass --allow-unsafe-manifest/,
    );
    await expect(inspectFilesystem(path.join(dir, 'nope', 'manifest.sqlite'))).rejects.toThrow(UsageError);
  });
});
