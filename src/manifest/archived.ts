import type { Buckets } from './buckets.js';
import type { Dictionary } from './dictionary.js';
import type { SlotRecord } from './replay.js';
import { slotNoOf, startOf, type ShardKey } from './slot-row.js';
import type { Store } from './store.js';
import type { ArchivableClip, ArchivedClip, ArchiveLocation, ArchiveShard } from './types.js';

/** Shards per read: a short read each (see status-queries.ts), so workers' commits never wait long behind one. */
const SHARDS_PER_READ = 1000;

interface ArchivedRow {
  camera_no: number;
  slot_no: number;
  folder_no: number;
  moved: number;
}

/**
 * `archived_clip`: where `fleetclip archive` put each clip, by folder number (`archive_folder` numbers each
 * destination and date folder once, as JSON `[destination, day]`), and whether the workspace copy is gone.
 */
export class ArchivedClips {
  private readonly sql;

  constructor(
    private readonly store: Store,
    private readonly buckets: Buckets,
    private readonly cameras: Dictionary,
    private readonly folders: Dictionary,
  ) {
    const p = (text: string) => store.db.prepare(text);
    this.sql = {
      shards: p(`SELECT s.id, s.vehicle, s.hour_start AS hourStart, s.state, sum(c.count) AS okClips, coalesce(sum(c.bytes), 0) AS okBytes
                 FROM shard s JOIN camera_count c ON c.shard_id = s.id AND c.outcome = 0
                 WHERE s.id > ? GROUP BY s.id HAVING okClips > 0 ORDER BY s.id LIMIT ${SHARDS_PER_READ}`),
      toArchive: p(`SELECT r.camera_no, r.slot_no, r.bytes, r.sha256, r.bucket, a.folder_no
                    FROM slot_result r LEFT JOIN archived_clip a
                      ON a.shard_id = r.shard_id AND a.camera_no = r.camera_no AND a.slot_no = r.slot_no
                    WHERE r.shard_id = ? AND r.outcome = 0 AND a.moved IS NOT 1 ORDER BY r.camera_no, r.slot_no`),
      ofShard: p(`SELECT camera_no, slot_no, folder_no, moved FROM archived_clip WHERE shard_id = ?`),
      moved: p(`SELECT moved FROM archived_clip WHERE shard_id = ? AND camera_no = ? AND slot_no = ?`).pluck(),
      upsert: p(`INSERT INTO archived_clip (shard_id, camera_no, slot_no, folder_no, moved, at_ms) VALUES (?, ?, ?, ?, ?, ?)
                 ON CONFLICT (shard_id, camera_no, slot_no) DO UPDATE SET
                   folder_no = excluded.folder_no, moved = max(moved, excluded.moved), at_ms = excluded.at_ms`),
    };
  }

  shardsWithClips(): ArchiveShard[] {
    const shards: ArchiveShard[] = [];
    for (;;) {
      const page = this.store.read(() => this.sql.shards.all(shards.at(-1)?.id ?? 0) as ArchiveShard[]);
      shards.push(...page);
      if (page.length < SHARDS_PER_READ) return shards;
    }
  }

  clipsToArchive({ id, hourStart }: ArchiveShard): ArchivableClip[] {
    type Row = { camera_no: number; slot_no: number; bytes: number; sha256: Buffer; bucket: number | null; folder_no: number | null };
    return this.store.read(() =>
      (this.sql.toArchive.all(id) as Row[]).map((r) => ({
        camera: this.cameras.textOf(r.camera_no),
        start: startOf({ hourStart }, r.slot_no),
        bytes: r.bytes,
        sha256: r.sha256.toString('hex'),
        ...(r.bucket !== null && { bucket: r.bucket }),
        ...(r.folder_no !== null && { archived: this.locationOf(r.folder_no, false) }),
      })),
    );
  }

  recordArchived(destination: string, shard: ShardKey, clips: readonly ArchivedClip[], nowMs: number): void {
    if (clips.length === 0) return;
    this.store.write(this.store.adminJournalId(), (receipt) => {
      for (const clip of clips) {
        const key = [shard.id, this.cameras.idOf(clip.camera), slotNoOf(shard, clip.start)] as const;
        const wasMoved = this.sql.moved.get(...key) === 1;
        this.sql.upsert.run(...key, this.folderNo(destination, clip.day), clip.moved ? 1 : 0, nowMs);
        if (clip.moved && !wasMoved) this.buckets.add(shard.vehicle, clip.bucket, -clip.bytes);
      }
      receipt({
        t: 'archive',
        shardId: shard.id,
        destination,
        clips: clips.map(({ camera, start, day, moved }) => ({ camera, start, day, moved })),
        atMs: nowMs,
      });
    });
  }

  /** Where a shard's archived clips are, by `<camera> <start>`. */
  locationsOf(shard: Pick<ShardKey, 'id' | 'hourStart'>): Map<string, ArchiveLocation> {
    return this.store.read(
      () =>
        new Map(
          (this.sql.ofShard.all(shard.id) as ArchivedRow[]).map((r) => [
            `${this.cameras.textOf(r.camera_no)} ${startOf(shard, r.slot_no)}`,
            this.locationOf(r.folder_no, r.moved === 1),
          ]),
        ),
    );
  }

  /** Inside a write (restore): the archive locations of recovered slot records. */
  put(shard: ShardKey, records: readonly Pick<SlotRecord, 'result' | 'archived'>[], nowMs: number): void {
    for (const { result, archived } of records) {
      if (!archived) continue;
      const folderNo = this.folderNo(archived.destination, archived.day);
      this.sql.upsert.run(
        shard.id,
        this.cameras.idOf(result.camera),
        slotNoOf(shard, result.start),
        folderNo,
        archived.moved ? 1 : 0,
        nowMs,
      );
    }
  }

  private folderNo(destination: string, day: string): number {
    return this.folders.idOf(JSON.stringify([destination, day]));
  }

  private locationOf(folderNo: number, moved: boolean): ArchiveLocation {
    const [destination, day] = JSON.parse(this.folders.textOf(folderNo)) as [string, string];
    return { destination, day, moved };
  }
}
