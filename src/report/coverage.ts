import type { CoverageCount, ShardStatusRow } from '../manifest/index.js';
import { SHARD_SECONDS, SLOT_SECONDS } from '../plan/types.js';

/** What a slot of the timeline can be: a final outcome, or `pending` (planned, no outcome yet). */
export const COVERAGE_STATES = ['ok', 'missing', 'invalid', 'failed', 'pending'] as const;
export type CoverageState = (typeof COVERAGE_STATES)[number];
export type StateCounts = Record<CoverageState, number>;

/**
 * Widths a timeline column may have: each divides an hour or is whole hours, so a shard (one hour) fills whole
 * columns and a column's counts come from whole parts of shards: per part of the hour from slot_result below an
 * hour, from the per-shard counters from an hour up.
 */
const COLUMN_SECONDS = [30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86_400];

/** At most this many columns: about one per pixel of a wide screen, a month of hours (744) included. */
export const MAX_TIMELINE_COLUMNS = 1000;

const SLOTS_PER_SHARD = SHARD_SECONDS / SLOT_SECONDS;
const STATE_COUNT = COVERAGE_STATES.length;
const PENDING = COVERAGE_STATES.indexOf('pending');

/**
 * Columns shorter than an hour are grouped from slot_result rows, an hour and longer from the per-shard counters: a
 * campaign with more planned slots than this gets columns of an hour at least, so its report reads counters only
 * (grouping a million slot rows takes about half a second here; 20 days of 50 vehicles x 5 cameras would be 14 M).
 */
export const MAX_SLOTS_GROUPED = 4_000_000;

/** The narrowest column, at least `minSeconds`, that keeps a window of `windowSeconds` within `maxColumns`. */
export function columnSecondsFor(windowSeconds: number, maxColumns: number = MAX_TIMELINE_COLUMNS, minSeconds = 0): number {
  return (
    COLUMN_SECONDS.find((s) => s >= minSeconds && windowSeconds / s <= maxColumns) ?? Math.ceil(windowSeconds / maxColumns / 86400) * 86400
  );
}

export const emptyStateCounts = (): StateCounts => ({ ok: 0, missing: 0, invalid: 0, failed: 0, pending: 0 });

/**
 * The colour of a column that covers many slots: failed if any of its slots failed, else invalid if any is invalid
 * (a problem never hides behind a majority), else the most common of ok, no data and pending. Undefined when no
 * slot of the column was planned.
 */
export function columnState(counts: StateCounts): CoverageState | undefined {
  if (counts.failed > 0) return 'failed';
  if (counts.invalid > 0) return 'invalid';
  const { ok, missing, pending } = counts;
  if (ok + missing + pending === 0) return undefined;
  if (ok >= missing && ok >= pending) return 'ok';
  return missing >= pending ? 'missing' : 'pending';
}

/** Consecutive columns of one colour; `to` excluded. */
export interface TimelineRun {
  state: CoverageState;
  from: number;
  to: number;
}

/** A stretch of columns that one hover title describes, with the slot counts it holds; `to` excluded. */
export interface TimelineSpan {
  from: number;
  to: number;
  counts: StateCounts;
}

export interface TimelineRow {
  vehicle: string;
  camera: string;
  totals: StateCounts;
  runs: TimelineRun[];
  spans: TimelineSpan[];
}

/**
 * The coverage timeline: one row per vehicle and camera, `columns` columns of `columnSeconds` from `startSec`, and
 * a hover title per `spanColumns` columns.
 */
export interface Timeline {
  startSec: number;
  columnSeconds: number;
  columns: number;
  spanColumns: number;
  rows: TimelineRow[];
}

/**
 * Hover titles in all, at most: a title is ~80 bytes of text, so a month of 250 rows gets one a day (7,750), a day
 * of a few rows one a column. The colours are drawn per column whatever this is.
 */
export const MAX_HOVER_SPANS = 10_000;

/** Lengths a hover span may have, when it must cover more than one column: whole minutes, hours, days or a week. */
const SPAN_SECONDS = [...COLUMN_SECONDS, 172_800, 604_800];

/**
 * Slot counts per (vehicle, camera, column, state), filled from the planned shards (every slot pending) and then
 * from the manifest's coverage counts (each moves slots from pending to its outcome). Memory is rows x columns x 5
 * numbers, whatever the number of slots.
 */
export class CoverageGrid {
  readonly startSec: number;
  readonly columnSeconds: number;
  readonly columns: number;
  private readonly shards = new Map<number, ShardStatusRow>();
  private readonly cells = new Map<string, Uint32Array>();

  constructor(shards: readonly ShardStatusRow[], maxColumns: number = MAX_TIMELINE_COLUMNS) {
    let start = Infinity;
    let end = -Infinity;
    for (const shard of shards) {
      start = Math.min(start, shard.hourStart);
      end = Math.max(end, shard.hourStart + SHARD_SECONDS);
    }
    this.startSec = shards.length > 0 ? start : 0;
    const windowSeconds = shards.length > 0 ? end - start : SHARD_SECONDS;
    const plannedSlots = shards.reduce((n, shard) => n + shard.slotsTotal, 0);
    this.columnSeconds = columnSecondsFor(windowSeconds, maxColumns, plannedSlots > MAX_SLOTS_GROUPED ? SHARD_SECONDS : 0);
    this.columns = Math.ceil(windowSeconds / this.columnSeconds);
    for (const shard of shards) {
      this.shards.set(shard.id, shard);
      for (const camera of shard.cameras) this.plan(shard, camera);
    }
  }

  /** Slots per column when a column is shorter than an hour, else a whole shard's: what `coverageCounts` groups by. */
  get slotsPerPart(): number {
    return Math.min(this.columnSeconds, SHARD_SECONDS) / SLOT_SECONDS;
  }

  /** Moves counted slots of a shard's camera from pending to their outcome. */
  add(count: CoverageCount): void {
    const shard = this.shards.get(count.shardId);
    if (!shard) return; // a shard planned after the shard list was read: the next report shows it
    const cell = this.cellsOf(shard.vehicle, count.camera);
    const at = (this.firstColumnOf(shard) + count.part) * STATE_COUNT;
    cell[at + COVERAGE_STATES.indexOf(count.outcome)]! += count.count;
    cell[at + PENDING]! -= Math.min(count.count, cell[at + PENDING]!);
  }

  timeline(maxSpans: number = MAX_HOVER_SPANS): Timeline {
    const spanColumns = this.spanColumnsFor(maxSpans);
    const rows = [...this.cells.entries()]
      .map(([key, cell]) => {
        const [vehicle, camera] = key.split('\u0000') as [string, string];
        return { vehicle, camera, ...this.rowOf(cell, spanColumns) };
      })
      .sort((a, b) => a.vehicle.localeCompare(b.vehicle) || a.camera.localeCompare(b.camera));
    return { startSec: this.startSec, columnSeconds: this.columnSeconds, columns: this.columns, spanColumns, rows };
  }

  /** Columns per hover span: one, or the shortest whole-unit length that keeps the titles of every row within `maxSpans`. */
  private spanColumnsFor(maxSpans: number): number {
    const spansPerRow = Math.max(1, Math.floor(maxSpans / Math.max(1, this.cells.size)));
    const fits = (seconds: number) =>
      seconds % this.columnSeconds === 0 && Math.ceil((this.columns * this.columnSeconds) / seconds) <= spansPerRow;
    const seconds = SPAN_SECONDS.find(fits) ?? Math.ceil(this.columns / spansPerRow) * this.columnSeconds;
    return seconds / this.columnSeconds;
  }

  /** A sample campaign's shard plans only its drawn slots: the others are not part of the campaign, not pending. */
  private plan(shard: ShardStatusRow, camera: string): void {
    const cell = this.cellsOf(shard.vehicle, camera);
    const first = this.firstColumnOf(shard);
    if (shard.slots) {
      for (const slotNo of shard.slots[camera] ?? []) cell[(first + Math.floor(slotNo / this.slotsPerPart)) * STATE_COUNT + PENDING]! += 1;
      return;
    }
    const parts = SLOTS_PER_SHARD / this.slotsPerPart;
    for (let part = 0; part < parts; part++) cell[(first + part) * STATE_COUNT + PENDING]! += this.slotsPerPart;
  }

  private firstColumnOf(shard: ShardStatusRow): number {
    return Math.floor((shard.hourStart - this.startSec) / this.columnSeconds);
  }

  private cellsOf(vehicle: string, camera: string): Uint32Array {
    const key = `${vehicle}\u0000${camera}`;
    let cell = this.cells.get(key);
    if (!cell) this.cells.set(key, (cell = new Uint32Array(this.columns * STATE_COUNT)));
    return cell;
  }

  private rowOf(cell: Uint32Array, spanColumns: number): Pick<TimelineRow, 'totals' | 'runs' | 'spans'> {
    const totals = emptyStateCounts();
    const runs: TimelineRun[] = [];
    const spans: TimelineSpan[] = [];
    let run: TimelineRun | undefined;
    let span: TimelineSpan | undefined;
    for (let column = 0; column < this.columns; column++) {
      const counts = emptyStateCounts();
      COVERAGE_STATES.forEach((state, i) => (counts[state] = cell[column * STATE_COUNT + i]!));
      const state = columnState(counts);
      if (state === undefined) {
        run = undefined;
        continue;
      }
      if (run?.state !== state) runs.push((run = { state, from: column, to: column }));
      run.to = column + 1;
      const spanStart = column - (column % spanColumns);
      if (span?.from !== spanStart)
        spans.push((span = { from: spanStart, to: Math.min(spanStart + spanColumns, this.columns), counts: emptyStateCounts() }));
      for (const s of COVERAGE_STATES) {
        span.counts[s] += counts[s];
        totals[s] += counts[s];
      }
    }
    return { totals, runs, spans };
  }
}
