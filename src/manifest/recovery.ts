import fs from 'node:fs';
import path from 'node:path';
import { FleetclipError, ManifestError } from '../errors.js';
import { fileModesOf } from '../file-modes.js';
import { clipFileName, clipPathOf, sha256Of } from '../storage/index.js';
import { resolveOutDir } from './campaign.js';
import { readCampaignFile, type CampaignRecord } from './campaign-file.js';
import { openWholeManifest, type WholeManifest } from './manifest.js';
import { indexReceipts } from './receipts.js';
import { diffShards, diffSlots, replayReceipts, type ManifestContent, type SlotRecord } from './replay.js';

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
  counts: { shards: number; slotResults: number; receipts: number; journals: number; filesChecked: number };
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
  const expected = campaign && replayReceipts(campaign, index.receipts, index.resultsOf);

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
    };
    if (source) {
      const outDir = resolveOutDir(runDir, source.settings);
      for (const id of new Set([...source.shards, ...(expected?.content.shards ?? [])].map((s) => s.id))) {
        const slots = source.slotsOf(id);
        if (expected && actual) problems.push(...diffSlots(expected.content.slotsOf(id), slots));
        counts.slotResults += slots.length;
        counts.filesChecked += await checkFiles(outDir, slots, opts, problems);
      }
    }
    return { manifest: file, ok: problems.length === 0, damaged: actual === undefined, problems, notes, counts };
  } finally {
    manifest?.close();
  }
}

/** Each ok clip must be at `<outDir>/<vehicle>/download<bucket>/<clipFileName>` with its recorded size (and sha256). */
async function checkFiles(outDir: string, slots: readonly SlotRecord[], opts: VerifyOptions, problems: string[]): Promise<number> {
  let checked = 0;
  for (const { result: r } of slots) {
    if (r.outcome !== 'ok') continue;
    checked++;
    const where = `${r.vehicle} ${r.camera} ${r.start}`;
    if (r.bucket === undefined) {
      problems.push(`slot ${where}: ok but no bucket recorded`);
      continue;
    }
    const clip = clipPathOf(outDir, r.vehicle, r.bucket, clipFileName(r.vehicle, r.camera, r.start));
    let size: number;
    try {
      size = fs.statSync(clip).size;
    } catch {
      problems.push(`slot ${where}: clip ${clip} is missing on disk`);
      continue;
    }
    if (r.bytes !== undefined && size !== r.bytes) problems.push(`slot ${where}: clip ${clip} has ${size} bytes, recorded ${r.bytes}`);
    else if (opts.checksums && r.sha256) {
      const sum = await sha256Of(clip).catch(() => undefined);
      if (sum === undefined) problems.push(`slot ${where}: clip ${clip} cannot be read`);
      else if (sum !== r.sha256) problems.push(`slot ${where}: clip ${clip} does not match its sha256`);
    }
  }
  return checked;
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
  const { content, problems } = replayReceipts(campaign, index.receipts, index.resultsOf);
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
