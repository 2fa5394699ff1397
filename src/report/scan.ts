import { formatInTimeZone } from 'date-fns-tz';
import { formatDuration } from '../duration.js';
import { formatCount, plural } from './format.js';
import { type Column, renderTable } from './table.js';

const SLOT_SECONDS = 30;

/** One camera's slot as a scan left it (`ScannedSlot` of src/worker/scan.ts). */
export interface ScannedSlotInput {
  vehicle: string;
  camera: string;
  start: number;
  state: 'data' | 'none' | 'skipped' | 'unknown';
}

/** A run of consecutive slots with data: from the first slot's start to the last one's end. */
export interface DataRun {
  /** UTC epoch seconds */
  start: number;
  end: number;
  startIso: string;
  endIso: string;
  /** `yyyy-MM-dd HH:mm:ssXXX` in the report's time zone */
  startLocal: string;
  endLocal: string;
  slots: number;
}

export interface ScanCameraRow {
  vehicle: string;
  camera: string;
  slots: { total: number; data: number; none: number; skipped: number; unknown: number };
  /** slots with data × 30 s */
  coveredSeconds: number;
  runs: DataRun[];
}

/** What a scan cost and found, as `scan --json` prints it (`schemaVersion` 1; docs/scan.md). */
export interface ScanReport {
  schemaVersion: 1;
  /** the manifest scanned, or null for a window given by flags */
  manifest: string | null;
  timeZone: string;
  strategy: string;
  requests: number;
  jobs: number;
  firstError: string | null;
  rows: ScanCameraRow[];
  total: ScanCameraRow['slots'] & { coveredSeconds: number; runs: number };
}

/** A row while slots come in: its runs as [start, end) pairs, the last one perhaps still growing. */
interface OpenRow extends Omit<ScanCameraRow, 'runs'> {
  runs: [start: number, end: number][];
  /** the end of the last slot seen when it had data: a slot starting there extends the last run */
  runEnd?: number;
}

/**
 * Builds a scan's report from its shards as they come, each vehicle's in time order: counts per vehicle and camera
 * and its runs of data, never every slot at once (a month of slots is millions; its runs are thousands).
 */
export class ScanSummary {
  private readonly rows = new Map<string, OpenRow>();

  add(slots: readonly ScannedSlotInput[]): void {
    for (const s of slots) {
      const key = `${s.vehicle}\u0000${s.camera}`;
      let row = this.rows.get(key);
      if (!row) {
        row = {
          vehicle: s.vehicle,
          camera: s.camera,
          slots: { total: 0, data: 0, none: 0, skipped: 0, unknown: 0 },
          coveredSeconds: 0,
          runs: [],
        };
        this.rows.set(key, row);
      }
      row.slots.total++;
      row.slots[s.state]++;
      if (s.state !== 'data') {
        delete row.runEnd;
        continue;
      }
      row.coveredSeconds += SLOT_SECONDS;
      const run = row.runs.at(-1);
      if (run && row.runEnd === s.start) run[1] = s.start + SLOT_SECONDS;
      else row.runs.push([s.start, s.start + SLOT_SECONDS]);
      row.runEnd = s.start + SLOT_SECONDS;
    }
  }

  /** The report, with times shown in `timeZone` (the campaign's, or the window's). */
  report(outcome: {
    timeZone: string;
    manifest?: string;
    strategy: string;
    requests: number;
    jobs: number;
    firstError?: string;
  }): ScanReport {
    const local = (epochSeconds: number): string => formatInTimeZone(epochSeconds * 1000, outcome.timeZone, 'yyyy-MM-dd HH:mm:ssXXX');
    const rows = [...this.rows.values()]
      .sort((a, b) => a.vehicle.localeCompare(b.vehicle) || a.camera.localeCompare(b.camera))
      .map(({ runEnd: _open, runs, ...row }) => ({
        ...row,
        runs: runs.map(([start, end]) => ({
          start,
          end,
          startIso: iso(start),
          endIso: iso(end),
          startLocal: local(start),
          endLocal: local(end),
          slots: (end - start) / SLOT_SECONDS,
        })),
      }));
    const total = { total: 0, data: 0, none: 0, skipped: 0, unknown: 0, coveredSeconds: 0, runs: 0 };
    for (const row of rows) {
      for (const key of ['total', 'data', 'none', 'skipped', 'unknown'] as const) total[key] += row.slots[key];
      total.coveredSeconds += row.coveredSeconds;
      total.runs += row.runs.length;
    }
    return {
      schemaVersion: 1,
      manifest: outcome.manifest ?? null,
      timeZone: outcome.timeZone,
      strategy: outcome.strategy,
      requests: outcome.requests,
      jobs: outcome.jobs,
      firstError: outcome.firstError ?? null,
      rows,
      total,
    };
  }
}

const iso = (epochSeconds: number): string => new Date(epochSeconds * 1000).toISOString().replace('.000Z', 'Z');

const right = (header: string): Column => ({ header, align: 'right' });

/** What `scan` prints: the cost, a table per vehicle and camera, then each run of data in the report's time zone. */
export function renderScanText(report: ScanReport): string {
  const counts = (s: ScanCameraRow['slots']): string[] => [s.total, s.data, s.none, s.skipped, s.unknown].map(formatCount);
  const table = renderTable(
    [
      { header: 'vehicle' },
      { header: 'camera' },
      right('slots'),
      right('data'),
      right('no data'),
      right('not asked'),
      right('unknown'),
      right('covered'),
      right('runs'),
    ],
    report.rows.map((r) => [r.vehicle, r.camera, ...counts(r.slots), formatDuration(r.coveredSeconds), formatCount(r.runs.length)]),
    [['total', '', ...counts(report.total), formatDuration(report.total.coveredSeconds), formatCount(report.total.runs)]],
  );
  const cost =
    `scan (${report.strategy}${report.manifest ? `, ${report.manifest}` : ''}): ${plural(report.requests, 'request')} to /v1/video; ` +
    `${formatCount(report.jobs)} answered with a clip, each of which started a processing job on the vendor's side\n`;
  const runs = renderTable(
    [{ header: 'vehicle' }, { header: 'camera' }, { header: 'from' }, { header: 'to' }, right('length')],
    report.rows.flatMap((r) =>
      r.runs.map((run) => [
        r.vehicle,
        r.camera,
        run.startLocal.slice(0, 19),
        sameDay(run) ? run.endLocal.slice(11, 19) : run.endLocal.slice(0, 19),
        formatDuration(run.end - run.start),
      ]),
    ),
  );
  const unknown =
    report.total.unknown > 0
      ? `${plural(report.total.unknown, 'slot')} could not be checked (first: ${report.firstError}); scan again to ask them again\n`
      : '';
  return `${cost}${table}${report.total.runs > 0 ? `\nruns of data (${report.timeZone}):\n${runs}` : 'no data in any slot\n'}${unknown}`;
}

const sameDay = (run: DataRun): boolean => run.startLocal.slice(0, 10) === run.endLocal.slice(0, 10);
