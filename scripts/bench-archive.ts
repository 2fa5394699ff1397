/**
 * Archive benchmark (`npm run bench:archive`; figures in docs/performance.md): 240 downloaded clips of 2 MB (two
 * vehicles, two cameras, 60 slots each, written and recorded as a worker leaves them) archived by the built CLI three
 * ways: copied to a folder on the same filesystem, copied through rclone's local backend (`rclone::local:`, when
 * rclone is installed), and moved to a folder on another filesystem (/dev/shm, a tmpfs, when it is one). Each copy is
 * fsynced and read back to be verified, so the figures include a second read of every byte.
 * Options: --dir DIR (where the campaign and the first two destinations go; default a temp folder).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { at, downloadedCampaign } from '../test/archive/helpers.js';

const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'cli.js');
const CLIP_BYTES = 2_000_000;
const i = process.argv.indexOf('--dir');
const base = fs.mkdtempSync(path.join(i >= 0 ? process.argv[i + 1]! : os.tmpdir(), 'fleetclip-bench-archive-'));
const runs: string[] = [];
process.env.TMPDIR = base; // the campaign's run folder goes there too
const starts = Array.from({ length: 60 }, (_, k) => at('2025-11-17T10:00:00Z') + k * 30);
const c = downloadedCampaign(runs, {
  timeZone: 'UTC',
  days: ['2025-11-17'],
  starts,
  vehicles: ['veh-1', 'veh-2'],
  cameras: ['front', 'rear'],
  clipBytes: CLIP_BYTES,
});
const totalMb = (c.clips.length * CLIP_BYTES) / 1e6;

function archive(label: string, dest: string, ...flags: string[]): void {
  const t = process.hrtime.bigint();
  execFileSync(process.execPath, [CLI, 'archive', '--manifest', c.manifest, '--dest', dest, '--progress', 'off', ...flags], {
    stdio: 'ignore',
  });
  const seconds = Number(process.hrtime.bigint() - t) / 1e9;
  console.log(
    `${label.padEnd(40)} ${seconds.toFixed(1)} s  ${(c.clips.length / seconds).toFixed(0)} clips/s  ${(totalMb / seconds).toFixed(0)} MB/s`,
  );
}

try {
  console.log(`${c.clips.length} clips of ${CLIP_BYTES / 1e6} MB (${totalMb} MB) under ${base}`);
  archive('copy to a folder, same filesystem', fs.mkdtempSync(path.join(base, 'dest-')));
  if (spawnSync('rclone', ['version'], { stdio: 'ignore' }).error) console.log('rclone: skipped (no rclone)');
  else archive('copy through rclone (:local:)', `rclone::local:${fs.mkdtempSync(path.join(base, 'dest-'))}`);
  const shm =
    fs.existsSync('/dev/shm') && fs.statSync('/dev/shm').dev !== fs.statSync(base).dev
      ? fs.mkdtempSync('/dev/shm/fleetclip-bench-')
      : undefined;
  if (shm) {
    archive('move to another filesystem (tmpfs)', shm, '--move');
    fs.rmSync(shm, { recursive: true, force: true });
  } else console.log('move to another filesystem: skipped (/dev/shm is not another filesystem here)');
} finally {
  fs.rmSync(base, { recursive: true, force: true });
}
