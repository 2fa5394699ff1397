import type Database from 'better-sqlite3';
import { ManifestError } from '../errors.js';
import type { Store } from './store.js';

/**
 * A small table that numbers names once (`camera`, `topic_set`, `archive_folder`), so 22 M slot rows hold a number instead of the
 * text. Rows are never deleted, so a committed number is final and cached for the life of the connection; a number
 * taken inside a write is cached only once that write has committed (a rolled-back one may be given out again).
 */
export class Dictionary {
  private readonly ids = new Map<string, number>();
  private readonly texts = new Map<number, string>();
  private readonly uncommitted = new Map<string, number>();
  private readonly sql: { find: Database.Statement; add: Database.Statement; text: Database.Statement };

  constructor(
    store: Store,
    private readonly table: 'camera' | 'topic_set' | 'archive_folder',
    idColumn: string,
    textColumn: string,
  ) {
    this.sql = {
      find: store.db.prepare(`SELECT ${idColumn} FROM ${table} WHERE ${textColumn} = ?`).pluck(),
      add: store.db.prepare(`INSERT INTO ${table} (${textColumn}) VALUES (?) RETURNING ${idColumn}`).pluck(),
      text: store.db.prepare(`SELECT ${textColumn} FROM ${table} WHERE ${idColumn} = ?`).pluck(),
    };
    store.onSettled((committed) => {
      if (committed) for (const [text, id] of this.uncommitted) this.remember(text, id);
      this.uncommitted.clear();
    });
  }

  /** Inside a write: the number of `text`, added if new. */
  idOf(text: string): number {
    let id = this.ids.get(text) ?? this.uncommitted.get(text);
    if (id === undefined) {
      id = ((this.sql.find.get(text) as number | undefined) ?? this.sql.add.get(text)) as number;
      this.uncommitted.set(text, id);
    }
    return id;
  }

  /** Inside a read: the text of a number some row holds. */
  textOf(id: number): string {
    let text = this.texts.get(id);
    if (text === undefined) {
      text = this.sql.text.get(id) as string | undefined;
      if (text === undefined)
        throw new ManifestError(`${this.table} ${id} is missing from the manifest (damaged?); \`fleetclip manifest verify\` checks it`);
      this.remember(text, id);
    }
    return text;
  }

  private remember(text: string, id: number): void {
    this.ids.set(text, id);
    this.texts.set(id, text);
  }
}
