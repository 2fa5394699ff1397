import { afterAll, expect, test } from '@jest/globals';
import Database from 'better-sqlite3';
import fs from 'node:fs';
import { openManifest } from '../../src/manifest/index.js';
import { SCHEMA_VERSION } from '../../src/manifest/schema.js';
import { runMain } from '../helpers/cli.js';
import { archiveRows, at, downloadedCampaign, filesUnder } from '../archive/helpers.js';

const runs: string[] = [];
afterAll(() => runs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

test('a v8 manifest becomes v10 (v9 archive_folder, archived_clip; v10 shard.slots, slot_availability) with its rows and counts untouched, and can then be archived', async () => {
  const c = downloadedCampaign(runs, {
    timeZone: 'UTC',
    days: ['2025-11-17'],
    starts: [at('2025-11-17T10:00:00Z'), at('2025-11-17T11:00:00Z')],
  });
  // v9 and v10 only add tables and a column: without them, and with user_version 8, the file is what fleetclip at v8 left
  const db = new Database(c.manifest);
  db.exec(
    `DROP TABLE slot_availability; ALTER TABLE shard DROP COLUMN slots; DROP TABLE archived_clip; DROP TABLE archive_folder; PRAGMA user_version = 8;`,
  );
  const before = db.prepare(`SELECT * FROM slot_result ORDER BY 1, 2, 3`).all();
  db.close();

  const m = openManifest(c.manifest);
  expect(m.schemaVersion).toBe(SCHEMA_VERSION);
  expect(SCHEMA_VERSION).toBe(10);
  expect(m.workspaceBytes()).toBe(c.clips.reduce((n, k) => n + k.bytes, 0));
  m.close();
  const after = new Database(c.manifest, { readonly: true });
  expect(after.prepare(`SELECT * FROM slot_result ORDER BY 1, 2, 3`).all()).toEqual(before);
  expect(after.pragma('user_version', { simple: true })).toBe(10);
  after.close();

  const dest = fs.mkdtempSync(`${c.run}-dest`);
  runs.push(dest);
  expect((await runMain(['archive', '--manifest', c.manifest, '--dest', dest, '--move', '--progress', 'off'])).code).toBe(0);
  expect(filesUnder(dest)).toHaveLength(4);
  expect(archiveRows(c.manifest)).toMatchObject({ bucketBytes: 0 });
});
