import fs from 'node:fs';
import path from 'node:path';
import { FleetclipError, ManifestError } from '../errors.js';
import { fileModesOf } from '../file-modes.js';
import { parseArchiveDestination } from '../plan/grammar.js';
import { archiveRelPathOf, clipFileName, clipPathOf, sha256Of } from '../storage/index.js';
import { resolveOutDir } from './campaign.js';
import { readCampaignFile, type CampaignRecord } from './campaign-file.js';
import { openWholeManifest, type WholeManifest } from './manifest.js';
import { indexReceipts } from './receipts.js';
import { diffShards, diffSlots, replayReceipts, type ManifestContent, type SlotRecord } from './replay.js';
import type { SlotResult } from './types.js';

export interface VerifyOptions {
  /** also hash every ok clip and compare it with its recorded sha256 (reads every byte) */
  checksums?: boolean;
}

export interface VerifyReport {
  manifest: string;
  /** the manifest opened, passed SQLite's quick_check and agrees with receipts, campaign record and files */
  ok: boolean;
  /** the manifest itself cannot be used: `manifest rebuild` is the way out */
  damaged: boolean;
  problems: string[];
  /** worth knowing, not wrong (e.g. the torn last receipt line of a killed worker) */
  notes: string[];
  /** `filesChecked`: ok clips whose files were looked for; `remoteUnchecked`: archived copies on rclone remotes, not looked at */
  counts: { shards: number; slotResults: number; receipts: number; journals: number; filesChecked: number; remoteUnchecked: number };
}

/**
 * Cross-checks the manifest against `<run>/campaign.json`, the receipt journals and the clips on disk. Reads only:
 * a damaged manifest is reported, never touched. Slot results are compared and checked a shard at a time.
 */
export async function verifyManifest(manifestPath: string, opts: VerifyOptions = {}): Promise<VerifyReport> {
  const file = path.resolve(manifestPath);
  const runDir = path.dirname(file);
  const problems: string[] = [];

  let campaign: CampaignRecord | undefined;
  try {
    campaign = readCampaignFile(runDir);
  } catch (err) {
    problems.push(`${messageOf(err)}: a rebuild would not be possible`);
  }
  const index = indexReceipts(runDir);
  const notes = [...index.problems];
  const expected = campaign && replayReceipts(campaign, index);

  let manifest: WholeManifest | undefined;
  let actual: ManifestContent | undefined;
  try {
    manifest = openWholeManifest(file, { readonly: true });
    manifest.quickCheck();
    actual = manifest.snapshot();
  } catch (err) {
    problems.push(`the manifest cannot be read: ${messageOf(err)}`);
  }
  try {
    if (expected && actual) {
      problems.push(...expected.problems);
      if (JSON.stringify(actual.settings) !== JSON.stringify(expected.content.settings))
        problems.push('campaign settings differ between the manifest and campaign.json');
      for (const problem of diffShards(expected.content, actual)) problems.push(problem); // thousands, when a manifest is far off
    }
    // the files are checked against what the manifest says, or what the receipts say when it cannot be read
    const source = actual ?? expected?.content;
    const counts = {
      shards: source?.shards.length ?? 0,
      slotResults: 0,
      receipts: index.receipts.length,
      journals: index.journals.length,
      filesChecked: 0,
      remoteUnchecked: 0,
    };
    if (source) {
      const outDir = resolveOutDir(runDir, source.settings);
      for (const id of new Set([...source.shards, ...(expected?.content.shards ?? [])].map((s) => s.id))) {
        const slots = source.slotsOf(id);
        if (expected && actual) problems.push(...diffSlots(expected.content.slotsOf(id), slots));
        counts.slotResults += slots.length;
        await checkFiles(outDir, slots, opts, problems, counts);
      }
    }
    if (counts.remoteUnchecked > 0)
      notes.push(
        `${counts.remoteUnchecked} archived clip(s) on rclone remotes not looked at (archive verified their sha256 when it put them there)`,
      );
    return { manifest: file, ok: problems.length === 0, damaged: actual === undefined, problems, notes, counts };
  } finally {
    manifest?.close();
  }
}

/**
 * Each ok clip must be where the manifest says, with its recorded size (and sha256): in the workspace at
 * `<outDir>/<vehicle>/download<bucket>/<clipFileName>` unless it was archived with its workspace copy moved away, and,
 * archived to a folder, at `<dest>/<day>/<vehicle>/<camera>/<clipFileName>`. Copies on an rclone remote are not
 * looked at (archive verified each with rclone's sha256 when it put it there): they are counted in `remoteUnchecked`.
 */
async function checkFiles(
  outDir: string,
  slots: readonly SlotRecord[],
  opts: VerifyOptions,
  problems: string[],
  counts: { filesChecked: number; remoteUnchecked: number },
): Promise<void> {
  for (const { result: r, archived } of slots) {
    if (r.outcome !== 'ok') continue;
    counts.filesChecked++;
    const where = `${r.vehicle} ${r.camera} ${r.start}`;
    const fileName = clipFileName(r.vehicle, r.camera, r.start);
    const places: string[] = [];
    if (!archived?.moved) {
      if (r.bucket === undefined) problems.push(`slot ${where}: ok but no bucket recorded`);
      else places.push(clipPathOf(outDir, r.vehicle, r.bucket, fileName));
    }
    if (archived) {
      const destination = parseArchiveDestination(archived.destination);
      if (destination.kind === 'folder')
        places.push(path.join(destination.path, archiveRelPathOf(archived.day, r.vehicle, r.camera, fileName)));
      else counts.remoteUnchecked++;
    }
    for (const clip of places) await checkClip(clip, `slot ${where}: clip ${clip}`, r, opts, problems);
  }
}

async function checkClip(clip: string, what: string, r: SlotResult, opts: VerifyOptions, problems: string[]): Promise<void> {
  let size: number;
  try {
    size = fs.statSync(clip).size;
  } catch {
    problems.push(`${what} is missing on disk`);
    return;
  }
  if (r.bytes !== undefined && size !== r.bytes) problems.push(`${what} has ${size} bytes, recorded ${r.bytes}`);
  else if (opts.checksums && r.sha256) {
    const sum = await sha256Of(clip).catch(() => undefined);
    if (sum === undefined) problems.push(`${what} cannot be read`);
    else if (sum !== r.sha256) problems.push(`${what} does not match its sha256`);
  }
}

/** A SQLite database is its file and the journal files beside it. */
const DATABASE_SUFFIXES = ['', '-journal', '-wal', '-shm'];

function removeDatabase(file: string): void {
  for (const suffix of DATABASE_SUFFIXES) fs.rmSync(file + suffix, { force: true });
}

function messageOf(err: unknown): string {
  // not `instanceof Error`: better-sqlite3's SqliteError is of the realm that first loaded the addon (jest: another file's)
  const message = (err as { message?: unknown } | undefined)?.message;
  return typeof message === 'string' ? message : String(err);
}

export interface RebuildOptions {
  /** rebuild even when verify finds nothing wrong */
  force?: boolean;
}

export interface RebuildReport {
  manifest: string;
  rebuilt: boolean;
  /** where the old file was moved (never deleted) */
  movedAside?: string;
  shards: number;
  slotResults: number;
  receipts: number;
  notes: string[];
}

/**
 * Builds a new manifest from `<run>/campaign.json` and the receipts, next to the old one, then moves the old
 * file (and any journal beside it) to `<manifest>.damaged-<time>` and the new one into its place. No worker
 * may run meanwhile. A healthy manifest is left alone unless `force`.
 */
export async function rebuildManifest(manifestPath: string, opts: RebuildOptions = {}): Promise<RebuildReport> {
  const file = path.resolve(manifestPath);
  const runDir = path.dirname(file);
  const campaign = readCampaignFile(runDir);
  const index = indexReceipts(runDir);
  const { content, problems } = replayReceipts(campaign, index);
  const base = { manifest: file, shards: content.shards.length, receipts: index.receipts.length };
  const notes = [...index.problems, ...problems];

  if (!opts.force && fs.existsSync(file)) {
    const verdict = await verifyManifest(file);
    if (verdict.ok) {
      return {
        ...base,
        slotResults: verdict.counts.slotResults,
        rebuilt: false,
        notes: [...notes, 'the manifest agrees with the receipts; nothing rebuilt (--force rebuilds anyway)'],
      };
    }
  }

  const fresh = `${file}.rebuild-${process.pid}`;
  removeDatabase(fresh);
  let slotResults: number;
  try {
    const manifest = openWholeManifest(fresh, { create: true, journal: campaign.settings.journal, modes: fileModesOf(campaign.settings) });
    try {
      slotResults = manifest.restore(content);
    } finally {
      manifest.close();
    }
  } catch (err) {
    removeDatabase(fresh); // half a rebuild is no manifest: leave nothing of it behind
    const why = err instanceof FleetclipError && err.cause !== undefined ? err.cause : err; // not the advice about a file now gone
    throw new ManifestError(`cannot rebuild ${file}, nothing was changed: ${messageOf(why)}`, { path: file }, { cause: err });
  }

  let movedAside: string | undefined;
  if (fs.existsSync(file)) {
    movedAside = `${file}.damaged-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    const moved: string[] = [];
    for (const suffix of DATABASE_SUFFIXES) {
      if (!fs.existsSync(file + suffix)) continue;
      try {
        fs.renameSync(file + suffix, movedAside + suffix);
        moved.push(movedAside + suffix);
      } catch (err) {
        // a database without its journal is another database: say exactly where each piece is now
        throw new ManifestError(
          `could not move ${file + suffix} aside (${messageOf(err)}); ${moved.length ? `already moved: ${moved.join(', ')}; ` : ''}the rebuilt manifest is at ${fresh}`,
          { path: file },
          { cause: err },
        );
      }
    }
  }
  try {
    fs.renameSync(fresh, file);
  } catch (err) {
    throw new ManifestError(`rebuilt manifest left at ${fresh}: ${messageOf(err)}`, { path: fresh }, { cause: err });
  }
  return { ...base, slotResults, rebuilt: true, ...(movedAside !== undefined && { movedAside }), notes };
}
