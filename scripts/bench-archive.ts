/**
 * Archive benchmark (`npm run bench:archive`; figures in docs/performance.md): 240 downloaded clips of 2 MB (two
 * vehicles, two cameras, 60 slots each, written and recorded as a worker leaves them) archived by the built CLI three
 * ways: copied to a folder on the same filesystem, copied through rclone's local backend (`rclone::local:`, when
 * rclone is installed), and moved to a folder on another filesystem (/dev/shm, a tmpfs, when it is one). Each copy is
 * fsynced and read back to be verified, so the figures include a second read of every byte.
 * `--scale month`: instead, the walk of a month's campaign (31 days x 50 vehicles x 5 cameras, every slot an ok clip:
 * 22.3 M, filled through the manifest's own restore path), timed as `archive --dry-run` (which reads every ok row,
 * a shard at a time, and works out every clip's date folder, without touching a file) and its peak memory.
 * Options: --dir DIR (where the campaign and the first two destinations go; default a temp folder), --scale default|month.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { openWholeManifest } from '../src/manifest/manifest.js';
import type { ShardRecord } from '../src/manifest/replay.js';
import { hourStartsOfDay, addDays } from '../src/plan/index.js';
import { at, downloadedCampaign } from '../test/archive/helpers.js';
import { settingsFor } from '../test/manifest/helpers.js';

const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'cli.js');
const CLIP_BYTES = 2_000_000;
const SLOTS_PER_HOUR = 120;
const CLIPS_PER_SHARD = 5 * SLOTS_PER_HOUR;

function flag(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const base = fs.mkdtempSync(path.join(flag('dir') ?? os.tmpdir(), 'fleetclip-bench-archive-'));
/** 240 clips of 2 MB archived three ways, each timed. */
function copies(): void {
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
}

/** Every slot of a month an ok clip, written by restore; then `archive --dry-run` over it, timed, with its peak memory. */
function walkMonth(): void {
  const run = fs.mkdtempSync(path.join(base, 'month-'));
  const days = Array.from({ length: 31 }, (_, d) => addDays('2026-05-01', d));
  const settings = settingsFor(run, {
    vehicles: Array.from({ length: 50 }, (_, v) => `veh-${String(v + 1).padStart(3, '0')}`),
    cameras: ['front', 'rear', 'left', 'right', 'roof'],
    days,
    timeZone: 'America/Los_Angeles',
  });
  const hours = days.flatMap((day) => hourStartsOfDay(day, settings.timeZone));
  const owner = { workerId: 'bench-fill', host: os.hostname(), pid: process.pid };
  const shards = hours.flatMap((hourStart, h) =>
    settings.vehicles.map((vehicle, v): ShardRecord => ({
      id: h * settings.vehicles.length + v + 1,
      vehicle,
      hourStart,
      cameras: settings.cameras,
      state: 'done',
      fence: 1,
      attempts: 1,
      owner,
    })),
  );
  const manifestPath = path.join(run, 'manifest.sqlite');
  const manifest = openWholeManifest(manifestPath, { create: true });
  let t = process.hrtime.bigint();
  const written = manifest.restore({
    settings,
    shards,
    submissions: [],
    slotsOf: (id) => {
      const shard = shards[id - 1]!;
      const hashes = randomBytes(32 * CLIPS_PER_SHARD).toString('hex');
      return shard.cameras.flatMap((camera, c) =>
        Array.from({ length: SLOTS_PER_HOUR }, (_, i) => ({
          shardId: id,
          fence: 1,
          result: {
            vehicle: shard.vehicle,
            camera,
            start: shard.hourStart + i * 30,
            outcome: 'ok' as const,
            bytes: CLIP_BYTES,
            sha256: hashes.slice((c * SLOTS_PER_HOUR + i) * 64, (c * SLOTS_PER_HOUR + i + 1) * 64),
            bucket: 1,
            attempts: 1,
            atMs: 0,
          },
        })),
      );
    },
  });
  manifest.close();
  console.log(`month: ${shards.length} shards, ${written} ok clips written in ${(Number(process.hrtime.bigint() - t) / 1e9).toFixed(0)} s`);
  t = process.hrtime.bigint();
  const dest = fs.mkdtempSync(path.join(base, 'dest-'));
  // GNU time says the peak RSS of the walk on its last stderr line; without it the walk is timed alone
  const timed = fs.existsSync('/usr/bin/time');
  const argv = [process.execPath, CLI, 'archive', '--manifest', manifestPath, '--dest', dest, '--dry-run', '--json'];
  const walk = spawnSync(timed ? '/usr/bin/time' : argv[0]!, timed ? ['-f', '%M', ...argv] : argv.slice(1), {
    encoding: 'utf8',
    maxBuffer: 64 * 2 ** 20,
  });
  const seconds = Number(process.hrtime.bigint() - t) / 1e9;
  const listing = JSON.parse(walk.stdout) as { total: { clips: number }; folders: unknown[] };
  const peak = timed
    ? `peak RSS ${(Number(walk.stderr.trim().split('\n').at(-1)) / 1024).toFixed(0)} MB`
    : 'peak RSS not measured (no /usr/bin/time)';
  console.log(
    `month: archive --dry-run walked ${listing.total.clips} clips into ${listing.folders.length} date folders in ${seconds.toFixed(0)} s ` +
      `(${Math.round(listing.total.clips / seconds)} clips/s), ${peak}`,
  );
}

try {
  if (flag('scale') === 'month') walkMonth();
  else copies();
} finally {
  fs.rmSync(base, { recursive: true, force: true });
}
