import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ManifestError } from '../errors.js';
import { readCampaignFile, type CampaignRecord } from './campaign-file.js';
import { openSqliteManifest } from './manifest.js';
import { readReceipts } from './receipts.js';
import { diffContent, replayReceipts, type ManifestContent, type SlotRecord } from './replay.js';

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
 * Cross-checks the manifest against `<run>/campaign.json`, the receipt journals and the clips on disk.
 * Reads only: a damaged manifest is reported, never touched. Holds every slot result in memory.
 */
export function verifyManifest(manifestPath: string, opts: VerifyOptions = {}): VerifyReport {
  const file = path.resolve(manifestPath);
  const runDir = path.dirname(file);
  const problems: string[] = [];
  const notes: string[] = [];

  let campaign: CampaignRecord | undefined;
  try {
    campaign = readCampaignFile(runDir);
  } catch (err) {
    problems.push(`${messageOf(err)}: a rebuild would not be possible`);
  }
  const reading = readReceipts(runDir);
  notes.push(...reading.problems);

  let actual: ManifestContent | undefined;
  let damaged = false;
  try {
    actual = snapshotOf(file);
  } catch (err) {
    damaged = true;
    problems.push(`the manifest cannot be read: ${messageOf(err)}`);
  }

  if (campaign && actual) {
    const expected = replayReceipts(campaign, reading.receipts);
    problems.push(...expected.problems);
    if (JSON.stringify(actual.settings) !== JSON.stringify(campaign.settings)) problems.push('campaign settings differ between the manifest and campaign.json');
    problems.push(...diffContent(expected.content, actual));
  }

  const slots = actual?.slots ?? (campaign ? replayReceipts(campaign, reading.receipts).content.slots : []);
  const filesChecked = checkFiles(slots, opts, problems);
  return {
    manifest: file,
    ok: problems.length === 0,
    damaged,
    problems,
    notes,
    counts: {
      shards: actual?.shards.length ?? campaign?.shards.length ?? 0,
      slotResults: slots.length,
      receipts: reading.receipts.length,
      journals: reading.journals.length,
      filesChecked,
    },
  };
}

function snapshotOf(file: string): ManifestContent {
  const manifest = openSqliteManifest(file, { readonly: true });
  try {
    manifest.quickCheck();
    return manifest.snapshot();
  } finally {
    manifest.close();
  }
}

function checkFiles(slots: readonly SlotRecord[], opts: VerifyOptions, problems: string[]): number {
  let checked = 0;
  for (const { result: r } of slots) {
    if (r.outcome !== 'ok') continue;
    checked++;
    const where = `${r.vehicle} ${r.camera} ${r.start}`;
    if (!r.path) {
      problems.push(`slot ${where}: ok but no path recorded`);
      continue;
    }
    let size: number;
    try {
      size = fs.statSync(r.path).size;
    } catch {
      problems.push(`slot ${where}: clip ${r.path} is missing on disk`);
      continue;
    }
    if (r.bytes !== undefined && size !== r.bytes) problems.push(`slot ${where}: clip ${r.path} has ${size} bytes, recorded ${r.bytes}`);
    else if (opts.checksums && r.sha256) {
      const sum = sha256Of(r.path);
      if (sum === undefined) problems.push(`slot ${where}: clip ${r.path} cannot be read`);
      else if (sum !== r.sha256) problems.push(`slot ${where}: clip ${r.path} does not match its sha256`);
    }
  }
  return checked;
}

/**
 * Synchronous like the rest of verify (storage's sha256Of is async): one 1 MiB buffer for the whole file, never the
 * whole clip in memory; undefined when the file cannot be read.
 */
function sha256Of(file: string): string | undefined {
  let fd: number | undefined;
  try {
    fd = fs.openSync(file, 'r');
    const hash = createHash('sha256');
    const buffer = Buffer.allocUnsafe(1 << 20);
    for (let n = fs.readSync(fd, buffer); n > 0; n = fs.readSync(fd, buffer)) hash.update(buffer.subarray(0, n));
    return hash.digest('hex');
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
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
export function rebuildManifest(manifestPath: string, opts: RebuildOptions = {}): RebuildReport {
  const file = path.resolve(manifestPath);
  const runDir = path.dirname(file);
  const campaign = readCampaignFile(runDir);
  const reading = readReceipts(runDir);
  const { content, problems } = replayReceipts(campaign, reading.receipts);
  const base = { manifest: file, shards: content.shards.length, slotResults: content.slots.length, receipts: reading.receipts.length };
  const notes = [...reading.problems, ...problems];

  if (!opts.force && fs.existsSync(file)) {
    const verdict = verifyManifest(file);
    if (verdict.ok) return { ...base, rebuilt: false, notes: [...notes, 'the manifest agrees with the receipts; nothing rebuilt (--force rebuilds anyway)'] };
  }

  const fresh = `${file}.rebuild-${process.pid}`;
  fs.rmSync(fresh, { force: true });
  const manifest = openSqliteManifest(fresh, { create: true, journal: campaign.settings.journal });
  try {
    manifest.restore(content);
  } finally {
    manifest.close();
  }

  let movedAside: string | undefined;
  if (fs.existsSync(file)) {
    movedAside = `${file}.damaged-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    const moved: string[] = [];
    for (const suffix of ['', '-journal', '-wal', '-shm']) {
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
  return { ...base, rebuilt: true, ...(movedAside !== undefined && { movedAside }), notes };
}
