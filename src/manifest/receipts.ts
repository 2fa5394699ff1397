import fs from 'node:fs';
import path from 'node:path';
import { ManifestError } from '../errors.js';
import type { SlotResult, SlurmSubmission, WorkerIdentity } from './types.js';

const RECEIPTS_DIR = 'receipts';
const RECEIPT_FORMAT_VERSION = 1;

/**
 * Every state change and slot result, as the worker (or operator command) that made it saw it committed.
 * The manifest appends these inside the very transaction that makes the change, so the receipts always hold
 * at least what the database holds; `fence` orders the events of one shard across journals.
 */
export type ReceiptEvent =
  | { t: 'claim'; shardId: number; fence: number; attempt: number; owner: WorkerIdentity; leaseUntilMs: number; atMs: number }
  | { t: 'slots'; shardId: number; fence: number; workerId: string; results: SlotResult[] }
  | { t: 'end'; shardId: number; fence: number; state: 'done' | 'failed' | 'released'; note?: string; atMs: number }
  | { t: 'reset'; shards: { id: number; fence: number }[]; atMs: number }
  | { t: 'submission'; submission: SlurmSubmission }
  /** the receipt at byte `offset` of this journal belongs to a transaction that rolled back (and was retried) */
  | { t: 'void'; offset: number };

export interface Receipt {
  event: ReceiptEvent;
  journal: string;
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

/** Opens (or creates) `<run>/receipts/<id>.jsonl` for appending. One writer per file: the id must be unique. */
export function openReceiptJournal(runDir: string, journalId: string): ReceiptJournal {
  const dir = receiptsDir(runDir);
  const file = path.join(dir, journalFileName(journalId));
  let fd: number;
  let size: number;
  try {
    fs.mkdirSync(dir, { recursive: true });
    const existed = fs.existsSync(file);
    fd = fs.openSync(file, 'a+');
    size = fs.fstatSync(fd).size;
    if (size > 0 && lastByte(fd, size) !== 0x0a) size += fs.writeSync(fd, '\n'); // end a line torn by a crash
    if (!existed) fsyncDir(dir);
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

export interface ReceiptReading {
  receipts: Receipt[];
  journals: string[];
  /** unreadable lines (a torn last line after a crash is expected and listed too) */
  problems: string[];
}

/** Reads every journal under `<run>/receipts/`, drops voided receipts, keeps file order within a journal. */
export function readReceipts(runDir: string): ReceiptReading {
  const dir = receiptsDir(runDir);
  const names = fs.existsSync(dir) ? fs.readdirSync(dir).filter((n) => n.endsWith('.jsonl')).sort() : [];
  const receipts: Receipt[] = [];
  const problems: string[] = [];
  for (const name of names) {
    const text = fs.readFileSync(path.join(dir, name), 'utf8');
    const voided = new Set<number>();
    const own: Receipt[] = [];
    let offset = 0;
    for (const line of text.split('\n')) {
      const lineOffset = offset;
      offset += Buffer.byteLength(line) + 1;
      if (line === '') continue;
      let event: ReceiptEvent & { v?: number };
      try {
        event = JSON.parse(line) as ReceiptEvent & { v?: number };
      } catch {
        const torn = offset > Buffer.byteLength(text);
        problems.push(`${name} @${lineOffset}: ${torn ? 'torn last line (a crash mid-write), ignored' : 'unreadable line, ignored'}`);
        continue;
      }
      if (event.v !== RECEIPT_FORMAT_VERSION) {
        problems.push(`${name} @${lineOffset}: receipt format v${String(event.v)} not understood, ignored`);
        continue;
      }
      if (event.t === 'void') voided.add(event.offset);
      else own.push({ event, journal: name, offset: lineOffset });
    }
    receipts.push(...own.filter((r) => !voided.has(r.offset)));
  }
  return { receipts, journals: names, problems };
}
