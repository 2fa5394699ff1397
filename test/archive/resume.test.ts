import { describe, expect, test } from '@jest/globals';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { archiveTempOf } from '../../src/storage/index.js';
import { verifyManifest } from '../../src/manifest/index.js';
import { CLI, runMain } from '../helpers/cli.js';
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
 * An archive run stopped in the middle of a copy. To be in the middle of one for certain (not by timing), the source of
 * one clip is replaced by a named pipe: the run's read of it blocks until the test writes into the pipe, so once part
 * of the clip has arrived in the destination's temporary, the copy is provably under way, and stays so until the test
 * writes the rest.
 */

const { runs, folder: destFolder } = scratchFolders();

const DAY = '2025-11-17';

/** Two vehicles, three hours: 24 clips; clips 0-11 are veh-1's (18:00 ×3, 19:00 ×2, 20:00), 12-23 veh-2's. */
function campaign(): DownloadedCampaign {
  const starts = [0, 30, 60, 3600, 3630, 7200].map((s) => at('2025-11-17T18:00:00Z') + s);
  return downloadedCampaign(runs, {
    timeZone: 'America/Los_Angeles',
    days: [DAY],
    starts,
    vehicles: ['veh-1', 'veh-2'],
    clipBytes: 256 * 1024,
  });
}

function startArchive(
  c: DownloadedCampaign,
  dest: string,
): { child: ChildProcess; said: () => string; exited: Promise<{ code: number | null; signal: string | null; stderr: string }> } {
  const child = spawn(process.execPath, [CLI, 'archive', '--manifest', c.manifest, '--dest', dest, '--move', '--progress', 'off'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (t: string) => (stderr += t));
  child.stdout?.resume();
  return {
    child,
    said: () => stderr,
    exited: new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal, stderr }))),
  };
}

/**
 * Puts a pipe where `victim`'s workspace copy is, starts `archive --move`, feeds the pipe half the clip and waits until
 * that half is in the destination's temporary: the run is then in the middle of copying it. Returns the rest to feed.
 */
async function midCopy(c: DownloadedCampaign, dest: string, victim: number) {
  const clip = c.clips[victim]!;
  const bytes = fs.readFileSync(clip.path);
  fs.rmSync(clip.path);
  execFileSync('mkfifo', [clip.path]);
  const run = startArchive(c, dest);
  const pipe = await fs.promises.open(clip.path, 'w'); // returns once the run opened the pipe to read it
  const half = bytes.length / 2;
  await pipe.write(bytes, 0, half);
  const temp = archiveTempOf(archivedPath(dest, DAY, clip));
  await waitFor(() => fs.existsSync(temp) && fs.statSync(temp).size >= half, 20_000, 'half the clip in the temporary');
  return { clip, bytes, half, pipe, temp, ...run };
}

/** The promise of `--move`: no workspace copy is gone unless its copy at the destination is whole and verified. */
function expectNoSourceLostUnverified(c: DownloadedCampaign, dest: string): void {
  for (const clip of c.clips) {
    if (fs.existsSync(clip.path)) continue;
    const copy = archivedPath(dest, DAY, clip);
    expect({ clip: clip.fileName, copy: fs.existsSync(copy) && sha256File(copy) }).toEqual({ clip: clip.fileName, copy: clip.sha256 });
  }
}

const noFifo = ((): string | undefined => {
  try {
    execFileSync('mkfifo', ['--version'], { stdio: 'ignore' });
    return undefined;
  } catch {
    return 'no mkfifo';
  }
})();

(noFifo ? describe.skip : describe)(`an interrupted archive --move${noFifo ? ` (skipped: ${noFifo})` : ''}`, () => {
  test('killed (SIGKILL) in the middle of a copy, then run again: it goes on, and no source is ever deleted unverified', async () => {
    const c = campaign();
    const dest = destFolder();
    const victim = 10; // veh-1 20:00 front: its shard's other clip (11) is moved meanwhile, but not yet recorded
    const cut = await midCopy(c, dest, victim);
    // clip 11, copied beside the victim, verified and its source deleted: its record waits for the shard's end
    await waitFor(() => !fs.existsSync(c.clips[11]!.path), 20_000, 'clip 11 to be moved');
    cut.child.kill('SIGKILL');
    expect((await cut.exited).signal).toBe('SIGKILL');
    await cut.pipe.close();

    // what the kill left: a partial temporary, never a partial clip under its name; the pipe (the source) still there
    expect(fs.existsSync(archivedPath(dest, DAY, cut.clip))).toBe(false);
    expect(fs.statSync(cut.temp).size).toBeLessThan(cut.bytes.length);
    expect(fs.statSync(cut.clip.path).isFIFO()).toBe(true);
    expectNoSourceLostUnverified(c, dest);
    // veh-1's first two shards were recorded; clip 11 was moved but the kill came before its record
    expect(archiveRows(c.manifest).archived).toHaveLength(10);

    fs.rmSync(cut.clip.path);
    fs.writeFileSync(cut.clip.path, cut.bytes);
    const again = await runMain(['archive', '--manifest', c.manifest, '--dest', dest, '--move', '--progress', 'off', '--json']);
    expect(again.stderr).toBe('');
    expect(again.code).toBe(0);
    // clip 11 found whole at the destination (not copied again) and recorded as moved; the victim copied over its temporary
    expect(JSON.parse(again.stdout)).toMatchObject({ archived: { clips: 14 }, copied: { clips: 13 } });
    for (const clip of c.clips) expect(sha256File(archivedPath(dest, DAY, clip))).toBe(clip.sha256);
    expect(filesUnder(dest).filter((f) => f.endsWith('.partial'))).toEqual([]);
    expect(filesUnder(c.out)).toEqual([]);
    expect(archiveRows(c.manifest).archived).toHaveLength(24);
    expect(workspaceBytes(c)).toBe(0);
    expect(await verifyManifest(c.manifest, { checksums: true })).toMatchObject({ ok: true, problems: [] });
  }, 60_000);

  test('a first signal (SIGTERM) lets the copy in progress finish and records it, starts no other, and exits 10', async () => {
    const c = campaign();
    const dest = destFolder();
    const cut = await midCopy(c, dest, 10);
    cut.child.kill('SIGTERM');
    await waitFor(() => cut.said().includes('stopping after the copies in progress'), 20_000, 'the run to take the signal');
    await cut.pipe.write(cut.bytes, cut.half);
    await cut.pipe.close();
    const exit = await cut.exited;
    expect(exit.code).toBe(10);
    expect(sha256File(archivedPath(dest, DAY, cut.clip))).toBe(cut.clip.sha256);
    // veh-1's clips all moved and recorded; veh-2's never started
    expect(archiveRows(c.manifest).archived).toHaveLength(12);
    expect(filesUnder(c.out).every((f) => f.startsWith('veh-2/'))).toBe(true);
    expect(filesUnder(c.out)).toHaveLength(12);
    expectNoSourceLostUnverified(c, dest);
  }, 60_000);

  test('a second signal cuts the copy in progress short: exit 10 all the same, its temporary left, its source kept', async () => {
    const c = campaign();
    const dest = destFolder();
    const cut = await midCopy(c, dest, 10);
    cut.child.kill('SIGTERM');
    await waitFor(() => cut.said().includes('stopping after the copies in progress'), 20_000, 'the run to take the signal');
    cut.child.kill('SIGTERM');
    await waitFor(() => cut.said().includes('SIGTERM again: cutting the copies in progress short'), 20_000, 'the second signal');
    await cut.pipe.close(); // a read blocked on the pipe cannot be cancelled: its end lets the aborted copy unwind
    const exit = await cut.exited;
    expect(exit.stderr).not.toMatch(/^fleetclip: (?!SIGTERM)/m); // no error line: a stop, not a failure
    expect(exit.code).toBe(10);
    expect(fs.existsSync(archivedPath(dest, DAY, cut.clip))).toBe(false);
    expect(fs.statSync(cut.temp).size).toBeLessThan(cut.bytes.length);
    expect(fs.statSync(cut.clip.path).isFIFO()).toBe(true);
    expectNoSourceLostUnverified(c, dest);
  }, 60_000);
});
