import type { Database } from 'better-sqlite3';
import { SLOT_SECONDS, type CampaignSettings } from '../plan/types.js';
import { bucketOfLegacyPath, upgradeLegacySettings } from './legacy.js';
import { microsAfter, OUTCOME_CODE } from './slot-row.js';

/**
 * Schema v5: a compact slot row and counters kept by triggers. A shipped migration: never edit, add a v6.
 *
 * - `slot_result` is keyed (shard_id, camera_no, slot_no): vehicle and hour are the shard's, cameras and bag
 *   topic sets are numbered once (`camera`, `topic_set`), the outcome is a small integer (OUTCOME_CODE), sha256 a
 *   32-byte blob, a bag's message times integer microseconds after the slot start. A clip's location is its bucket
 *   only: the file name is `clipFileName(vehicle, camera, start)`, the folder `<outDir>/<vehicle>/download<bucket>`.
 * - `shard_count` (per shard) and `camera_count` (per shard, camera and outcome) are kept by triggers on
 *   slot_result, in the transaction that writes the rows, whatever writes them: `status` and a worker's claim
 *   never read slot_result.
 * - `recent_outcome` counts recorded results per minute and vehicle (recordSlots keeps it), for clips/min.
 * - `clip_request` holds only the slots in flight, now with the bucket reserved for the clip.
 */
const TABLES = `
  CREATE TABLE camera (
    no INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE);
  CREATE TABLE topic_set (
    id INTEGER PRIMARY KEY,
    topics TEXT NOT NULL UNIQUE);
  CREATE TABLE slot_result (
    shard_id INTEGER NOT NULL REFERENCES shard (id),
    camera_no INTEGER NOT NULL REFERENCES camera (no),
    slot_no INTEGER NOT NULL CHECK (slot_no BETWEEN 0 AND 119),
    outcome INTEGER NOT NULL CHECK (outcome BETWEEN 0 AND 3),
    fence INTEGER NOT NULL,
    attempts INTEGER NOT NULL,
    at_ms INTEGER NOT NULL,
    bytes INTEGER,
    sha256 BLOB,
    bucket INTEGER,
    topic_set INTEGER REFERENCES topic_set (id),
    message_count INTEGER,
    first_us INTEGER,
    last_us INTEGER,
    error TEXT,
    PRIMARY KEY (shard_id, camera_no, slot_no)) WITHOUT ROWID;
  CREATE TABLE shard_count (
    shard_id INTEGER PRIMARY KEY REFERENCES shard (id),
    ok INTEGER NOT NULL, missing INTEGER NOT NULL, invalid INTEGER NOT NULL, failed INTEGER NOT NULL,
    bytes INTEGER NOT NULL);
  CREATE TABLE camera_count (
    shard_id INTEGER NOT NULL REFERENCES shard (id),
    camera_no INTEGER NOT NULL,
    outcome INTEGER NOT NULL,
    count INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    PRIMARY KEY (shard_id, camera_no, outcome)) WITHOUT ROWID;
  CREATE TABLE recent_outcome (
    minute INTEGER NOT NULL,
    vehicle TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (minute, vehicle)) WITHOUT ROWID;
  CREATE TABLE clip_request (
    shard_id INTEGER NOT NULL REFERENCES shard (id),
    camera_no INTEGER NOT NULL,
    slot_no INTEGER NOT NULL,
    filename TEXT,
    requested_ms INTEGER,
    bucket INTEGER,
    reserved_bytes INTEGER,
    PRIMARY KEY (shard_id, camera_no, slot_no)) WITHOUT ROWID;`;

/** Adds (`+`) or takes away (`-`) one slot row in the counters. */
function countRow(row: 'NEW' | 'OLD', sign: '+' | '-'): string {
  const is = (outcome: keyof typeof OUTCOME_CODE) => `${sign}(${row}.outcome = ${OUTCOME_CODE[outcome]})`;
  const bytes = `${sign}coalesce(${row}.bytes, 0)`;
  return `
    INSERT INTO shard_count (shard_id, ok, missing, invalid, failed, bytes)
      VALUES (${row}.shard_id, ${is('ok')}, ${is('missing')}, ${is('invalid')}, ${is('failed')}, ${bytes})
      ON CONFLICT (shard_id) DO UPDATE SET ok = ok + excluded.ok, missing = missing + excluded.missing,
        invalid = invalid + excluded.invalid, failed = failed + excluded.failed, bytes = bytes + excluded.bytes;
    INSERT INTO camera_count (shard_id, camera_no, outcome, count, bytes)
      VALUES (${row}.shard_id, ${row}.camera_no, ${row}.outcome, ${sign}1, ${bytes})
      ON CONFLICT (shard_id, camera_no, outcome) DO UPDATE SET count = count + excluded.count, bytes = bytes + excluded.bytes;`;
}

const TRIGGERS = `
  CREATE TRIGGER slot_result_inserted AFTER INSERT ON slot_result BEGIN ${countRow('NEW', '+')} END;
  CREATE TRIGGER slot_result_deleted AFTER DELETE ON slot_result BEGIN ${countRow('OLD', '-')} END;
  CREATE TRIGGER slot_result_updated AFTER UPDATE ON slot_result BEGIN ${countRow('OLD', '-')} ${countRow('NEW', '+')} END;`;

const OUTCOME_OF_TEXT = `CASE r.outcome ${Object.entries(OUTCOME_CODE)
  .map(([text, code]) => `WHEN '${text}' THEN ${code}`)
  .join(' ')} END`;

/**
 * Converts a v4 manifest in place, inside the migration's transaction: the old slot rows become compact rows (the
 * triggers count them as they go in), paths become buckets, recent outcomes are counted per minute, and remembered
 * requests of slots that already have a result are dropped. Settings get the parsed `onMiss`; an absolute outDir
 * stays absolute. The old tables' pages are left free in the file: `VACUUM`, with no worker running, shrinks it.
 */
export function migrateToV5(db: Database): void {
  db.function('fleetclip_v5_bucket', { deterministic: true }, (file: unknown, vehicle: unknown) =>
    typeof file === 'string' ? (bucketOfLegacyPath(file, String(vehicle)) ?? null) : null,
  );
  db.function('fleetclip_v5_topics', { deterministic: true }, (bag: unknown) =>
    typeof bag === 'string' ? JSON.stringify((JSON.parse(bag) as { topics: string[] }).topics) : null,
  );
  db.function('fleetclip_v5_micros', { deterministic: true }, (time: unknown, start: unknown) =>
    typeof time === 'number' ? microsAfter(time, Number(start)) : null,
  );
  db.function('fleetclip_v5_settings', { deterministic: true }, (text: unknown) =>
    JSON.stringify(upgradeLegacySettings(JSON.parse(String(text)) as CampaignSettings)),
  );
  db.exec(`
    UPDATE campaign SET settings = fleetclip_v5_settings(settings);
    ALTER TABLE slot_result RENAME TO slot_result_v4;
    ALTER TABLE clip_request RENAME TO clip_request_v4;
    ${TABLES}
    ${TRIGGERS}
    INSERT OR IGNORE INTO camera (name) SELECT j.value FROM campaign, json_each(campaign.settings, '$.cameras') j ORDER BY j.key;
    INSERT OR IGNORE INTO camera (name) SELECT j.value FROM shard, json_each(shard.cameras) j ORDER BY shard.id, j.key;
    INSERT OR IGNORE INTO camera (name) SELECT DISTINCT camera FROM slot_result_v4 ORDER BY camera;
    INSERT OR IGNORE INTO topic_set (topics) SELECT DISTINCT fleetclip_v5_topics(bag) FROM slot_result_v4 WHERE bag IS NOT NULL;
    INSERT INTO slot_result (shard_id, camera_no, slot_no, outcome, fence, attempts, at_ms, bytes, sha256, bucket,
        topic_set, message_count, first_us, last_us, error)
      SELECT r.shard_id, c.no, (r.start - s.hour_start) / ${SLOT_SECONDS} AS slot_no, ${OUTCOME_OF_TEXT}, r.fence, r.attempts, r.at_ms,
        r.bytes, unhex(r.sha256), fleetclip_v5_bucket(r.path, r.vehicle), t.id, json_extract(r.bag, '$.messageCount'),
        fleetclip_v5_micros(json_extract(r.bag, '$.firstMessageTime'), r.start), fleetclip_v5_micros(json_extract(r.bag, '$.lastMessageTime'), r.start),
        r.error
      FROM slot_result_v4 r JOIN shard s ON s.id = r.shard_id JOIN camera c ON c.name = r.camera
        LEFT JOIN topic_set t ON t.topics = fleetclip_v5_topics(r.bag)
      ORDER BY r.shard_id, c.no, slot_no;
    INSERT INTO recent_outcome (minute, vehicle, count) SELECT at_ms / 60000, vehicle, count(*) FROM slot_result_v4 GROUP BY 1, 2;
    INSERT INTO clip_request (shard_id, camera_no, slot_no, filename, requested_ms)
      SELECT q.shard_id, c.no, (q.start - s.hour_start) / ${SLOT_SECONDS}, q.filename, q.requested_ms
      FROM clip_request_v4 q JOIN shard s ON s.id = q.shard_id JOIN camera c ON c.name = q.camera
      WHERE NOT EXISTS (SELECT 1 FROM slot_result_v4 r WHERE r.vehicle = s.vehicle AND r.camera = q.camera AND r.start = q.start);
    DROP TABLE slot_result_v4;
    DROP TABLE clip_request_v4;`);
}
