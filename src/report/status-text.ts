import { formatDuration } from '../duration.js';
import { formatCount, formatDays, formatGb, plural } from './format.js';
import {
  BUDGET_WINDOW_MINUTES,
  type CameraRow,
  type ClipCounts,
  type HourRow,
  type Progress,
  type ShardRow,
  type StatusReport,
  type VehicleRow,
} from './status.js';
import { type Column, renderTable } from './table.js';
import { renderTokenView } from './token.js';

const right = (header: string, group?: string): Column => ({ header, align: 'right', ...(group && { group }) });
const SHARD_COLUMNS: Column[] = ['done', 'run', 'pend', 'rel', 'fail'].map((h) => right(h, 'shards'));
const CLIP_COLUMNS: Column[] = ['ok', 'missing', 'invalid', 'failed', 'left'].map((h) => right(h, 'clips'));

const shardCells = ({ shards: s }: Progress): string[] => [s.done, s.running, s.pending, s.released, s.failed].map(formatCount);
const clipCells = (c: ClipCounts): string[] => [c.ok, c.missing, c.invalid, c.failed, c.remaining].map(formatCount);
const rateCells = (r: Pick<VehicleRow, 'clipsPerMin' | 'etaSeconds' | 'clips'>): string[] => [
  r.clipsPerMin.toFixed(1),
  r.clips.remaining === 0 ? 'done' : formatDuration(r.etaSeconds),
];

function header(report: StatusReport): string {
  return (
    `campaign: ${formatDays(report.days)} in ${report.timeZone}; ${plural(report.vehicles.length, 'vehicle')}; ` +
    `cameras ${report.cameras.join(',')}\n`
  );
}

function table(report: StatusReport): string {
  const total = report.total;
  switch (report.by) {
    case 'vehicle':
      return renderTable(
        [{ header: 'vehicle' }, ...SHARD_COLUMNS, ...CLIP_COLUMNS, right('GB'), right('clips/min'), right('ETA')],
        (report.rows as VehicleRow[]).map((r) => [r.vehicle, ...shardCells(r), ...clipCells(r.clips), formatGb(r.bytes), ...rateCells(r)]),
        [['total', ...shardCells(total), ...clipCells(total.clips), formatGb(total.bytes), ...rateCells(total)]],
      );
    case 'hour':
      return renderTable(
        [{ header: `hour (${report.timeZone})` }, ...SHARD_COLUMNS, ...CLIP_COLUMNS, right('GB')],
        (report.rows as HourRow[]).map((r) => [r.localTime, ...shardCells(r), ...clipCells(r.clips), formatGb(r.bytes)]),
        [['total', ...shardCells(total), ...clipCells(total.clips), formatGb(total.bytes)]],
      );
    case 'camera':
      return renderTable(
        [{ header: 'vehicle' }, { header: 'camera' }, ...CLIP_COLUMNS, right('GB')],
        (report.rows as CameraRow[]).map((r) => [r.vehicle, r.camera, ...clipCells(r.clips), formatGb(r.bytes)]),
        [['total', '', ...clipCells(total.clips), formatGb(total.bytes)]],
      );
    case 'shard':
      return renderTable(
        [
          right('id'),
          { header: 'vehicle' },
          { header: `hour (${report.timeZone})` },
          { header: 'state' },
          right('tries'),
          ...CLIP_COLUMNS,
          right('GB'),
          { header: 'note' },
        ],
        (report.rows as ShardRow[]).map((r) => [
          String(r.id),
          r.vehicle,
          r.localTime,
          r.state,
          String(r.attempts),
          ...clipCells(r.clips),
          formatGb(r.bytes),
          noteOf(r),
        ]),
      );
  }
}

/** Who holds a running shard, why a shard was released, or why it failed: one short line. */
function noteOf(r: ShardRow): string {
  if (r.state === 'running') return `${r.owner ?? '?'} until ${r.leaseUntilIso ?? '?'}`;
  if (r.state === 'released') return `released: ${r.releaseReason ?? 'unknown'}`;
  if (r.state === 'failed') return oneLineOf(r.lastError ?? '');
  return '';
}

const oneLineOf = (text: string, max = 100): string => {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
};

/** Lines that tell the operator what needs doing: released shards by reason, failed shards. */
function notices(report: StatusReport): string {
  const lines = report.released.map((n) => `released: ${plural(n.shards, 'shard')} (${n.reason}): ${n.advice}`);
  const failed = report.failedShards.length;
  if (failed > 0)
    lines.push(
      `failed: ${plural(failed, 'shard')}: fleetclip status --failed lists them with their last error; fleetclip run --retry-failed tries them again`,
    );
  return lines.map((l) => `${l}\n`).join('');
}

/** Workers, the API's readiness times, the budget: one line, once anything was reported. */
function workersLine({ workers: w }: StatusReport): string {
  if (w.clipRequests === 0 && w.active === 0) return '';
  const ready =
    w.readyP50Ms === null ? 'no readiness seen yet' : `clips ready in p50 ${seconds(w.readyP50Ms)}, p99 ${seconds(w.readyP99Ms!)}`;
  return (
    `workers: ${w.active} active, ${plural(w.clipsInFlight, 'clip')} in flight (windows ${formatCount(w.window)}); ${ready}; ` +
    `budget ${w.grantedPerSec.toFixed(1)} of ${w.budgetPerSec.toFixed(1)} requests/s used (${Math.round(w.budgetUse * 100)} %, last ${BUDGET_WINDOW_MINUTES} min); ` +
    `${formatCount(w.hedges)} hedge(s) in ${plural(w.clipRequests, 'clip request')}\n`
  );
}

const seconds = (ms: number): string => (ms < 10_000 ? `${(ms / 1000).toFixed(1)}s` : formatDuration(ms / 1000));

/** The text `status` prints: campaign line, the table for the chosen cut, the workers, then what needs doing. */
export function renderStatusText(report: StatusReport): string {
  const token = report.token ? renderTokenView(report.token, Date.parse(report.generatedAt), report.manifest) : '';
  return `${header(report)}${table(report)}${workersLine(report)}${token}${notices(report)}`;
}

/** The text `status --failed` prints. */
export function renderFailedShards(report: StatusReport): string {
  if (report.failedShards.length === 0) return 'no failed shards\n';
  return renderTable(
    [right('id'), { header: 'vehicle' }, { header: `hour (${report.timeZone})` }, right('tries'), { header: 'last error' }],
    report.failedShards.map((s) => [String(s.id), s.vehicle, s.localTime, String(s.attempts), oneLineOf(s.lastError ?? '', 200)]),
  );
}
