import type { Database } from 'better-sqlite3';
import { ManifestError } from '../errors.js';
import { migrateToV5 } from './migration-v5.js';

/** `PRAGMA application_id` of every fleetclip manifest ('FlCp'): how a foreign SQLite file is told apart. */
export const APPLICATION_ID = 0x466c4370;

/**
 * Append only: entry i brings the schema to `user_version` i + 1. Never edit a shipped entry; add one. An entry is
 * SQL, or a function where a conversion is awkward in SQL alone; each runs in its own immediate transaction.
 * Times are epoch milliseconds (`*_ms`) or, for slots and hours, epoch seconds UTC.
 */
const MIGRATIONS: readonly (string | ((db: Database) => void))[] = [
  // v1: campaign, shards, slot results, Slurm submissions
  `PRAGMA application_id = ${APPLICATION_ID};
   CREATE TABLE campaign (
     id INTEGER PRIMARY KEY CHECK (id = 1),
     settings TEXT NOT NULL,
     created_ms INTEGER NOT NULL,
     updated_ms INTEGER NOT NULL);
   CREATE TABLE shard (
     id INTEGER PRIMARY KEY,
     vehicle TEXT NOT NULL,
     hour_start INTEGER NOT NULL,
     cameras TEXT NOT NULL,
     state TEXT NOT NULL DEFAULT 'pending'
       CHECK (state IN ('pending', 'running', 'done', 'failed', 'released')),
     fence INTEGER NOT NULL DEFAULT 0,
     attempts INTEGER NOT NULL DEFAULT 0,
     owner_worker TEXT, owner_host TEXT, owner_pid INTEGER, owner_job TEXT, owner_task TEXT,
     lease_until_ms INTEGER,
     last_error TEXT,
     release_reason TEXT,
     updated_ms INTEGER,
     UNIQUE (vehicle, hour_start));
   CREATE INDEX shard_by_state ON shard (state);
   CREATE INDEX shard_running_lease ON shard (lease_until_ms) WHERE state = 'running';
   CREATE TABLE slot_result (
     vehicle TEXT NOT NULL,
     camera TEXT NOT NULL,
     start INTEGER NOT NULL,
     shard_id INTEGER NOT NULL REFERENCES shard (id),
     fence INTEGER NOT NULL,
     outcome TEXT NOT NULL CHECK (outcome IN ('ok', 'missing', 'invalid', 'failed')),
     bytes INTEGER, sha256 TEXT, path TEXT, bag TEXT,
     attempts INTEGER NOT NULL,
     error TEXT,
     at_ms INTEGER NOT NULL,
     worker TEXT NOT NULL,
     PRIMARY KEY (vehicle, camera, start)) WITHOUT ROWID;
   CREATE INDEX slot_by_shard ON slot_result (shard_id);
   CREATE INDEX slot_by_time ON slot_result (at_ms);
   CREATE TABLE slurm_submission (
     id INTEGER PRIMARY KEY,
     job_id TEXT NOT NULL,
     array_range TEXT NOT NULL,
     at_ms INTEGER NOT NULL);`,
  // v2: the server's file name of each requested clip, so a restarted worker polls instead of asking again
  `CREATE TABLE clip_request (
     shard_id INTEGER NOT NULL REFERENCES shard (id),
     camera TEXT NOT NULL,
     start INTEGER NOT NULL,
     filename TEXT NOT NULL,
     requested_ms INTEGER NOT NULL,
     PRIMARY KEY (shard_id, camera, start)) WITHOUT ROWID;`,
  // v3: bytes counted per <out>/<vehicle>/download<N>
  `CREATE TABLE storage_bucket (
     vehicle TEXT NOT NULL,
     n INTEGER NOT NULL CHECK (n >= 1),
     bytes INTEGER NOT NULL,
     PRIMARY KEY (vehicle, n)) WITHOUT ROWID;`,
  // v4: the campaign-wide request budget (token bucket with an AIMD rate) and what each worker drew
  `CREATE TABLE request_budget (
     id INTEGER PRIMARY KEY CHECK (id = 1),
     rate_per_sec REAL NOT NULL,
     tokens REAL NOT NULL,
     refilled_ms INTEGER NOT NULL,
     last_decrease_ms INTEGER NOT NULL DEFAULT 0);
   CREATE TABLE request_usage (
     worker TEXT PRIMARY KEY,
     granted INTEGER NOT NULL,
     last_ms INTEGER NOT NULL);`,
  // v5: compact slot rows, counters kept by triggers, buckets instead of paths (migration-v5.ts)
  migrateToV5,
  // v6: what workers observe of the API (how long jobs take to become ready, per log-scale bucket), what each is
  // doing (clips in flight, window, hedges), and the requests granted per minute (budget use)
  `CREATE TABLE readiness (
     bucket INTEGER PRIMARY KEY CHECK (bucket >= 0),
     count REAL NOT NULL);
   CREATE TABLE worker_activity (
     worker TEXT PRIMARY KEY,
     inflight INTEGER NOT NULL,
     window INTEGER NOT NULL,
     clip_requests INTEGER NOT NULL,
     hedges INTEGER NOT NULL,
     updated_ms INTEGER NOT NULL) WITHOUT ROWID;
   CREATE TABLE request_minute (
     minute INTEGER PRIMARY KEY,
     granted INTEGER NOT NULL);`,
  // v7: what a Slurm submission was (workers or the healing job), its script and options, so resubmit asks alike
  `ALTER TABLE slurm_submission ADD COLUMN kind TEXT NOT NULL DEFAULT 'workers' CHECK (kind IN ('workers', 'heal'));
   ALTER TABLE slurm_submission ADD COLUMN script TEXT;
   ALTER TABLE slurm_submission ADD COLUMN options TEXT;`,
  // v8: the campaign's token renewal, one row: who renews now (a
  // lease), how many renewals succeeded (a generation), when the token last written expires and is renewed next, and
  // the failures since the last success. Never a token or a secret.
  `CREATE TABLE token_renewal (
     id INTEGER PRIMARY KEY CHECK (id = 1),
     generation INTEGER NOT NULL DEFAULT 0,
     holder TEXT,
     lease_until_ms INTEGER,
     requests INTEGER NOT NULL DEFAULT 0,
     renewed_ms INTEGER,
     expires_ms INTEGER,
     renew_at_ms INTEGER,
     failures INTEGER NOT NULL DEFAULT 0,
     last_error TEXT,
     failed_ms INTEGER,
     retry_at_ms INTEGER,
     refused INTEGER NOT NULL DEFAULT 0 CHECK (refused IN (0, 1)));
   INSERT INTO token_renewal (id) VALUES (1);`,
  // v9: where `fleetclip archive` put clips. Each archive folder (destination and date folder, as JSON) is numbered
  // once; a clip's row names its folder and whether its workspace copy is gone (its bytes then left the bucket counts)
  `CREATE TABLE archive_folder (
     no INTEGER PRIMARY KEY,
     folder TEXT NOT NULL UNIQUE);
   CREATE TABLE archived_clip (
     shard_id INTEGER NOT NULL REFERENCES shard (id),
     camera_no INTEGER NOT NULL,
     slot_no INTEGER NOT NULL,
     folder_no INTEGER NOT NULL REFERENCES archive_folder (no),
     moved INTEGER NOT NULL CHECK (moved IN (0, 1)),
     at_ms INTEGER NOT NULL,
     PRIMARY KEY (shard_id, camera_no, slot_no)) WITHOUT ROWID;`,
  // v10 (scan and sample): `shard.slots`, the slots a shard holds when not every slot of its hour (a sample
  // campaign's: JSON {camera: [slot_no, …]}; NULL, every slot of every camera, as before); `slot_availability`, what `fleetclip scan` learned of a slot without downloading it: 1 the API
  // answered 200 (it has the clip), 0 it answered 404 (no data). Not a download outcome: slot_result is untouched.
  `ALTER TABLE shard ADD COLUMN slots TEXT;
   CREATE TABLE slot_availability (
     shard_id INTEGER NOT NULL REFERENCES shard (id),
     camera_no INTEGER NOT NULL REFERENCES camera (no),
     slot_no INTEGER NOT NULL CHECK (slot_no BETWEEN 0 AND 119),
     available INTEGER NOT NULL CHECK (available IN (0, 1)),
     checked_ms INTEGER NOT NULL,
     PRIMARY KEY (shard_id, camera_no, slot_no)) WITHOUT ROWID;`,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

/** What the header pragmas say about an open SQLite file, before anything is written to it. */
export interface SchemaProbe {
  applicationId: number;
  userVersion: number;
  tableCount: number;
}

export function probeSchema(db: Database): SchemaProbe {
  return {
    applicationId: db.pragma('application_id', { simple: true }) as number,
    userVersion: db.pragma('user_version', { simple: true }) as number,
    tableCount: db.prepare(`SELECT count(*) FROM sqlite_master`).pluck().get() as number,
  };
}

/** Refuses a foreign file or a newer schema; says whether the file is a blank new database. */
export function checkSchema(file: string, probe: SchemaProbe): 'blank' | 'current' | 'older' {
  if (probe.applicationId === 0 && probe.userVersion === 0 && probe.tableCount === 0) return 'blank';
  if (probe.applicationId !== APPLICATION_ID) {
    throw new ManifestError(`${file} is a SQLite database of another application, not a fleetclip manifest; left untouched`, {
      path: file,
    });
  }
  if (probe.userVersion > SCHEMA_VERSION) {
    throw new ManifestError(
      `${file} has manifest schema v${probe.userVersion}, newer than this fleetclip (v${SCHEMA_VERSION}); upgrade fleetclip`,
      { path: file },
    );
  }
  return probe.userVersion === SCHEMA_VERSION ? 'current' : 'older';
}

/**
 * Applies the missing migrations, each in its own immediate transaction with its version bump. The version is
 * read inside the transaction, so two workers opening an older manifest at once migrate it once.
 */
export function migrate(db: Database, upTo: number = SCHEMA_VERSION): void {
  const step = db.transaction((version: number) => {
    if ((db.pragma('user_version', { simple: true }) as number) >= version) return;
    const migration = MIGRATIONS[version - 1]!;
    if (typeof migration === 'string') db.exec(migration);
    else migration(db);
    db.pragma(`user_version = ${version}`);
  });
  for (let version = 1; version <= upTo; version++) step.immediate(version);
}
