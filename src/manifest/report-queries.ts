import type { Dictionary } from './dictionary.js';
import { outcomeOf, SLOTS_PER_SHARD } from './slot-row.js';
import type { Store } from './store.js';
import type { BucketUsage, CoveragePage, MinuteTally } from './types.js';

/**
 * Shards per read. With a rollback journal a reader holds the shared lock while its statement runs, and no writer
 * can commit meanwhile: a read of slot_result groups at most 50 shards' rows (30,000 for five cameras), a read of
 * the counters 500 shards' (2,500 counter rows); each takes a few tens of milliseconds (docs/performance.md).
 */
const SHARDS_PER_SLOT_READ = 50;
const SHARDS_PER_COUNTER_READ = 500;

type CoverageTuple = [shardId: number, cameraNo: number, part: number, outcome: number, count: number];

/**
 * What the HTML report reads besides the status: coverage counts grouped in SQL, the per-minute tallies and the
 * bucket counters. Every read is short; none returns a row per slot.
 */
export class ReportQueries {
  private readonly sql;

  constructor(
    private readonly store: Store,
    private readonly cameras: Dictionary,
  ) {
    const p = (text: string) => store.db.prepare(text);
    // better-sqlite3 binds a JavaScript number as REAL: the casts keep the divisions whole
    this.sql = {
      shardIds: p(`SELECT min(id) AS first, max(id) AS last FROM shard`),
      slotCounts: p(`SELECT shard_id, camera_no, slot_no / CAST(? AS INTEGER) AS part, outcome, count(*) FROM slot_result
                     WHERE shard_id >= ? AND shard_id < ? GROUP BY shard_id, camera_no, part, outcome`).raw(),
      counterCounts: p(`SELECT shard_id, camera_no, 0, outcome, count FROM camera_count
                        WHERE shard_id >= ? AND shard_id < ? AND count > 0`).raw(),
      tallySpan: p(`SELECT min(minute) AS firstMinute, max(minute) AS lastMinute FROM
                      (SELECT minute FROM recent_outcome UNION ALL SELECT minute FROM request_minute)`),
      results: p(
        `SELECT (minute - CAST(@first AS INTEGER)) / CAST(@bar AS INTEGER) AS bar, sum(count) AS n FROM recent_outcome WHERE minute >= @first GROUP BY bar`,
      ),
      granted: p(
        `SELECT (minute - CAST(@first AS INTEGER)) / CAST(@bar AS INTEGER) AS bar, sum(granted) AS n FROM request_minute WHERE minute >= @first GROUP BY bar`,
      ),
      buckets: p(`SELECT vehicle, n, bytes FROM storage_bucket ORDER BY vehicle, n`),
    };
  }

  *coverageCounts(slotsPerPart: number): Generator<CoveragePage> {
    const whole = slotsPerPart >= SLOTS_PER_SHARD;
    const perRead = whole ? SHARDS_PER_COUNTER_READ : SHARDS_PER_SLOT_READ;
    const { first, last } = this.store.read(() => this.sql.shardIds.get() as { first: number | null; last: number | null });
    if (first === null || last === null) return;
    const shardsTotal = last - first + 1;
    for (let from = first; from <= last; from += perRead) {
      const to = Math.min(from + perRead, last + 1);
      const counts = this.store.read(() => {
        const rows = (whole ? this.sql.counterCounts.all(from, to) : this.sql.slotCounts.all(slotsPerPart, from, to)) as CoverageTuple[];
        return rows.map(([shardId, cameraNo, part, outcome, count]) => ({
          shardId,
          camera: this.cameras.textOf(cameraNo),
          part,
          outcome: outcomeOf(outcome),
          count,
        }));
      });
      yield { counts, shardsRead: to - first, shardsTotal };
    }
  }

  tallySpan(): { firstMinute: number; lastMinute: number } | undefined {
    const span = this.store.read(() => this.sql.tallySpan.get() as { firstMinute: number | null; lastMinute: number | null });
    return span.firstMinute === null || span.lastMinute === null
      ? undefined
      : { firstMinute: span.firstMinute, lastMinute: span.lastMinute };
  }

  tallies(firstMinute: number, barMinutes: number): MinuteTally[] {
    const params = { first: firstMinute, bar: barMinutes };
    const [results, granted] = this.store.read(() => [
      this.sql.results.all(params) as { bar: number; n: number }[],
      this.sql.granted.all(params) as { bar: number; n: number }[],
    ]);
    const bars = new Map<number, MinuteTally>();
    const barOf = (bar: number): MinuteTally => {
      let tally = bars.get(bar);
      if (!tally) bars.set(bar, (tally = { bar, results: 0, granted: 0 }));
      return tally;
    };
    for (const { bar, n } of results) barOf(bar).results += n;
    for (const { bar, n } of granted) barOf(bar).granted += n;
    return [...bars.values()].sort((a, b) => a.bar - b.bar);
  }

  bucketUsage(): BucketUsage[] {
    return this.store.read(() => this.sql.buckets.all() as BucketUsage[]);
  }
}
