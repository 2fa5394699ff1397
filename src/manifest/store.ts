import os from 'node:os';
import { dirname } from 'node:path';
import type Database from 'better-sqlite3';
import type { FileModes } from '../file-modes.js';
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
  private readonly sql;

  constructor(
    readonly db: Database.Database,
    readonly path: string,
    /** the campaign's file modes, asked when a receipt journal is created (by then the campaign is planned) */
    private readonly modes: () => Readonly<FileModes>,
  ) {
    this.runDir = dirname(path);
    this.sql = { begin: db.prepare('BEGIN IMMEDIATE'), commit: db.prepare('COMMIT'), rollback: db.prepare('ROLLBACK') };
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
   * (an fsync inside it doubled the lock hold time and the claim tail latency, docs/performance.md). A busy BEGIN
   * is retried; a transaction that rolls back for SQLITE_BUSY has its receipts voided first (and is retried if it
   * can be), so receipts hold exactly what was committed (plus, after a failed COMMIT for another reason, what the
   * database could not take).
   */
  write<T>(journalId: string | undefined, body: (receipt: ReceiptSink) => T): T {
    const journal = journalId === undefined ? undefined : this.journal(journalId);
    let appended: number[] = [];
    const receipt: ReceiptSink = (event) => appended.push(journal!.append(event, { sync: false }));
    try {
      return retryBusy(() => {
        appended = [];
        this.sql.begin.run();
        try {
          const result = body(receipt);
          this.commit();
          this.settled(true);
          return result;
        } catch (err) {
          this.settled(false);
          if (this.db.inTransaction) this.sql.rollback.run();
          if (isBusy(err) || isBusy((err as Error).cause))
            for (const offset of appended) journal!.append({ t: 'void', offset }, { sync: false });
          throw err;
        }
      }, MANIFEST_DEFAULTS.retryDeadlineMs);
    } catch (err) {
      throw asManifestError(err, this.path);
    } finally {
      journal?.sync();
    }
  }

  /**
   * A COMMIT refused for SQLITE_BUSY keeps its transaction (sqlite.org/lang_transaction.html: "the transaction
   * remains active and the COMMIT can be retried later after the reader has had a chance to clear") and its PENDING
   * lock, which lets no new reader in. Retrying the COMMIT waits for the readers of the moment only (`status`, or a
   * process trying BEGIN IMMEDIATE, which holds the shared lock for an instant). Giving the transaction up instead,
   * as better-sqlite3's transaction() does, redid it and met the next reader: with `status --watch 1` beside 16
   * claiming processes on a month's manifest the claim p99 was 39-49 ms, and is 17-23 ms (docs/performance.md).
   */
  private commit(): void {
    retryBusy(() => this.sql.commit.run(), MANIFEST_DEFAULTS.retryDeadlineMs);
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
      journal = openReceiptJournal(this.runDir, journalId, this.modes());
      this.journals.set(journalId, journal);
    }
    return journal;
  }
}
