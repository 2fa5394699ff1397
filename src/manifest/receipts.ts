import fs from 'node:fs';
import path from 'node:path';
import { ManifestError } from '../errors.js';
import { type FileModes, OWNER_ONLY, makeDirSync, openCreatingSync } from '../file-modes.js';
import { bucketOfLegacyPath } from './legacy.js';
import type { SlotResult, SlurmSubmission, WorkerIdentity } from './types.js';

const RECEIPTS_DIR = 'receipts';
/** v2: slot results carry `bucket` instead of `path` (v1 is still read) */
const RECEIPT_FORMAT_VERSION = 2;

/**
 * Every state change and slot result, as the worker (or operator command) that made it saw it committed.
 * The manifest appends these inside the very transaction that makes the change, so the receipts always hold
 * at least what the database holds; `fence` orders the events of one shard across journals.
 */
export type ReceiptEvent =
  | { t: 'claim'; shardId: number; fence: number; attempt: number; owner: WorkerIdentity; leaseUntilMs: number; atMs: number }
  | SlotsEvent
  | { t: 'end'; shardId: number; fence: number; state: 'done' | 'failed' | 'released'; note?: string; atMs: number }
  | { t: 'reset'; shards: { id: number; fence: number }[]; atMs: number; keepAttempts?: boolean }
  | { t: 'submission'; submission: SlurmSubmission }
  | ArchiveEvent
  /** the receipt at byte `offset` of this journal belongs to a transaction that rolled back (and was retried) */
  | { t: 'void'; offset: number };

export interface SlotsEvent {
  t: 'slots';
  shardId: number;
  fence: number;
  workerId: string;
  results: SlotResult[];
}

/** `fleetclip archive` put these clips of one shard at `destination` (their bucket is their slot result's). */
export interface ArchiveEvent {
  t: 'archive';
  shardId: number;
  destination: string;
  clips: { camera: string; start: number; day: string; moved: boolean }[];
  atMs: number;
}

/** A receipt as `indexReceipts` gives it: a slots receipt without its results, an archive receipt without its clips. */
export type IndexedEvent = Exclude<ReceiptEvent, SlotsEvent | ArchiveEvent> | Omit<SlotsEvent, 'results'> | Omit<ArchiveEvent, 'clips'>;

export interface Receipt<E extends IndexedEvent = ReceiptEvent> {
  event: E;
  journal: string;
  /** byte offset of its line in the journal */
  offset: number;
}

export interface ReceiptJournal {
  readonly path: string;
  /**
   * appends one line and fsyncs it, unless `sync: false` (the caller then calls `sync()` itself, e.g. right after
   * a COMMIT, so no fsync of the journal happens while the manifest's write lock is held); returns the byte offset
   */
  append(event: ReceiptEvent, opts?: { sync?: boolean }): number;
  sync(): void;
  close(): void;
}

/** A file name for a worker id: Slurm `123_4` and `local-host-99` pass unchanged. */
function journalFileName(journalId: string): string {
  return `${journalId.replace(/[^A-Za-z0-9._-]/g, '_')}.jsonl`;
}

function receiptsDir(runDir: string): string {
  return path.join(runDir, RECEIPTS_DIR);
}

/**
 * Opens (or creates, with the campaign's `modes`) `<run>/receipts/<id>.jsonl` for appending. One writer per file: the
 * id must be unique.
 */
export function openReceiptJournal(runDir: string, journalId: string, modes: Readonly<FileModes> = OWNER_ONLY): ReceiptJournal {
  const dir = receiptsDir(runDir);
  const file = path.join(dir, journalFileName(journalId));
  let fd: number;
  let size: number;
  try {
    makeDirSync(dir, modes);
    const opened = openCreatingSync(file, 'a+', modes);
    fd = opened.fd;
    size = fs.fstatSync(fd).size;
    if (size > 0 && lastByte(fd, size) !== 0x0a) size += fs.writeSync(fd, '\n'); // end a line torn by a crash
    if (opened.created) fsyncDir(dir);
  } catch (err) {
    throw new ManifestError(`cannot open receipt journal ${file}: ${(err as Error).message}`, { path: file }, { cause: err });
  }
  return {
    path: file,
    append(event, { sync = true } = {}) {
      const offset = size;
      const line = `${JSON.stringify({ v: RECEIPT_FORMAT_VERSION, ...event })}\n`;
      size += fs.writeSync(fd, line);
      if (sync) fs.fsyncSync(fd);
      return offset;
    },
    sync() {
      fs.fsyncSync(fd);
    },
    close() {
      fs.closeSync(fd);
    },
  };
}

function lastByte(fd: number, size: number): number {
  const buf = Buffer.alloc(1);
  fs.readSync(fd, buf, 0, 1, size - 1);
  return buf[0]!;
}

function fsyncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

export interface ReceiptReading<E extends IndexedEvent = ReceiptEvent> {
  receipts: Receipt<E>[];
  journals: string[];
  /** unreadable lines (a torn last line after a crash is expected and listed too) */
  problems: string[];
}

/** Every receipt under `<run>/receipts/`, slot results included; voided receipts dropped, file order kept within a journal. */
export function readReceipts(runDir: string): ReceiptReading {
  return scanReceipts(runDir, true);
}

/**
 * The receipts without the results of slot receipts, which stay in the journals until `resultsOf` reads them back:
 * a month of slot results (22 M) does not fit in memory, one shard's at a time does.
 */
export interface ReceiptIndex extends ReceiptReading<IndexedEvent> {
  resultsOf(receipt: Receipt<IndexedEvent>): SlotResult[];
  archivedOf(receipt: Receipt<IndexedEvent>): ArchiveEvent['clips'];
}

export function indexReceipts(runDir: string): ReceiptIndex {
  const dir = receiptsDir(runDir);
  const eventOf = (receipt: Receipt<IndexedEvent>): ReceiptEvent => parseReceipt(lineAt(path.join(dir, receipt.journal), receipt.offset));
  return {
    ...scanReceipts(runDir, false),
    resultsOf: (receipt) => {
      const event = eventOf(receipt);
      return event.t === 'slots' ? event.results : [];
    },
    archivedOf: (receipt) => {
      const event = eventOf(receipt);
      return event.t === 'archive' ? event.clips : [];
    },
  };
}

function scanReceipts(runDir: string, withResults: true): ReceiptReading;
function scanReceipts(runDir: string, withResults: false): ReceiptReading<IndexedEvent>;
function scanReceipts(runDir: string, withResults: boolean): ReceiptReading<IndexedEvent> {
  const dir = receiptsDir(runDir);
  const names = fs.existsSync(dir)
    ? fs
        .readdirSync(dir)
        .filter((n) => n.endsWith('.jsonl'))
        .sort()
    : [];
  const receipts: Receipt<IndexedEvent>[] = [];
  const problems: string[] = [];
  for (const name of names) {
    const voided = new Set<number>();
    const own: Receipt<IndexedEvent>[] = [];
    for (const { offset, text, last } of linesOf(path.join(dir, name))) {
      let event: ReceiptEvent;
      try {
        event = parseReceipt(text);
      } catch (err) {
        if (err instanceof SyntaxError)
          problems.push(`${name} @${offset}: ${last ? 'torn last line (a crash mid-write), ignored' : 'unreadable line, ignored'}`);
        else problems.push(`${name} @${offset}: ${(err as Error).message}, ignored`);
        continue;
      }
      if (event.t === 'void') voided.add(event.offset);
      else own.push({ event: withResults ? event : withoutDetails(event), journal: name, offset });
    }
    for (const r of own) if (!voided.has(r.offset)) receipts.push(r); // one journal may hold a month: no spread
  }
  return { receipts, journals: names, problems };
}

/** The long lists (slot results, archived clips) stay in the journal until asked for. */
function withoutDetails(event: ReceiptEvent): IndexedEvent {
  if (event.t === 'slots') {
    const { results: _results, ...rest } = event;
    return rest;
  }
  if (event.t === 'archive') {
    const { clips: _clips, ...rest } = event;
    return rest;
  }
  return event;
}

/** One line of a journal, in this format or v1 (whose slot results name a path; it becomes a bucket). */
function parseReceipt(text: string): ReceiptEvent {
  const event = JSON.parse(text) as ReceiptEvent & { v?: number };
  if (event.v === RECEIPT_FORMAT_VERSION) return event;
  if (event.v !== 1) throw new Error(`receipt format v${String(event.v)} not understood`);
  return event.t === 'slots' ? { ...event, results: event.results.map(resultOfV1) } : event;
}

function resultOfV1({ path: file, ...result }: SlotResult & { path?: string }): SlotResult {
  const bucket = result.outcome === 'ok' && file !== undefined ? bucketOfLegacyPath(file, result.vehicle) : undefined;
  return { ...result, ...(bucket !== undefined && { bucket }) };
}

const READ_BYTES = 1 << 20;

/** The lines of a journal with their byte offsets, read a MiB at a time (one worker's journal of a month is GBs). */
function* linesOf(file: string): Generator<{ offset: number; text: string; last: boolean }> {
  const fd = fs.openSync(file, 'r');
  try {
    const chunk = Buffer.allocUnsafe(READ_BYTES);
    let pending = Buffer.alloc(0);
    let offset = 0;
    for (let n = fs.readSync(fd, chunk); n > 0; n = fs.readSync(fd, chunk)) {
      pending = Buffer.concat([pending, chunk.subarray(0, n)]);
      let start = 0;
      for (let nl = pending.indexOf(0x0a); nl >= 0; nl = pending.indexOf(0x0a, start)) {
        if (nl > start) yield { offset: offset + start, text: pending.toString('utf8', start, nl), last: false };
        start = nl + 1;
      }
      offset += start;
      pending = pending.subarray(start);
    }
    if (pending.length > 0) yield { offset, text: pending.toString('utf8'), last: true };
  } finally {
    fs.closeSync(fd);
  }
}

/** The line starting at byte `offset` of a journal. */
function lineAt(file: string, offset: number): string {
  const fd = fs.openSync(file, 'r');
  try {
    const parts: Buffer[] = [];
    for (let at = offset; ;) {
      const chunk = Buffer.allocUnsafe(64 * 1024);
      const n = fs.readSync(fd, chunk, 0, chunk.length, at);
      const nl = chunk.subarray(0, n).indexOf(0x0a);
      parts.push(chunk.subarray(0, nl >= 0 ? nl : n));
      if (nl >= 0 || n === 0) return Buffer.concat(parts).toString('utf8');
      at += n;
    }
  } finally {
    fs.closeSync(fd);
  }
}
