import { describe, expect, test } from '@jest/globals';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { openManifest, verifyManifest } from '../../src/manifest/index.js';
import { archiveRelPathOf, archiveTempOf } from '../../src/storage/index.js';
import { CLI, runCli } from '../helpers/cli.js';
import { waitFor } from '../worker/campaign.js';
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

/*
 * rclone destinations, with rclone's local backend (Debian's rclone package; scripts/test.sh installs it as root on
 * Debian): a remote configured in the environment (RCLONE_CONFIG_<NAME>_TYPE=local), a connection string
 * (`:local:`), and a crypt remote over a folder, which keeps no hash, so each copy is read back to be verified.
 */

const { runs, folder } = scratchFolders();

const DAY = '2025-11-17';
const noRclone = spawnSync('rclone', ['version'], { stdio: 'ignore' }).error ? 'no rclone' : undefined;

function campaign(): DownloadedCampaign {
  const starts = [0, 30, 60, 3600].map((s) => at('2025-11-17T18:00:00Z') + s);
  return downloadedCampaign(runs, { timeZone: 'America/Los_Angeles', days: [DAY], starts, vehicles: ['veh-1', 'veh-2'] });
}

const archive = (c: DownloadedCampaign, dest: string, flags: string[] = [], env: NodeJS.ProcessEnv = {}) =>
  runCli(['archive', '--manifest', c.manifest, '--dest', dest, '--progress', 'off', ...flags], { env, timeoutMs: 60_000 });

(noRclone ? describe.skip : describe)(`an rclone destination${noRclone ? ` (skipped: ${noRclone})` : ''}`, () => {
  test('rclone:NAME:path, a local remote from the environment: --move puts every clip there, verified, over a stale temporary', async () => {
    const c = campaign();
    const dest = folder();
    const stale = archiveTempOf(archivedPath(dest, DAY, c.clips[0]!)); // a copy an earlier run was killed in
    fs.mkdirSync(path.dirname(stale), { recursive: true });
    fs.writeFileSync(stale, 'the first bytes of a copy, then a kill');
    const run = await archive(c, `rclone:arch:${dest}`, ['--move', '--json'], { RCLONE_CONFIG_ARCH_TYPE: 'local' });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({
      destination: `rclone:arch:${dest}`,
      archived: { clips: 16 },
      copied: { clips: 16 },
      failed: 0,
    });
    for (const clip of c.clips) expect(sha256File(archivedPath(dest, DAY, clip))).toBe(clip.sha256);
    expect(filesUnder(dest)).toHaveLength(16);
    expect(filesUnder(c.out)).toEqual([]);
    expect(workspaceBytes(c)).toBe(0);
    const verified = await verifyManifest(c.manifest);
    expect(verified).toMatchObject({ ok: true, problems: [], counts: { filesChecked: 16, remoteUnchecked: 16 } });
    expect(verified.notes).toContain(
      '16 archived clip(s) on rclone remotes not looked at (archive verified their sha256 when it put them there)',
    );
  }, 60_000);

  test('rclone::local:path: a copy, then --move copies nothing more, deletes the verified sources and frees the workspace', async () => {
    const c = campaign();
    const dest = folder();
    const before = workspaceBytes(c);
    expect((await archive(c, `rclone::local:${dest}`)).code).toBe(0);
    expect(filesUnder(c.out)).toHaveLength(16);
    expect(workspaceBytes(c)).toBe(before);
    const moved = await archive(c, `rclone::local:${dest}`, ['--move', '--json']);
    expect(moved.code).toBe(0);
    expect(JSON.parse(moved.stdout)).toMatchObject({ archived: { clips: 16 }, copied: { clips: 0 }, freedBytes: before });
    expect(filesUnder(c.out)).toEqual([]);
    expect(workspaceBytes(c)).toBe(0);
    expect(archiveRows(c.manifest).archived.every((row) => row.endsWith(`${JSON.stringify([`rclone::local:${dest}`, DAY])} 1`))).toBe(true);
  }, 60_000);

  test('a remote that keeps no hash (crypt): each copy is read back and hashed; one that does not match is dropped, its source kept', async () => {
    const c = campaign();
    const sealed = folder();
    const env = {
      RCLONE_CONFIG_SEALED_TYPE: 'crypt',
      RCLONE_CONFIG_SEALED_REMOTE: sealed,
      RCLONE_CONFIG_SEALED_PASSWORD: execFileSync('rclone', ['obscure', '-q', 'not-a-real-secret'], { encoding: 'utf8' }).trim(),
    };
    const bad = c.clips[3]!;
    const bytes = fs.readFileSync(bad.path);
    bytes[7] = bytes[7]! ^ 0x01;
    fs.writeFileSync(bad.path, bytes);
    const run = await archive(c, 'rclone:sealed:', ['--move', '--json'], env);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`not archived: ${bad.vehicle} ${bad.camera}`);
    expect(run.stderr).toContain('verification failed');
    expect(JSON.parse(run.stdout)).toMatchObject({ archived: { clips: 15 }, failed: 1 });
    expect(filesUnder(c.out)).toEqual([path.relative(c.out, bad.path)]);
    // what is there, read back through rclone, is every clip but the bad one, byte for byte
    const listed = execFileSync('rclone', ['lsf', '-q', '-R', '--files-only', 'sealed:'], {
      env: { ...process.env, ...env },
      encoding: 'utf8',
    });
    const wanted = c.clips.filter((k) => k !== bad).map((k) => archiveRelPathOf(DAY, k.vehicle, k.camera, k.fileName));
    expect(listed.trim().split('\n').sort()).toEqual(wanted.sort());
  }, 60_000);

  test('a temporary folder (TMPDIR) that cannot be used is one line, exit 6, before anything moves', async () => {
    const c = campaign();
    const tmp = path.join(folder(), 'no-such-folder');
    const run = await archive(c, `rclone::local:${folder()}`, ['--move'], { TMPDIR: tmp });
    expect(run.stderr).toBe(`fleetclip: cannot create a scratch folder in ${tmp}: ENOENT\n`);
    expect(run.code).toBe(6);
    expect(filesUnder(c.out)).toHaveLength(16);
  }, 60_000);

  test('a remote rclone does not know is one line, exit 6, before anything moves', async () => {
    const c = campaign();
    const run = await archive(c, 'rclone:nowhere:fleet', ['--move']);
    expect(run.code).toBe(6);
    expect(run.stderr).toBe(
      "fleetclip: the destination rclone:nowhere:fleet cannot be used: rclone operations/stat failed: didn't find section in config file\n",
    );
    expect(filesUnder(c.out)).toHaveLength(16);
  }, 60_000);

  test('Ctrl-C at a terminal (SIGINT to the whole process group) stops the run with exit 10, and the daemon with it', async () => {
    // its own process group, as a terminal's foreground job: the group's signal reaches rclone's shell too
    const { child, exited, daemons } = await watchingAfterFirstPass({ detached: true });
    process.kill(-child.pid!, 'SIGINT');
    expect(await exited).toBe(10);
    await waitFor(() => daemons.every((p) => !alive(p.pid)), 10_000, 'the rclone daemon to end');
  }, 60_000);

  test('the rclone daemon does not outlive an archive killed with SIGKILL', async () => {
    const { child, exited, daemons } = await watchingAfterFirstPass({ detached: false });
    child.kill('SIGKILL');
    await exited;
    await waitFor(() => daemons.every((p) => !alive(p.pid)), 10_000, 'the rclone daemon to end');
  }, 60_000);
});

test('rclone not on PATH: one line that says how to install it, exit 2', async () => {
  const c = campaign();
  const run = await archive(c, 'rclone:box:fleet', [], { PATH: folder() });
  expect(run.code).toBe(2);
  expect(run.stderr).toMatch(
    /^fleetclip: rclone is not installed \(no `rclone` on PATH\): install it \(Debian\/Ubuntu: apt-get install rclone;.*\n$/,
  );
});

/**
 * `archive --watch` to an rclone destination, with a shard pending again so that it waits after its first pass;
 * returns once that pass is done, with the processes below it (rclone's among them).
 */
async function watchingAfterFirstPass(opts: { detached: boolean }) {
  const c = campaign();
  const m = openManifest(c.manifest);
  m.resetShards([1]);
  m.close();
  const argv = [CLI, 'archive', '--manifest', c.manifest, '--dest', `rclone::local:${folder()}`, '--watch', '60'];
  const child = spawn(process.execPath, argv, { stdio: ['ignore', 'ignore', 'pipe'], detached: opts.detached });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (t: string) => (stderr += t));
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  await waitFor(() => stderr.includes('pass 1 done'), 30_000, 'the first pass');
  const daemons = descendantsOf(child.pid!);
  expect(daemons.some((p) => p.command === 'rclone')).toBe(true);
  return { child, exited, daemons };
}

/** Processes below `pid` (from /proc), with their command names. */
function descendantsOf(pid: number): { pid: number; command: string }[] {
  const all = fs
    .readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .flatMap((d) => {
      try {
        const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
        const command = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
        const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
        return [{ pid: Number(d), ppid, command }];
      } catch {
        return [];
      }
    });
  const found: { pid: number; command: string }[] = [];
  for (let parents = [pid]; parents.length > 0;) {
    const children = all.filter((p) => parents.includes(p.ppid));
    found.push(...children.map(({ pid: child, command }) => ({ pid: child, command })));
    parents = children.map((p) => p.pid);
  }
  return found;
}

function alive(pid: number): boolean {
  try {
    const state = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0];
    return state !== 'Z';
  } catch {
    return false;
  }
}
