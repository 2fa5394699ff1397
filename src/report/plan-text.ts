import { formatInTimeZone } from 'date-fns-tz';
import type { PlanOutcome } from '../manifest/index.js';
import { formatDuration } from '../duration.js';
import type { CampaignSettings, Forecast, SampleSpec, ShardSpec } from '../plan/index.js';
import { formatCount, formatDays, formatGb, plural } from './format.js';
import { renderTable } from './table.js';

/** The document `plan --dry-run --json` prints (docs/campaign.md describes it). */
export interface PlanPreview {
  settings: CampaignSettings;
  forecast: Forecast;
  shards: (ShardSpec & { hourStartIso: string; localTime: string })[];
}

export function buildPlanPreview(planned: { settings: CampaignSettings; shards: readonly ShardSpec[]; forecast: Forecast }): PlanPreview {
  const { settings, forecast } = planned;
  return {
    settings,
    forecast,
    shards: planned.shards.map((s) => ({
      ...s,
      hourStartIso: new Date(s.hourStart * 1000).toISOString(),
      localTime: formatInTimeZone(s.hourStart * 1000, settings.timeZone, 'yyyy-MM-dd HH:mmXXX'),
    })),
  };
}

function campaignLine(s: CampaignSettings): string {
  const hours = s.hours ? `, local hours ${s.hours.from}-${s.hours.to}` : '';
  return `campaign: ${formatDays(s.days)} in ${s.timeZone}${hours}; vehicles ${s.vehicles.join(',')}; cameras ${s.cameras.join(',')}\n${s.sample ? sampleLine(s.sample) : ''}`;
}

const utc = (epochSeconds: number): string => new Date(epochSeconds * 1000).toISOString().replace('.000Z', 'Z');

/** How a sample was drawn, and how to draw it again. */
function sampleLine(s: SampleSpec): string {
  const apart = s.minGapSeconds > 0 ? ` at least ${formatDuration(s.minGapSeconds)} apart` : '';
  return (
    `sample: ${plural(s.n, 'slot')} per vehicle and camera${apart}, drawn from ${utc(s.windowStart)}..${utc(s.windowEnd)} with seed ${s.seed} ` +
    `(the same flags with --seed ${s.seed} draw the same slots on the same UTC day)\n`
  );
}

/** A shard's cameras, or a sample shard's drawn slots (UTC times) per camera. */
function slotsCell(s: ShardSpec): string {
  if (!s.slots) return s.cameras.join(',');
  const time = (slotNo: number): string => utc(s.hourStart + slotNo * 30).slice(11, 19);
  return Object.entries(s.slots)
    .map(([camera, slotNos]) => `${camera} ${slotNos.map(time).join(' ')}`)
    .join('; ');
}

const trim = (n: number, digits = 2): string => n.toFixed(digits);

/** The forecast as a few aligned lines; every figure says what it assumed. */
export function renderForecast(f: Forecast): string {
  const a = f.assumptions;
  const rows = [
    ['slots', `${formatCount(f.slots)} clips of 30 s in ${plural(f.shards, 'shard')}`],
    [
      'API requests',
      `at most ${formatCount(f.apiRequestsMax)} (${a.requestsPerClip} per clip, no retries); at ${a.apiRatePerSec} requests/s that takes at most ${trim(f.apiLimitedHours)} h`,
    ],
    ['bytes', `${formatGb(f.bytesExpected)} GB if every slot has a clip of ${formatCount(a.clipBytes)} bytes`],
    [
      'worker time',
      `${trim(f.coreHours)} core-hours at ${trim(f.workerClipsPerSec)} clips/s per worker = ${trim(f.serviceUnits)} SU at ${a.suPerCoreHour} SU per core-hour`,
    ],
    [
      'workers',
      a.throughputClipsPerSec !== undefined
        ? `${f.workersToFillBudget} fill the ${a.apiRatePerSec} requests/s budget at ${a.throughputClipsPerSec} clips/s each (--throughput)`
        : `${f.workersToFillBudget} fill the ${a.apiRatePerSec} requests/s budget: each keeps up to ${a.maxConcurrent} clips of ~${a.clipSeconds} s in flight (${a.typicalRequestsPerClip} requests a clip)`,
    ],
  ];
  const width = Math.max(...rows.map(([k]) => (k ?? '').length));
  return `forecast:\n${rows.map(([k, v]) => `  ${(k ?? '').padEnd(width)}  ${v}\n`).join('')}`;
}

/** What `plan --dry-run` prints: the campaign, one line per shard, the forecast. */
export function renderPlanPreview(preview: PlanPreview): string {
  const table = renderTable(
    [
      { header: 'vehicle' },
      { header: 'hour (UTC)' },
      { header: `hour (${preview.settings.timeZone})` },
      { header: preview.settings.sample ? 'slots (UTC)' : 'cameras' },
    ],
    preview.shards.map((s) => [s.vehicle, s.hourStartIso.replace('.000Z', 'Z'), s.localTime, slotsCell(s)]),
  );
  return `${campaignLine(preview.settings)}${table}${renderForecast(preview.forecast)}`;
}

/** What `plan` (and `sample`, with how it drew) prints after writing the manifest. */
export function renderPlanOutcome(manifestPath: string, outcome: PlanOutcome, forecast: Forecast, sample?: SampleSpec): string {
  const line = outcome.created
    ? `planned ${plural(outcome.shardsTotal, 'shard')} in ${manifestPath}`
    : outcome.shardsAdded > 0
      ? `added ${plural(outcome.shardsAdded, 'shard')} to ${manifestPath} (${formatCount(outcome.shardsTotal)} in all)`
      : `${manifestPath} already holds this plan (${plural(outcome.shardsTotal, 'shard')}): nothing to do`;
  return `${line}\n${sample ? sampleLine(sample) : ''}${renderForecast(forecast)}`;
}
