import { afterAll } from '@jest/globals';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { openManifest, type SlotResult } from '../../src/manifest/index.js';
import { hourStartsOfDay } from '../../src/plan/index.js';
import { SHARD_SECONDS, type CampaignSettings } from '../../src/plan/types.js';
import { archiveRelPathOf, clipFileName, clipPathOf } from '../../src/storage/index.js';
import { owner, settingsFor, tempRun } from '../manifest/helpers.js';

export interface DownloadedClip {
  vehicle: string;
  camera: string;
  /** slot start, epoch seconds UTC */
  start: number;
  bytes: number;
  sha256: string;
  /** the workspace copy */
  path: string;
  fileName: string;
}

export interface DownloadedCampaign {
  run: string;
  manifest: string;
  out: string;
  settings: CampaignSettings;
  clips: DownloadedClip[];
}

/**
 * The folders a test file makes, removed after its last test: `runs` for `downloadedCampaign`, and `folder(under)` for a
 * new empty one (a destination) under `under` (the temporary folder by default).
 */
export function scratchFolders(): { runs: string[]; folder(under?: string): string } {
  const runs: string[] = [];
  afterAll(() => runs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));
  return {
    runs,
    folder(under = os.tmpdir()) {
      const dir = fs.mkdtempSync(path.join(under, 'fleetclip-archive-'));
      runs.push(dir);
      return dir;
    },
  };
}

/** `2025-11-17T23:59:30Z` → epoch seconds */
export const at = (iso: string): number => Date.parse(iso) / 1000;

/**
 * A campaign whose every hour of `days` (local, in `timeZone`) is planned for each vehicle, and whose worker downloaded
 * one clip of random bytes per camera at each of `starts` (written into the bucket the manifest reserves, recorded ok,
 * shards completed), as a real worker leaves it: receipts, bucket counts and all. The run folder is added to `runs`.
 */
export function downloadedCampaign(
  runs: string[],
  opts: { timeZone: string; days: string[]; starts: number[]; vehicles?: string[]; cameras?: string[]; clipBytes?: number },
): DownloadedCampaign {
  const run = tempRun();
  runs.push(run);
  const manifest = path.join(run, 'manifest.sqlite');
  const settings = settingsFor(run, {
    timeZone: opts.timeZone,
    days: opts.days,
    vehicles: opts.vehicles ?? ['veh-1'],
    cameras: opts.cameras ?? ['front', 'rear'],
    bucketCapBytes: 100_000,
  });
  const shards = settings.vehicles.flatMap((vehicle) =>
    opts.days.flatMap((day) => hourStartsOfDay(day, opts.timeZone).map((hourStart) => ({ vehicle, hourStart, cameras: settings.cameras }))),
  );
  const m = openManifest(manifest, { create: true });
  const clips: DownloadedClip[] = [];
  try {
    m.plan(settings, shards);
    for (let claim = m.claimNextShard(owner('w1')); claim; claim = m.claimNextShard(owner('w1'))) {
      const results: SlotResult[] = [];
      for (const start of opts.starts.filter((s) => s >= claim!.hourStart && s < claim!.hourStart + SHARD_SECONDS)) {
        for (const camera of settings.cameras) {
          const body = randomBytes(opts.clipBytes ?? 4096 + clips.length);
          const sha256 = createHash('sha256').update(body).digest('hex');
          const bucket = m.reserveBucket(claim, { camera, start }, body.length, settings.bucketCapBytes);
          const fileName = clipFileName(claim.vehicle, camera, start);
          const where = clipPathOf(settings.outDir, claim.vehicle, bucket, fileName);
          fs.mkdirSync(path.dirname(where), { recursive: true });
          fs.writeFileSync(where, body);
          clips.push({ vehicle: claim.vehicle, camera, start, bytes: body.length, sha256, path: where, fileName });
          results.push({
            vehicle: claim.vehicle,
            camera,
            start,
            outcome: 'ok',
            bytes: body.length,
            sha256,
            bucket,
            attempts: 1,
            atMs: Date.now(),
          });
        }
      }
      m.recordSlots(claim, results);
      m.completeShard(claim);
    }
  } finally {
    m.close();
  }
  return { run, manifest, out: settings.outDir, settings, clips };
}

/** The workspace in use by the manifest's account (the sum of the bucket counts). */
export function workspaceBytes(c: DownloadedCampaign): number {
  const m = openManifest(c.manifest, { readonly: true });
  try {
    return m.workspaceBytes();
  } finally {
    m.close();
  }
}

/** Every file under a folder, relative, sorted (temporaries included). */
export function filesUnder(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() || e.isFIFO())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
    .sort();
}

/** Where `archive --dest dest` puts a clip whose date folder is `day`. */
export function archivedPath(dest: string, day: string, clip: DownloadedClip): string {
  return path.join(dest, archiveRelPathOf(day, clip.vehicle, clip.camera, clip.fileName));
}

export function sha256File(file: string): string {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

/** The manifest's own account: archived rows (with folder and moved) and bucket bytes, read straight from SQLite. */
export function archiveRows(manifest: string): { archived: string[]; bucketBytes: number } {
  const db = new Database(manifest, { readonly: true });
  try {
    const archived = db
      .prepare(
        `SELECT s.vehicle || ' ' || c.name || ' ' || (s.hour_start + 30 * a.slot_no) || ' ' || f.folder || ' ' || a.moved
         FROM archived_clip a JOIN shard s ON s.id = a.shard_id JOIN camera c ON c.no = a.camera_no JOIN archive_folder f ON f.no = a.folder_no
         ORDER BY 1`,
      )
      .pluck()
      .all() as string[];
    const bucketBytes = db.prepare(`SELECT coalesce(sum(bytes), 0) FROM storage_bucket`).pluck().get() as number;
    return { archived, bucketBytes };
  } finally {
    db.close();
  }
}
