import os from 'node:os';
import { dirname } from 'node:path';
import type Database from 'better-sqlite3';
import { isBusy, retryBusy } from './busy.js';
import { MANIFEST_DEFAULTS } from './defaults.js';
import { afterHotJournal, asManifestError } from './open.js';
import { openReceiptJournal, type ReceiptEvent, type ReceiptJournal } from './receipts.js';

/** Hands a receipt to the transaction that makes the change it records. */
export type ReceiptSink = (event: ReceiptEvent) => void;

/**
 * The read and write plumbing every part of the manifest goes through: one connection, its receipt journals, and
 * the rules for SQLITE_BUSY. The parts prepare their own statements on `db` and run them inside `read`/`write`.
 */
export class Store {
  readonly runDir: string;
  private readonly journals = new Map<string, ReceiptJournal>();
  private readonly settleListeners: ((committed: boolean) => void)[] = [];

  constructor(
    readonly db: Database.Database,
    readonly path: string,
  ) {
    this.runDir = dirname(path);
  }

  /** A read: retried on SQLITE_BUSY (a writer may be committing), damaged-file errors explained. */
  read<T>(fn: () => T): T {
    try {
      return retryBusy(() => afterHotJournal(this.path, fn), MANIFEST_DEFAULTS.retryDeadlineMs);
    } catch (err) {
      throw asManifestError(err, this.path);
    }
  }

  /**
   * One BEGIN IMMEDIATE transaction. `body` makes its SQL changes, then hands its receipt to `receipt`, which
   * appends it to the journal before COMMIT; the journal is fsynced right after COMMIT, outside the write lock
   * (an fsync inside it doubled the lock hold time and the claim tail latency, docs/performance.md). If the
   * transaction rolls back for SQLITE_BUSY and is retried, the receipt is voided first, so receipts hold exactly
   * what was committed (plus, after a failed COMMIT for another reason, what the database could not take).
   */
  write<T>(journalId: string | undefined, body: (receipt: ReceiptSink) => T): T {
    const journal = journalId === undefined ? undefined : this.journal(journalId);
    let appended: number[] = [];
    const tx = this.db.transaction(() => body((event) => appended.push(journal!.append(event, { sync: false }))));
    try {
      return retryBusy(
        () => {
          appended = [];
          try {
            const result = tx.immediate();
            this.settled(true);
            return result;
          } catch (err) {
            this.settled(false);
            if (isBusy(err)) for (const offset of appended) journal!.append({ t: 'void', offset }, { sync: false });
            throw err;
          }
        },
        MANIFEST_DEFAULTS.retryDeadlineMs,
      );
    } catch (err) {
      throw asManifestError(err, this.path);
    } finally {
      journal?.sync();
    }
  }

  /** `listener` hears after every write transaction whether it committed (caches of rows written in it care). */
  onSettled(listener: (committed: boolean) => void): void {
    this.settleListeners.push(listener);
  }

  /** The journal of operator commands: one per process, as one writer per journal file requires. */
  adminJournalId(): string {
    return `admin-${os.hostname()}-${process.pid}`;
  }

  close(): void {
    for (const j of this.journals.values()) j.close();
    this.journals.clear();
    if (this.db.open) this.db.close();
  }

  private settled(committed: boolean): void {
    for (const listener of this.settleListeners) listener(committed);
  }

  private journal(journalId: string): ReceiptJournal {
    let journal = this.journals.get(journalId);
    if (!journal) {
      journal = openReceiptJournal(this.runDir, journalId);
      this.journals.set(journalId, journal);
    }
    return journal;
  }
}
