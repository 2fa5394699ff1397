import { formatInTimeZone } from 'date-fns-tz';
import type { BucketUsage, MinuteTally } from '../manifest/index.js';
import { SLOT_SECONDS } from '../plan/types.js';
import { COVERAGE_STATES, type CoverageState, type StateCounts, type Timeline, type TimelineRow } from './coverage.js';
import { formatCount, formatDays, plural } from './format.js';
import { shellWord } from '../shell.js';
import { escapeHtml, formatGib, percent, svgNumber } from './html.js';
import type { FailedShard, StatusReport, VehicleRow } from './status.js';

/** Results and requests per bar of `barMinutes`, from `firstMinute` (epoch minutes). */
export interface Throughput {
  firstMinute: number;
  barMinutes: number;
  bars: readonly MinuteTally[];
}

/** Everything the HTML report shows, read from the manifest by `readHtmlReport`. */
export interface HtmlReportInput {
  status: StatusReport;
  bucketCapBytes: number;
  workspaceCapBytes: number;
  timeline: Timeline;
  throughput: Throughput | undefined;
  buckets: readonly BucketUsage[];
  /** how failed shards are queued again: `slurm` campaigns were submitted (resubmit), `local` ones run here */
  executor: 'slurm' | 'local';
}

/** The failed shards listed one by one; the rest are counted, and `status --failed` lists them all. */
export const MAX_FAILED_ROWS = 500;

const STATE_LABEL: Record<CoverageState, string> = {
  ok: 'ok',
  missing: 'no data',
  invalid: 'invalid',
  failed: 'failed',
  pending: 'pending',
};
/** CSS classes of the states: one letter, as a month's timeline has tens of thousands of runs. */
const STATE_CLASS: Record<CoverageState, string> = { ok: 'o', missing: 'm', invalid: 'i', failed: 'f', pending: 'p' };
const STATE_COLOUR: Record<CoverageState, string> = {
  ok: '#3a9e4f',
  missing: '#d9d9d9',
  invalid: '#f0a030',
  failed: '#d63c3c',
  pending: '#a8c8ec',
};

/** Hour steps of the labelled ticks: the first that gives at most MAX_TICKS labels (a month: every other day). */
const TICK_HOURS = [1, 2, 3, 6, 12, 24, 48, 168];
const MAX_TICKS = 16;

const CSS = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px auto;padding:0 24px;max-width:1500px;color:#222;background:#fff}
h1{font-size:21px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:3px}
.meta,.note{color:#555;font-size:13px}code{font:12px ui-monospace,Menlo,Consolas,monospace;background:#f3f3f3;padding:1px 4px;border-radius:3px;word-break:break-all}
table{border-collapse:collapse;font-size:13px}th,td{padding:3px 9px;text-align:right;border-bottom:1px solid #eee;vertical-align:top}th{background:#f6f6f6}
td.t,th.t{text-align:left}.cards{display:flex;flex-wrap:wrap;gap:10px;margin:12px 0}
.card{border:1px solid #ddd;border-radius:6px;padding:6px 12px;min-width:110px}.card b{display:block;font-size:18px}
.lg{display:flex;flex-wrap:wrap;gap:14px;list-style:none;padding:0;margin:6px 0;font-size:13px}.lg svg{vertical-align:-1px;margin-right:4px}
.tl{--label:190px;margin-top:8px}.ax{position:relative;height:18px;margin-left:var(--label);font-size:11px;color:#555}
.ax span{position:absolute;white-space:nowrap;transform:translateX(-50%)}.ax span.d{font-weight:600;color:#222}
.rows{position:relative}.grid{position:absolute;top:0;bottom:0;left:var(--label);right:0;pointer-events:none;z-index:1}
.grid i{position:absolute;top:0;bottom:0;border-left:1px solid rgba(0,0,0,.18)}.grid i.d{border-left-color:rgba(0,0,0,.5)}
.row{display:flex;align-items:center;height:13px;margin:1px 0}.row.v{margin-top:7px}
.row .l{width:var(--label);flex:none;font-size:11px;overflow:hidden;text-overflow:ellipsis;white-space:nowrap;padding-right:6px;box-sizing:border-box}
.row svg{flex:1;min-width:0;height:12px;outline:1px solid #e4e4e4;background:#fafafa}.row path{fill:none;stroke-width:1}
.row rect{height:1px;fill:transparent}.row rect:hover{fill:rgba(0,0,0,.2)}
${COVERAGE_STATES.map((s) => `.${STATE_CLASS[s]}{fill:${STATE_COLOUR[s]};stroke:${STATE_COLOUR[s]}}`).join('')}
.chart{width:100%;height:150px;outline:1px solid #e4e4e4}.res{fill:${STATE_COLOUR.ok}88}.req{fill:none;stroke:#444;stroke-width:1.2;vector-effect:non-scaling-stroke}
.hb{fill:transparent}.hb:hover{fill:rgba(0,0,0,.08)}.span{display:flex;justify-content:space-between;font-size:11px;color:#555}
.gauge{height:16px;background:#eee;border-radius:3px;overflow:hidden;max-width:700px}.gauge div{height:100%;background:#4a7fc1}.gauge div.over{background:${STATE_COLOUR.failed}}
.row.bkrow{height:28px}.row svg.bk{flex:none;height:26px;background:none;outline:none}.bk rect{fill:#4a7fc1}.bk rect.over{fill:${STATE_COLOUR.failed}}
.bk rect.cap{fill:#f3f3f3}.bkn{font-size:12px;color:#555;margin-left:8px;white-space:nowrap}
td.err{text-align:left;max-width:520px;word-break:break-word;font-size:12px}`;

/** The report as one self-contained HTML page: inline CSS and SVG, no script, nothing fetched. */
export function renderHtmlReport(input: HtmlReportInput): string {
  const { status } = input;
  const title = `fleetclip report: ${status.manifest}`;
  return [
    '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width,initial-scale=1">',
    `<title>${escapeHtml(title)}</title><style>${CSS}</style></head><body>`,
    header(input),
    timelineSection(input.timeline, status.timeZone),
    throughputSection(input.throughput, status.timeZone),
    storageSection(input),
    failedSection(input),
    vehicleSection(status),
    `<p class="note">Written by <code>fleetclip report --manifest ${escapeHtml(shellWord(status.manifest))}</code>; docs/report.md explains every part.</p>`,
    '</body></html>\n',
  ].join('\n');
}

function header({ status }: HtmlReportInput): string {
  const { total } = status;
  const generated = Date.parse(status.generatedAt);
  const slots = total.clips.total;
  const card = (label: string, value: string, note = '') => `<div class="card">${escapeHtml(label)}<b>${value}</b>${note}</div>`;
  const share = (n: number) => (slots > 0 ? ` <span class="meta">${((100 * n) / slots).toFixed(1)} %</span>` : '');
  const outcome = (state: CoverageState, n: number) => card(STATE_LABEL[state], formatCount(n), share(n));
  const shards = total.shards;
  return `<h1>Campaign coverage</h1>
<p class="meta">manifest <code>${escapeHtml(status.manifest)}</code><br>${escapeHtml(formatDays(status.days))} in ${escapeHtml(status.timeZone)} ·
${plural(status.vehicles.length, 'vehicle')} × ${plural(status.cameras.length, 'camera')} (${escapeHtml(status.cameras.join(', '))}) ·
${plural(slots, 'slot')} of 30 s · generated ${escapeHtml(formatInTimeZone(generated, status.timeZone, 'yyyy-MM-dd HH:mm zzz'))} (${escapeHtml(status.generatedAt)})</p>
<div class="cards">${outcome('ok', total.clips.ok)}${outcome('missing', total.clips.missing)}${outcome('invalid', total.clips.invalid)}${outcome('failed', total.clips.failed)}${outcome('pending', total.clips.remaining)}
${card('downloaded', formatGib(total.bytes))}${card('shards done', `${formatCount(shards.done)} / ${formatCount(shards.total)}`, shards.failed > 0 ? ` <span class="meta">${formatCount(shards.failed)} failed</span>` : '')}</div>`;
}

// ---- the coverage timeline

function legend(): string {
  const swatch = (s: CoverageState) =>
    `<li data-state="${s}"><svg width="12" height="12"><rect class="${STATE_CLASS[s]}" width="12" height="12"/></svg>${STATE_LABEL[s]}</li>`;
  return `<ul class="lg">${COVERAGE_STATES.map(swatch).join('')}<li><svg width="12" height="12"><rect width="12" height="12" fill="#fafafa" stroke="#ccc"/></svg>not planned</li></ul>`;
}

function timelineSection(timeline: Timeline, timeZone: string): string {
  const { columns, columnSeconds } = timeline;
  const slotsPerColumn = columnSeconds / SLOT_SECONDS;
  const rule =
    slotsPerColumn === 1
      ? 'Each column is one 30 s slot.'
      : `Each column covers ${formatSpan(columnSeconds)} (${formatCount(slotsPerColumn)} slots): it is red if any of its slots failed, else orange if any is invalid, else the colour of its most common state.`;
  const hover = timeline.spanColumns === 1 ? 'a column' : `${formatSpan(timeline.spanColumns * columnSeconds)} of a row`;
  const label = columnLabeller(timeline, timeZone);
  let vehicle: string | undefined;
  const rows = timeline.rows.map((row) => {
    const first = row.vehicle !== vehicle;
    vehicle = row.vehicle;
    return timelineRow(row, columns, first, label);
  });
  const ticks = hourTicks(timeline, timeZone);
  const axis = ticks.map((t) => `<span${t.day ? ' class="d"' : ''} style="left:${t.left}">${escapeHtml(t.label)}</span>`).join('');
  const grid = ticks.map((t) => `<i${t.day ? ' class="d"' : ''} style="left:${t.left}"></i>`).join('');
  return `<h2>Coverage timeline</h2>
<p class="note">One row per vehicle and camera; hours in ${escapeHtml(timeZone)}. ${rule} Hover over ${hover} for its times and counts.</p>
${legend()}
<div class="tl"><div class="ax">${axis}</div><div class="rows"><div class="grid">${grid}</div>
${rows.join('\n')}
</div></div>`;
}

/**
 * A row is two layers: the colours, one path of horizontal strokes per state (a run of columns is ~10 bytes), and
 * transparent hover spans over them, each with a title of the times and counts it covers.
 */
function timelineRow(row: TimelineRow, columns: number, firstOfVehicle: boolean, label: (column: number) => string): string {
  const data = COVERAGE_STATES.map((s) => ` data-${s}="${row.totals[s]}"`).join('');
  const name = `${row.vehicle} · ${row.camera}`;
  const paths = COVERAGE_STATES.map((state) => {
    const d = row.runs
      .filter((run) => run.state === state)
      .map((run) => `M${run.from} .5h${run.to - run.from}`)
      .join('');
    return d ? `<path class="${STATE_CLASS[state]}" d="${d}"/>` : '';
  }).join('');
  const spans = row.spans
    .map((span) => {
      const when = `${label(span.from)}–${label(span.to)}`.replace(/^(\w+ \d+) (\S+)–\1 /, '$1 $2–');
      return `<rect x="${span.from}" width="${span.to - span.from}"><title>${when}: ${countsText(span.counts)}</title></rect>`;
    })
    .join('');
  return (
    `<div class="row${firstOfVehicle ? ' v' : ''}" data-vehicle="${escapeHtml(row.vehicle)}" data-camera="${escapeHtml(row.camera)}"${data}>` +
    `<span class="l" title="${escapeHtml(`${name}: ${countsText(row.totals)}`)}">${escapeHtml(name)}</span>` +
    `<svg viewBox="0 0 ${columns} 1" preserveAspectRatio="none" shape-rendering="crispEdges">${paths}${spans}</svg></div>`
  );
}

/** `40 ok, 20 no data`: the states a stretch holds. */
function countsText(counts: StateCounts): string {
  return (
    COVERAGE_STATES.filter((s) => counts[s] > 0)
      .map((s) => `${formatCount(counts[s])} ${STATE_LABEL[s]}`)
      .join(', ') || 'nothing planned'
  );
}

/** The local time at a column boundary, `Nov 17 15:30` (with seconds for 30 s columns), each formatted once. */
function columnLabeller(timeline: Timeline, timeZone: string): (column: number) => string {
  const labels: string[] = [];
  const format = timeline.columnSeconds % 60 === 0 ? 'MMM d HH:mm' : 'MMM d HH:mm:ss';
  return (column) => (labels[column] ??= formatInTimeZone((timeline.startSec + column * timeline.columnSeconds) * 1000, timeZone, format));
}

interface Tick {
  left: string;
  label: string;
  /** a local midnight */
  day: boolean;
}

/** Labelled ticks on local hour boundaries, every 1, 2, 3, 6, 12 or 24 hours (or days), at most MAX_TICKS. */
function hourTicks(timeline: Timeline, timeZone: string): Tick[] {
  const spanSeconds = timeline.columns * timeline.columnSeconds;
  const hours = spanSeconds / 3600;
  const step = TICK_HOURS.find((h) => hours / h <= MAX_TICKS) ?? Math.ceil(hours / MAX_TICKS / 24) * 24;
  const ticks: Tick[] = [];
  let midnights = 0;
  for (let offset = 0; offset <= spanSeconds; offset += 3600) {
    const ms = (timeline.startSec + offset) * 1000;
    const hour = Number(formatInTimeZone(ms, timeZone, 'H'));
    const midnight = hour === 0;
    const wanted = step >= 24 ? midnight && midnights++ % (step / 24) === 0 : hour % step === 0;
    if (!wanted && offset !== 0) continue;
    const label = formatInTimeZone(ms, timeZone, midnight || offset === 0 ? (midnight ? 'MMM d' : 'MMM d HH:mm') : 'HH:mm');
    ticks.push({ left: percent(offset, spanSeconds), label, day: midnight });
  }
  return ticks;
}

// ---- throughput

function throughputSection(throughput: Throughput | undefined, timeZone: string): string {
  const head = '<h2>Throughput</h2>';
  if (!throughput || throughput.bars.length === 0) return `${head}<p class="note">No slot result recorded yet.</p>`;
  const { firstMinute, barMinutes, bars } = throughput;
  const count = bars[bars.length - 1]!.bar + 1;
  const perMinute = (n: number) => n / barMinutes;
  const peakOf = (value: (b: MinuteTally) => number) => Math.max(0, ...bars.map((b) => perMinute(value(b))));
  const peak = Math.max(
    1,
    peakOf((b) => b.results),
    peakOf((b) => b.granted),
  );
  const top = peak * 1.05;
  const y = (n: number) => svgNumber(top - perMinute(n));
  const step = (value: (b: MinuteTally) => number) => {
    let d = `M0 ${svgNumber(top)}`;
    let next = 0;
    for (const b of bars) {
      if (b.bar > next) d += `V${svgNumber(top)}H${b.bar}`;
      d += `V${y(value(b))}H${b.bar + 1}`;
      next = b.bar + 1;
    }
    return d;
  };
  const time = (bar: number) => formatInTimeZone((firstMinute + bar * barMinutes) * 60_000, timeZone, 'MMM d HH:mm');
  const hover = bars
    .map(
      (b) =>
        `<rect class="hb" x="${b.bar}" width="1" height="${svgNumber(top)}"><title>${time(b.bar)}${barMinutes > 1 ? `–${time(b.bar + 1)}` : ''}: ` +
        `${formatRate(perMinute(b.results))} clips/min, ${formatRate(perMinute(b.granted))} requests/min</title></rect>`,
    )
    .join('');
  const total = bars.reduce((n, b) => n + b.results, 0);
  const busyMinutes = bars.length * barMinutes;
  return `${head}
<p class="note">Slot results recorded per minute (every outcome, as <code>status</code> counts clips/min; filled) and requests granted by the campaign's budget per minute (line), over the campaign's wall-clock time in ${escapeHtml(timeZone)}${
    barMinutes > 1 ? `, averaged over ${plural(barMinutes, 'minute')} a bar` : ''
  }: ${formatCount(total)} results, at most ${formatRate(peakOf((b) => b.results))} a minute and ${formatRate(total / busyMinutes)} on average while working; at most ${formatRate(peakOf((b) => b.granted))} requests a minute.</p>
<svg class="chart" viewBox="0 0 ${count} ${svgNumber(top)}" preserveAspectRatio="none"><path class="res" d="${step((b) => b.results)}V${svgNumber(top)}Z"/><path class="req" d="${step((b) => b.granted).replace(/^M0 [\d.]+V/, 'M0 ')}"/>${hover}</svg>
<div class="span"><span>${escapeHtml(time(0))}</span><span>${escapeHtml(time(count))}</span></div>`;
}

const formatRate = (n: number): string => (n >= 100 ? formatCount(n) : String(Math.round(n * 10) / 10));

// ---- storage

/** Pixels per bucket bar: wide for a few buckets, narrower for a month's dozens, at most about 1,000 px a vehicle. */
const BUCKET_PX = { max: 14, min: 3, row: 1000 } as const;

function storageSection({ buckets, bucketCapBytes, workspaceCapBytes }: HtmlReportInput): string {
  const used = buckets.reduce((n, b) => n + b.bytes, 0);
  const head = `<h2>Storage</h2>
<p class="note">Bytes counted in the workspace (clips not yet archived) against the workspace cap, and in each <code>&lt;vehicle&gt;/download&lt;N&gt;</code> bucket against the bucket cap.</p>
<p>workspace: ${formatGib(used)} of ${formatGib(workspaceCapBytes)} (${formatShare(used, workspaceCapBytes)})</p>
<div class="gauge"><div${used > workspaceCapBytes ? ' class="over"' : ''} style="width:${percent(Math.min(used, workspaceCapBytes), workspaceCapBytes)}"></div></div>`;
  if (buckets.length === 0) return `${head}<p class="note">No bucket holds a clip yet.</p>`;
  const byVehicle = new Map<string, BucketUsage[]>();
  for (const b of buckets) byVehicle.set(b.vehicle, [...(byVehicle.get(b.vehicle) ?? []), b]);
  const widest = Math.max(...buckets.map((b) => b.n));
  const px = Math.max(BUCKET_PX.min, Math.min(BUCKET_PX.max, Math.floor(BUCKET_PX.row / widest)));
  const rows = [...byVehicle.entries()].map(([vehicle, list]) => {
    const bars = list
      .map((b) => {
        const fill = Math.min(1, b.bytes / bucketCapBytes);
        const over = b.bytes > bucketCapBytes ? ' class="over"' : '';
        return `<rect${over} x="${svgNumber(b.n - 0.9)}" y="${svgNumber(1 - fill)}" width="0.8" height="${svgNumber(fill)}"><title>download${b.n}: ${formatGib(b.bytes)}, ${formatShare(b.bytes, bucketCapBytes)} of the ${formatGib(bucketCapBytes)} cap</title></rect>`;
      })
      .join('');
    const bytes = list.reduce((n, b) => n + b.bytes, 0);
    return (
      `<div class="row bkrow"><span class="l">${escapeHtml(vehicle)}</span>` +
      `<svg class="bk" style="width:${widest * px}px" viewBox="0 0 ${widest} 1" preserveAspectRatio="none"><rect class="cap" width="${widest}" height="1"/>${bars}</svg>` +
      `<span class="bkn">${plural(list.length, 'bucket')}, ${formatGib(bytes)}</span></div>`
    );
  });
  return `${head}
<p class="note">Buckets per vehicle, download1 on the left; a bar's height is its fill up to the cap (the grey frame), red when over it (a clip larger than the cap gets a bucket of its own).</p>
<div class="tl">${rows.join('\n')}</div>`;
}

const formatShare = (part: number, whole: number): string => `${whole > 0 ? ((100 * part) / whole).toFixed(1) : '0.0'} %`;

// ---- failed shards

function failedSection({ status, executor }: HtmlReportInput): string {
  const failed = status.failedShards;
  const manifest = shellWord(status.manifest);
  const head = `<h2>Failed shards (${formatCount(failed.length)})</h2>`;
  if (failed.length === 0) return `${head}<p class="note">No failed shard.</p>`;
  const all = executor === 'slurm' ? `fleetclip resubmit --manifest ${manifest}` : `fleetclip run --manifest ${manifest} --retry-failed`;
  const one = (s: FailedShard) =>
    `fleetclip resubmit --manifest ${manifest} --only ${shellWord(`vehicle=${s.vehicle},hour=${s.hourStartIso.replace(':00.000Z', 'Z')}`)}`;
  const rows = failed
    .slice(0, MAX_FAILED_ROWS)
    .map(
      (s) =>
        `<tr data-shard="${s.id}"><td>${s.id}</td><td class="t">${escapeHtml(s.vehicle)}</td><td class="t">${escapeHtml(s.localTime)}</td><td class="t">${escapeHtml(s.hourStartIso)}</td><td>${s.attempts}</td>` +
        `<td class="err">${escapeHtml(s.lastError ?? '')}</td>${executor === 'slurm' ? `<td class="t"><code>${escapeHtml(one(s))}</code></td>` : ''}</tr>`,
    );
  const more =
    failed.length > MAX_FAILED_ROWS
      ? `<p class="note">… and ${formatCount(failed.length - MAX_FAILED_ROWS)} more: <code>fleetclip status --manifest ${escapeHtml(manifest)} --failed</code> lists them all.</p>`
      : '';
  return `${head}
<p>Queue every failed shard again (their ok and no-data slots are kept): <code>${escapeHtml(all)}</code></p>
<table><tr><th>shard</th><th class="t">vehicle</th><th class="t">hour (${escapeHtml(status.timeZone)})</th><th class="t">hour (UTC)</th><th>attempts</th><th class="t">last error</th>${
    executor === 'slurm' ? '<th class="t">resubmit this shard alone</th>' : ''
  }</tr>
${rows.join('\n')}</table>${more}`;
}

// ---- per vehicle

function vehicleSection(status: StatusReport): string {
  const rows = (status.rows as VehicleRow[]).map(
    (r) =>
      `<tr><td class="t">${escapeHtml(r.vehicle)}</td><td>${formatCount(r.shards.done)} / ${formatCount(r.shards.total)}</td>` +
      `<td>${formatCount(r.clips.ok)}</td><td>${formatCount(r.clips.missing)}</td><td>${formatCount(r.clips.invalid)}</td><td>${formatCount(r.clips.failed)}</td>` +
      `<td>${formatCount(r.clips.remaining)}</td><td>${formatGib(r.bytes)}</td></tr>`,
  );
  return `<h2>Per vehicle</h2>
<table><tr><th class="t">vehicle</th><th>shards done</th>${COVERAGE_STATES.map((s) => `<th>${STATE_LABEL[s]}</th>`).join('')}<th>downloaded</th></tr>
${rows.join('\n')}</table>`;
}

// ---- time

/** `90 s`, `5 min`, `2 h`, `1 day`. */
function formatSpan(seconds: number): string {
  if (seconds < 60) return `${seconds} s`;
  if (seconds < 3600) return `${seconds / 60} min`;
  if (seconds < 86400) return `${seconds / 3600} h`;
  return plural(seconds / 86400, 'day');
}
