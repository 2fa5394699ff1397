import type { Store } from './store.js';
import type { CampaignActivity, WorkerActivity } from './types.js';

const MINUTE_MS = 60_000;

/**
 * `readiness`, `worker_activity` and `request_minute`: what workers observe and do, for the next worker to start
 * informed and for `status` to show. Statistics, not state: not receipted, and a rebuild starts them afresh.
 */
export class ActivityTable {
  private readonly sql;

  constructor(private readonly store: Store) {
    const p = (text: string) => store.db.prepare(text);
    this.sql = {
      readiness: p(`SELECT bucket, count FROM readiness ORDER BY bucket`),
      addReadiness: p(
        `INSERT INTO readiness (bucket, count) VALUES (?, ?) ON CONFLICT (bucket) DO UPDATE SET count = count + excluded.count`,
      ),
      readinessTotal: p(`SELECT coalesce(sum(count), 0) FROM readiness`).pluck(),
      halveReadiness: p(`UPDATE readiness SET count = count / 2`),
      worker:
        p(`INSERT INTO worker_activity (worker, inflight, window, clip_requests, hedges, updated_ms) VALUES (@worker, @inflight, @window, @clipRequests, @hedges, @nowMs)
                 ON CONFLICT (worker) DO UPDATE SET inflight = excluded.inflight, window = excluded.window,
                   clip_requests = excluded.clip_requests, hedges = excluded.hedges, updated_ms = excluded.updated_ms`),
      workers: p(`SELECT count(*) AS workers, coalesce(sum(inflight), 0) AS inflight, coalesce(sum(window), 0) AS window
                  FROM worker_activity WHERE updated_ms >= ?`),
      totals: p(`SELECT coalesce(sum(clip_requests), 0) AS clipRequests, coalesce(sum(hedges), 0) AS hedges FROM worker_activity`),
      granted: p(`SELECT coalesce(sum(granted), 0) FROM request_minute WHERE minute >= ? AND minute < ?`).pluck(),
      countGranted: p(
        `INSERT INTO request_minute (minute, granted) VALUES (?, ?) ON CONFLICT (minute) DO UPDATE SET granted = granted + excluded.granted`,
      ),
    };
  }

  readinessCounts(): number[] {
    const rows = this.store.read(() => this.sql.readiness.all() as { bucket: number; count: number }[]);
    const counts: number[] = [];
    for (const { bucket, count } of rows) counts[bucket] = count;
    return Array.from(counts, (c) => c ?? 0);
  }

  /** One short write: the worker's row, and its new readiness observations added to the campaign's (halved past `fadeAbove`). */
  reportActivity(workerId: string, activity: WorkerActivity, nowMs: number): { clipRequests: number; hedges: number } {
    return this.store.write(undefined, () => {
      this.sql.worker.run({ worker: workerId, ...activity, nowMs });
      activity.readiness.forEach((count, bucket) => count > 0 && this.sql.addReadiness.run(bucket, count));
      if ((this.sql.readinessTotal.get() as number) > activity.fadeAbove) this.sql.halveReadiness.run();
      return this.sql.totals.get() as { clipRequests: number; hedges: number };
    });
  }

  /** Inside the budget's write: requests granted this minute. */
  countGranted(granted: number, nowMs: number): void {
    this.sql.countGranted.run(Math.floor(nowMs / MINUTE_MS), granted);
  }

  /**
   * Workers heard from within `recentMs`, what they have in flight, every worker's requests and hedges, and the
   * requests granted per second over the last `windowMinutes` whole minutes.
   */
  activity(nowMs: number, recentMs: number, windowMinutes: number): CampaignActivity {
    return this.store.read(() => {
      const live = this.sql.workers.get(nowMs - recentMs) as { workers: number; inflight: number; window: number };
      const totals = this.sql.totals.get() as { clipRequests: number; hedges: number };
      const minute = Math.floor(nowMs / MINUTE_MS);
      const granted = this.sql.granted.get(minute - windowMinutes, minute) as number;
      return { ...live, ...totals, grantedPerSec: granted / (windowMinutes * 60) };
    });
  }
}
