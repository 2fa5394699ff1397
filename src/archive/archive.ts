import { setTimeout as sleep } from 'node:timers/promises';
import fs from 'node:fs';
import path from 'node:path';
import { UsageError, VerificationError } from '../errors.js';
import { openArchiveManifest, type ArchivableClip, type ArchivedClip, type ArchiveManifest, type ArchiveShard } from '../manifest/index.js';
import { localDaysOf } from '../plan/index.js';
import { startRcloneDaemon } from '../rclone/index.js';
import { archiveRelPathOf, clipFileName, clipPathOf, removeFile, sizeOfFile } from '../storage/index.js';
import type { ArchiveOptions } from './options.js';
import { folderTarget, rcloneTarget, type ArchiveTarget } from './target.js';

/** A clip left where it is, and why. */
export interface ArchiveFailure {
  vehicle: string;
  camera: string;
  /** slot start, epoch seconds UTC */
  start: number;
  /** the workspace copy, left in place */
  source: string;
  reason: string;
}

/** Live counts of a run, for a progress display. `clips`/`bytes` are the campaign's ok clips; `done` those walked in this pass. */
export interface ArchiveCounts {
  pass: number;
  clips: number;
  bytes: number;
  clipsDone: number;
  bytesDone: number;
  /** bytes copied to the destination by this run: what bytes/s is measured on */
  bytesCopied: number;
}

export interface ArchiveHooks {
  /** said as it happens: the clip's workspace copy is left where it is */
  onFailure?(failure: ArchiveFailure): void;
  /** a `--watch` pass found the campaign unfinished and waits `watchSeconds` */
  onWait?(wait: { pass: number; unfinishedShards: number; watchSeconds: number }): void;
}

/** Stop taking clips at `stop` (those in progress finish); `abort` also cuts copies in progress short. */
export interface ArchiveControl {
  stop: AbortSignal;
  abort: AbortSignal;
}

export interface ArchiveReport {
  manifest: string;
  destination: string;
  timeZone: string;
  move: boolean;
  /** clips now verified at the destination and recorded: copied now, or found there from an interrupted run */
  archived: { clips: number; bytes: number };
  /** of those, copied by this run */
  copied: { clips: number; bytes: number };
  /** workspace bytes given back (`--move`) */
  freedBytes: number;
  failed: number;
  /** the first failures (`failed` counts them all) */
  failures: ArchiveFailure[];
  passes: number;
  /** the campaign had no pending, released or running shard when the last pass began */
  campaignDone: boolean;
  /** a stop signal ended the run early */
  stopped: boolean;
}

/** Failures listed in a report; the rest are counted. */
const LISTED_FAILURES = 100;

export const emptyArchiveCounts = (): ArchiveCounts => ({ pass: 0, clips: 0, bytes: 0, clipsDone: 0, bytesDone: 0, bytesCopied: 0 });

/** What a clip of the campaign is, to archive: the paths and the date folder worked out once. */
interface ClipJob {
  clip: ArchivableClip;
  vehicle: string;
  source: string | undefined;
  day: string;
  relPath: string;
}

/**
 * The destination, opened and checked (missing, not writable, rclone missing: one clear error before anything moves),
 * with the manifest and the date folder of each clip: what a run and a dry run share.
 */
async function openArchive(options: ArchiveOptions): Promise<{
  manifest: ArchiveManifest;
  target: ArchiveTarget;
  timeZone: string;
  /** the shard's clips this run takes (`wanted`), each with its paths and date folder */
  jobsOf: (shard: ArchiveShard) => ClipJob[];
  close: () => Promise<void>;
}> {
  const manifest = openArchiveManifest(options.manifestPath, { readonly: options.dryRun });
  let target: ArchiveTarget | undefined;
  try {
    const settings = manifest.settings();
    const timeZone = options.timeZone ?? settings.timeZone;
    const outDir = manifest.outDir();
    const dayOf = localDaysOf(timeZone);
    const { destination } = options;
    if (destination.kind === 'folder') {
      assertOutsideWorkspace(destination.path, outDir);
      target = folderTarget(destination.path);
    } else target = rcloneTarget(destination.remote, await startRcloneDaemon());
    await target.check();
    const opened = target;
    const jobOf = (shard: ArchiveShard, clip: ArchivableClip): ClipJob => {
      const fileName = clipFileName(shard.vehicle, clip.camera, clip.start);
      const day = dayOf(clip.start);
      return {
        clip,
        vehicle: shard.vehicle,
        source: clip.bucket === undefined ? undefined : clipPathOf(outDir, shard.vehicle, clip.bucket, fileName),
        day,
        relPath: archiveRelPathOf(day, shard.vehicle, clip.camera, fileName),
      };
    };
    return {
      manifest,
      target: opened,
      timeZone,
      jobsOf: (shard) =>
        wanted(
          manifest.clipsToArchive(shard).map((clip) => jobOf(shard, clip)),
          opened.location,
          options.move,
        ),
      close: async () => {
        await opened.close();
        manifest.close();
      },
    };
  } catch (err) {
    await target?.close();
    manifest.close();
    throw err;
  }
}

/** A destination inside the workspace would hold the clips the workspace cap counts, and free nothing by `--move`. */
function assertOutsideWorkspace(dest: string, outDir: string): void {
  const real = (p: string): string => {
    try {
      return fs.realpathSync(p);
    } catch {
      return p; // not there (yet): its path as given
    }
  };
  const inside = path.relative(real(outDir), real(dest));
  if (inside === '' || !(inside === '..' || inside.startsWith(`..${path.sep}`) || path.isAbsolute(inside)))
    throw new UsageError(`the destination ${dest} is inside the campaign's output folder ${outDir}: archive to a folder outside it`);
}

/**
 * The clips a pass works on: every ok clip whose workspace copy is still there (by the manifest's account), but for
 * those already copied to this very place when nothing is to move. A clip copied elsewhere (another destination, or
 * another date folder: another --tz) is copied here too, and its location becomes this one; one moved away cannot be
 * archived again (the query leaves it out).
 */
function wanted(jobs: readonly ClipJob[], location: string, move: boolean): ClipJob[] {
  return move ? [...jobs] : jobs.filter(({ clip, day }) => !(clip.archived?.destination === location && clip.archived.day === day));
}

export interface ArchiveListing {
  manifest: string;
  destination: string;
  timeZone: string;
  move: boolean;
  /** per date folder, vehicle and camera: what would be archived */
  folders: { day: string; vehicle: string; camera: string; clips: number; bytes: number }[];
  total: { clips: number; bytes: number };
}

/** `--dry-run`: what a run would archive now, per date folder, vehicle and camera; nothing is copied or recorded. */
export async function listArchive(options: ArchiveOptions): Promise<ArchiveListing> {
  const opened = await openArchive(options);
  try {
    const folders = new Map<string, ArchiveListing['folders'][number]>();
    const total = { clips: 0, bytes: 0 };
    for (const shard of opened.manifest.shardsWithClips()) {
      for (const { clip, day } of opened.jobsOf(shard)) {
        const key = `${day} ${shard.vehicle} ${clip.camera}`;
        const folder = folders.get(key) ?? { day, vehicle: shard.vehicle, camera: clip.camera, clips: 0, bytes: 0 };
        folder.clips++;
        folder.bytes += clip.bytes;
        folders.set(key, folder);
        total.clips++;
        total.bytes += clip.bytes;
      }
    }
    const sorted = [...folders.values()].sort(
      (a, b) => a.day.localeCompare(b.day) || a.vehicle.localeCompare(b.vehicle) || a.camera.localeCompare(b.camera),
    );
    return {
      manifest: options.manifestPath,
      destination: opened.target.location,
      timeZone: opened.timeZone,
      move: options.move,
      folders: sorted,
      total,
    };
  } finally {
    await opened.close();
  }
}

/** What became of one clip. */
type ClipOutcome = { kind: 'archived'; record: ArchivedClip; copied: boolean } | { kind: 'failed'; reason: string } | { kind: 'stopped' };

/**
 * Archives the campaign's downloaded clips into `<dest>/<YYYY-MM-DD>/<vehicle>/<camera>/`, a shard at a time. Each
 * clip is copied through a temporary at the destination and verified there (size and sha256 against the manifest)
 * before it gets its name; only then, with `move`, is the workspace copy deleted, and then the manifest records where
 * the clip is (its bytes leave the bucket counts). A run killed anywhere leaves no source deleted unverified and is
 * taken up by the next: a clip already verified at the destination is not copied again, and one whose workspace copy
 * is gone but whose copy verifies is recorded as moved. With `watchSeconds`, passes repeat until a pass that began
 * with no shard pending, released or running (only ok clips are archived: ok is final, so this runs beside workers).
 */
export async function archiveCampaign(
  options: ArchiveOptions,
  hooks: ArchiveHooks = {},
  control: ArchiveControl = { stop: new AbortController().signal, abort: new AbortController().signal },
  counts: ArchiveCounts = emptyArchiveCounts(),
): Promise<ArchiveReport> {
  const opened = await openArchive(options);
  const { manifest, target } = opened;
  const report: ArchiveReport = {
    manifest: options.manifestPath,
    destination: target.location,
    timeZone: opened.timeZone,
    move: options.move,
    archived: { clips: 0, bytes: 0 },
    copied: { clips: 0, bytes: 0 },
    freedBytes: 0,
    failed: 0,
    failures: [],
    passes: 0,
    campaignDone: false,
    stopped: false,
  };
  const fail = (job: ClipJob, reason: string): ClipOutcome => {
    const failure = { vehicle: job.vehicle, camera: job.clip.camera, start: job.clip.start, source: job.source ?? '-', reason };
    report.failed++;
    if (report.failures.length < LISTED_FAILURES) report.failures.push(failure);
    hooks.onFailure?.(failure);
    return { kind: 'failed', reason };
  };

  async function archiveClip(job: ClipJob): Promise<ClipOutcome> {
    const { clip, source } = job;
    if (source === undefined) return fail(job, 'the manifest records no bucket for it');
    const want = { bytes: clip.bytes, sha256: clip.sha256 };
    const inWorkspace = (await sizeOfFile(source)) !== undefined;
    let copied = false;
    const there = await target.inspect(job.relPath, want);
    if (there === 'differs') return fail(job, `${target.location}/${job.relPath} already holds other bytes: both left as they are`);
    if (there === 'absent') {
      if (!inWorkspace) return fail(job, `missing from the workspace and not at ${target.location}/${job.relPath}`);
      try {
        await target.put(source, job.relPath, want, { onBytes: (n) => (counts.bytesCopied += n), signal: control.abort });
      } catch (err) {
        if (err instanceof VerificationError) return fail(job, `${err.message}; the source is left in place`);
        if (control.abort.aborted) return { kind: 'stopped' }; // a second signal cut the copy short: its temporary stays
        throw err;
      }
      copied = true;
    }
    if (options.move && inWorkspace) await removeFile(source);
    const record = {
      camera: clip.camera,
      start: clip.start,
      day: job.day,
      moved: options.move || !inWorkspace,
      bucket: clip.bucket!,
      bytes: clip.bytes,
    };
    return { kind: 'archived', record, copied };
  }

  /** One shard's clips, `transfers` at a time, recorded every `recordEvery`; true when every one was archived. */
  async function archiveShard(shard: ArchiveShard): Promise<boolean> {
    const jobs = opened.jobsOf(shard);
    let pending: ArchivedClip[] = [];
    const flush = (): void => {
      const batch = pending;
      pending = [];
      manifest.recordArchived(target.location, shard, batch);
      for (const r of batch) {
        report.archived.clips++;
        report.archived.bytes += r.bytes;
        if (r.moved) report.freedBytes += r.bytes; // never moved before: moved clips are not archived again
      }
    };
    let failed = false;
    let fatal = false;
    let next = 0;
    const worker = async (): Promise<void> => {
      try {
        while (next < jobs.length && !control.stop.aborted && !fatal) {
          const job = jobs[next++]!;
          const outcome = await archiveClip(job);
          counts.clipsDone++;
          counts.bytesDone += job.clip.bytes;
          if (outcome.kind !== 'archived') {
            failed = true; // not archived: the shard is not finished
            continue;
          }
          if (outcome.copied) {
            report.copied.clips++;
            report.copied.bytes += job.clip.bytes;
          }
          pending.push(outcome.record);
          if (pending.length >= options.recordEvery) flush();
        }
      } catch (err) {
        fatal = true; // the other copies in progress finish; no new one starts
        throw err;
      }
    };
    const settled = await Promise.allSettled(Array.from({ length: Math.min(options.transfers, jobs.length) }, worker));
    flush(); // what was verified is recorded even when a fatal error (a full destination, a dead rclone) ends the run
    const error = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (error) throw error.reason;
    return !failed && next >= jobs.length;
  }

  /** Shards whose every clip this run archived while the shard was done: later watch passes skip them. */
  const finished = new Set<number>();
  try {
    for (;;) {
      const unfinishedShards = manifest.progress().shards.unfinished;
      report.campaignDone = unfinishedShards === 0;
      const shards = manifest.shardsWithClips();
      Object.assign(counts, {
        pass: ++report.passes,
        clips: shards.reduce((n, s) => n + s.okClips, 0),
        bytes: shards.reduce((n, s) => n + s.okBytes, 0),
        clipsDone: 0,
        bytesDone: 0,
      });
      for (const shard of shards) {
        if (control.stop.aborted) break;
        const { clipsDone, bytesDone } = counts;
        // the last pass skips nothing: a shard reset after it was done may have new clips
        if (!finished.has(shard.id) || report.campaignDone) {
          if ((await archiveShard(shard)) && shard.state === 'done') finished.add(shard.id);
        }
        Object.assign(counts, { clipsDone: clipsDone + shard.okClips, bytesDone: bytesDone + shard.okBytes });
      }
      if (options.watchSeconds === undefined || report.campaignDone || control.stop.aborted) break;
      hooks.onWait?.({ pass: report.passes, unfinishedShards, watchSeconds: options.watchSeconds });
      await sleep(options.watchSeconds * 1000, undefined, { signal: control.stop }).catch(() => undefined);
      if (control.stop.aborted) break;
    }
  } finally {
    report.stopped = control.stop.aborted;
    await opened.close();
  }
  return report;
}
