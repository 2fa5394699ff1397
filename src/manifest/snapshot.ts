import { ManifestError } from '../errors.js';
import type { ArchivedClips } from './archived.js';
import type { Buckets } from './buckets.js';
import { selectionOf, slotsColumn, type CampaignTable } from './campaign.js';
import type { ShardRow } from './claims.js';
import type { ManifestContent, ShardRecord, SlotRecord } from './replay.js';
import type { Slots } from './slots.js';
import type { Store } from './store.js';
import type { Submissions } from './submissions.js';

/** Shards per transaction when restoring: up to 60,000 slot results (5 cameras x 120 slots each). */
const SHARDS_PER_RESTORE = 100;

/** The whole content at once, for `manifest verify` and `manifest rebuild` (and the month benchmark's fill). */
export class Archive {
  private readonly sql;

  constructor(
    private readonly store: Store,
    private readonly campaign: CampaignTable,
    private readonly slots: Slots,
    private readonly buckets: Buckets,
    private readonly submissions: Submissions,
    private readonly archived: ArchivedClips,
  ) {
    const p = (text: string) => store.db.prepare(text);
    this.sql = {
      shards: p(`SELECT * FROM shard ORDER BY id`),
      restoreShard:
        p(`INSERT INTO shard (id, vehicle, hour_start, cameras, slots, state, fence, attempts, owner_worker, owner_host, owner_pid, owner_job,
                         owner_task, lease_until_ms, last_error, release_reason, updated_ms)
                       VALUES (@id, @vehicle, @hourStart, @cameras, @slots, @state, @fence, @attempts, @workerId, @host, @pid, @job, @task,
                         @leaseUntilMs, @lastError, @releaseReason, @now)`),
    };
  }

  /** SQLite's own consistency check of the file (b-trees, indexes); throws a ManifestError if it fails. */
  quickCheck(): void {
    const rows = this.store.read(() => this.store.db.pragma('quick_check') as { quick_check: string }[]);
    const bad = rows.map((r) => r.quick_check).filter((r) => r !== 'ok');
    if (bad.length > 0)
      throw new ManifestError(`${this.store.path} fails SQLite's quick_check: ${bad.slice(0, 3).join('; ')}`, { path: this.store.path });
  }

  /** Settings, shards and submissions as they are now; slot results are read when `slotsOf` asks, a shard at a time. */
  snapshot(): ManifestContent {
    const settings = this.campaign.settings();
    const rows = this.store.read(() => this.sql.shards.all() as ShardRow[]);
    const hourStarts = new Map(rows.map((r) => [r.id, r.hour_start]));
    return {
      settings,
      shards: rows.map(shardRecordOf),
      submissions: this.submissions.submissions(),
      slotsOf: (shardId) => this.slotRecords({ id: shardId, hourStart: hourStarts.get(shardId) ?? 0 }),
    };
  }

  /** A shard's slot records with their archive locations. */
  private slotRecords(shard: { id: number; hourStart: number }): SlotRecord[] {
    const records = this.slots.slotRecords(shard.id);
    const locations = this.archived.locationsOf(shard);
    for (const record of records) {
      const location = locations.get(`${record.result.camera} ${record.result.start}`);
      if (location) record.archived = location;
    }
    return records;
  }

  /**
   * Fills a freshly created manifest with recovered content: settings, shards and submissions in one transaction,
   * then the slot results a hundred shards per transaction (the file is not in use until it is renamed into place).
   * Bucket counters are summed from the ok clips' buckets, but for clips archived with their workspace copy gone.
   * No receipts: they are where it came from. Returns how many slot results it wrote.
   */
  restore(content: ManifestContent): number {
    const now = Date.now();
    this.store.write(undefined, () => {
      this.campaign.saveSettings(content.settings, now);
      this.campaign.registerCameras(content.settings, content.shards);
      for (const s of content.shards) this.sql.restoreShard.run(shardParams(s, now));
      for (const sub of content.submissions) this.submissions.insert(sub);
    });
    let written = 0;
    for (let i = 0; i < content.shards.length; i += SHARDS_PER_RESTORE) {
      const chunk = content.shards.slice(i, i + SHARDS_PER_RESTORE).map((shard) => ({ shard, records: content.slotsOf(shard.id) }));
      this.store.write(undefined, () => {
        const buckets = new Map<string, { vehicle: string; n: number; bytes: number }>();
        for (const { shard, records } of chunk) {
          this.slots.put(shard, records);
          this.archived.put(shard, records, now);
          for (const { result: r, archived } of records) {
            if (r.outcome !== 'ok' || r.bucket === undefined || archived?.moved) continue;
            const key = `${r.vehicle}/${r.bucket}`;
            const bucket = buckets.get(key) ?? { vehicle: r.vehicle, n: r.bucket, bytes: 0 };
            bucket.bytes += r.bytes ?? 0;
            buckets.set(key, bucket);
          }
        }
        for (const b of buckets.values()) this.buckets.add(b.vehicle, b.n, b.bytes);
      });
      written += chunk.reduce((n, c) => n + c.records.length, 0);
    }
    return written;
  }
}

function shardRecordOf(r: ShardRow): ShardRecord {
  return {
    id: r.id,
    vehicle: r.vehicle,
    hourStart: r.hour_start,
    cameras: JSON.parse(r.cameras) as string[],
    ...selectionOf(r.slots),
    state: r.state,
    fence: r.fence,
    attempts: r.attempts,
    ...(r.owner_worker !== null && {
      owner: {
        workerId: r.owner_worker,
        host: r.owner_host ?? '',
        pid: r.owner_pid ?? 0,
        ...(r.owner_job !== null && { slurmJobId: r.owner_job }),
        ...(r.owner_task !== null && { slurmArrayTaskId: r.owner_task }),
      },
    }),
    ...(r.lease_until_ms !== null && { leaseUntilMs: r.lease_until_ms }),
    ...(r.last_error !== null && { lastError: r.last_error }),
    ...(r.release_reason !== null && { releaseReason: r.release_reason }),
  };
}

function shardParams(s: ShardRecord, now: number) {
  return {
    id: s.id,
    vehicle: s.vehicle,
    hourStart: s.hourStart,
    cameras: JSON.stringify(s.cameras),
    slots: slotsColumn(s),
    state: s.state,
    fence: s.fence,
    attempts: s.attempts,
    workerId: s.owner?.workerId ?? null,
    host: s.owner?.host ?? null,
    pid: s.owner?.pid ?? null,
    job: s.owner?.slurmJobId ?? null,
    task: s.owner?.slurmArrayTaskId ?? null,
    leaseUntilMs: s.leaseUntilMs ?? null,
    lastError: s.lastError ?? null,
    releaseReason: s.releaseReason ?? null,
    now,
  };
}
