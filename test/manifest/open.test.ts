import { afterAll, describe, expect, test } from '@jest/globals';
import Database from 'better-sqlite3';
import fs from 'node:fs';
import path from 'node:path';
import { ManifestError, UsageError } from '../../src/errors.js';
import { openManifest, SCHEMA_VERSION } from '../../src/manifest/index.js';
import { APPLICATION_ID, migrate } from '../../src/manifest/schema.js';
import { owner, settingsFor, shardsFor, tempRun } from './helpers.js';

const runs: string[] = [];
afterAll(() => runs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

function run(): string {
  const dir = tempRun();
  runs.push(dir);
  return dir;
}

/** Opening `file` must fail with `message` and leave every byte and the mtime as they were. */
function expectRefusedUntouched(file: string, message: string | RegExp, opts = {}): void {
  const before = fs.readFileSync(file);
  const mtime = fs.statSync(file).mtimeMs;
  expect(() => openManifest(file, opts)).toThrow(ManifestError);
  expect(() => openManifest(file, opts)).toThrow(message);
  expect(fs.readFileSync(file).equals(before)).toBe(true);
  expect(fs.statSync(file).mtimeMs).toBe(mtime);
  expect(fs.existsSync(`${file}-journal`)).toBe(false);
}

describe('opening a manifest', () => {
  test('a missing file is created only with create; otherwise a usage error', () => {
    const file = path.join(run(), 'sub', 'manifest.sqlite');
    expect(() => openManifest(file)).toThrow(UsageError);
    expect(() => openManifest(file)).toThrow(`no manifest at ${file}; \`fleetclip plan\` creates one`);
    expect(fs.existsSync(file)).toBe(false);
    const m = openManifest(file, { create: true });
    expect(m.schemaVersion).toBe(SCHEMA_VERSION);
    m.close();
    const db = new Database(file, { readonly: true });
    expect(db.pragma('journal_mode', { simple: true })).toBe('delete');
    expect(db.pragma('application_id', { simple: true })).toBe(APPLICATION_ID);
    db.close();
  });

  test('wal is used only when asked for', () => {
    const file = path.join(run(), 'manifest.sqlite');
    openManifest(file, { create: true, journal: 'wal' }).close();
    const db = new Database(file, { readonly: true });
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    db.close();
  });

  test('a text file is refused and left untouched', () => {
    const file = path.join(run(), 'notes.txt');
    fs.writeFileSync(file, 'shopping list\n'.repeat(100));
    expectRefusedUntouched(file, 'is not a SQLite database (corrupt or a foreign file); left untouched');
    expectRefusedUntouched(file, 'left untouched', { create: true });
  });

  test('an empty file (a truncated manifest) is refused and left untouched', () => {
    const file = path.join(run(), 'manifest.sqlite');
    fs.writeFileSync(file, '');
    expectRefusedUntouched(file, 'is empty (truncated?); `fleetclip manifest rebuild` restores it from the receipts');
  });

  test("another application's SQLite database is refused and left untouched", () => {
    const file = path.join(run(), 'other.db');
    const db = new Database(file);
    db.exec("CREATE TABLE recipes (name TEXT); INSERT INTO recipes VALUES ('soup')");
    db.close();
    expectRefusedUntouched(file, 'is a SQLite database of another application, not a fleetclip manifest; left untouched');
  });

  test('an empty SQLite database is not taken for a manifest', () => {
    const file = path.join(run(), 'blank.db');
    const db = new Database(file);
    db.exec('CREATE TABLE t (x); DROP TABLE t'); // a valid header, no tables, no application id
    db.close();
    expect(fs.statSync(file).size).toBeGreaterThan(0);
    expectRefusedUntouched(file, 'is an empty SQLite database, not a fleetclip manifest');
  });

  test('a SQLite file damaged after its header is refused with a pointer to verify', () => {
    const dir = run();
    const file = path.join(dir, 'manifest.sqlite');
    const m = openManifest(file, { create: true });
    const settings = settingsFor(dir);
    m.plan(settings, shardsFor(settings, 24));
    m.close();
    const bytes = fs.readFileSync(file);
    bytes.fill(0x5a, 100, 4096); // garbage over the rest of page 1 (the schema)
    fs.writeFileSync(file, bytes);
    expectRefusedUntouched(file, /manifest verify/);
  });

  test('a newer schema is refused and left untouched', () => {
    const file = path.join(run(), 'manifest.sqlite');
    openManifest(file, { create: true }).close();
    const db = new Database(file);
    db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    db.close();
    expectRefusedUntouched(
      file,
      `has manifest schema v${SCHEMA_VERSION + 1}, newer than this fleetclip (v${SCHEMA_VERSION}); upgrade fleetclip`,
    );
  });

  test('an older schema is migrated in place, keeping its data', () => {
    const dir = run();
    const file = path.join(dir, 'manifest.sqlite');
    const db = new Database(file);
    migrate(db, 1); // a manifest written by the first release
    db.prepare(`INSERT INTO campaign (id, settings, created_ms, updated_ms) VALUES (1, ?, 0, 0)`).run(JSON.stringify(settingsFor(dir)));
    db.prepare(`INSERT INTO shard (vehicle, hour_start, cameras, state) VALUES ('veh-1', 3600, '["front"]', 'failed')`).run();
    db.close();

    expect(() => openManifest(file, { readonly: true })).toThrow('older manifest schema');
    const m = openManifest(file);
    expect(m.schemaVersion).toBe(SCHEMA_VERSION);
    expect(m.shardRows()).toMatchObject([{ id: 1, vehicle: 'veh-1', state: 'failed' }]);
    expect(m.drawRequestAllowance('w', 3, 0)).toBe(3); // a v4 table
    expect(m.resetFailed()).toBe(1);
    const claim = m.claimNextShard(owner('w'))!;
    expect(claim).toMatchObject({ shardId: 1, fence: 1 });
    expect(m.reserveBucket(claim, { camera: 'front', start: 3600 }, 10, 100)).toBe(1); // v3 and v5 tables
    m.close();
    const after = new Database(file, { readonly: true });
    expect(after.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    after.close();
  });
});
