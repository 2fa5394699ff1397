import type { ReportSource } from '../manifest/index.js';
import { CoverageGrid } from './coverage.js';
import type { HtmlReportInput, Throughput } from './html-report.js';
import { STATUS_DEFAULTS } from './options.js';
import { readStatusReport } from './status.js';

/** The throughput chart has at most this many bars: a bar covers as many whole minutes as it takes. */
export const MAX_THROUGHPUT_BARS = 600;

export interface ReadHtmlReportOptions {
  nowMs?: number;
  /** after each read of coverage counts: how many of the campaign's shards are read */
  onProgress?: (shardsRead: number, shardsTotal: number) => void;
}

/**
 * Reads what the HTML report shows, in short reads: the shard rows once (status and the timeline share them), the
 * coverage counts page by page into a grid of rows x columns (never a row per slot), the per-minute tallies and the
 * bucket counters.
 */
export function readHtmlReport(source: ReportSource, { nowMs = Date.now(), onProgress }: ReadHtmlReportOptions = {}): HtmlReportInput {
  const settings = source.settings();
  const shards = source.shardRows();
  const status = readStatusReport(source, 'vehicle', STATUS_DEFAULTS.rateWindowMinutes * 60_000, nowMs, shards);
  const grid = new CoverageGrid(shards);
  for (const page of source.coverageCounts(grid.slotsPerPart)) {
    for (const count of page.counts) grid.add(count);
    onProgress?.(page.shardsRead, page.shardsTotal);
  }
  return {
    status,
    bucketCapBytes: settings.bucketCapBytes,
    workspaceCapBytes: settings.workspaceCapBytes,
    timeline: grid.timeline(),
    throughput: readThroughput(source),
    buckets: source.bucketUsage(),
    executor: source.submissions().length > 0 ? 'slurm' : 'local',
  };
}

function readThroughput(source: ReportSource): Throughput | undefined {
  const span = source.tallySpan();
  if (!span) return undefined;
  const barMinutes = Math.max(1, Math.ceil((span.lastMinute - span.firstMinute + 1) / MAX_THROUGHPUT_BARS));
  return { firstMinute: span.firstMinute, barMinutes, bars: source.tallies(span.firstMinute, barMinutes) };
}
