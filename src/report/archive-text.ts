import type { ArchiveCounts, ArchiveFailure, ArchiveListing, ArchiveReport } from '../archive/index.js';
import { formatDuration } from '../duration.js';
import { formatCount, plural } from './format.js';
import { renderTable } from './table.js';

/** `1.23 GB`, `35.2 MB`, `812 kB`: decimal units, as `status` counts bytes. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(value < 10 ? 2 : 1)} ${units[unit]}`;
}

/** `[#####-----] 412/960 clips  1.03/2.50 GB (41%)  35.2 MB/s  ETA 41s`: the campaign's ok clips, the bytes copied per second. */
export function formatArchiveProgress(p: { counts: ArchiveCounts; bytesPerSec: number }, barWidth = 24): string {
  const { clips, bytes, clipsDone, bytesDone, pass } = p.counts;
  const fraction = bytes > 0 ? Math.min(1, bytesDone / bytes) : 1;
  const filled = Math.round(fraction * barWidth);
  const bar = barWidth > 0 ? `[${'#'.repeat(filled)}${'-'.repeat(barWidth - filled)}] ` : '';
  const eta = p.bytesPerSec > 0 ? (bytes - bytesDone) / p.bytesPerSec : bytes === bytesDone ? 0 : undefined;
  return (
    `${bar}${formatCount(clipsDone)}/${formatCount(clips)} clips  ${formatBytes(bytesDone)} of ${formatBytes(bytes)} ` +
    `(${Math.floor(fraction * 100)}%)  ${formatBytes(p.bytesPerSec)}/s  ETA ${formatDuration(eta)}${pass > 1 ? `  pass ${pass}` : ''}`
  );
}

export function formatArchiveFailure(f: ArchiveFailure): string {
  return `${f.vehicle} ${f.camera} ${new Date(f.start * 1000).toISOString().replace('.000Z', 'Z')} (${f.source}): ${f.reason}`;
}

/** What a run did, and what it left: the last lines of `fleetclip archive`. */
export function renderArchiveReport(r: ArchiveReport): string {
  const lines = [
    `archived ${plural(r.archived.clips, 'clip')} (${formatBytes(r.archived.bytes)}) to ${r.destination}, date folders in ${r.timeZone}` +
      (r.archived.clips > r.copied.clips ? `; ${formatCount(r.archived.clips - r.copied.clips)} of them were there already, verified` : ''),
  ];
  if (r.move) lines.push(`moved: ${formatBytes(r.freedBytes)} freed in the workspace`);
  if (r.failed > 0) {
    lines.push(`${plural(r.failed, 'clip')} not archived, the workspace copy left in place:`);
    lines.push(...r.failures.map((f) => `  ${formatArchiveFailure(f)}`));
    if (r.failed > r.failures.length) lines.push(`  … and ${formatCount(r.failed - r.failures.length)} more`);
  }
  if (r.stopped) lines.push('stopped by a signal: run the same command again to go on');
  return `${lines.join('\n')}\n`;
}

/** `--dry-run`: what would be archived, per date folder, vehicle and camera. */
export function renderArchiveListing(l: ArchiveListing): string {
  const what = `${l.move ? 'move' : 'copy'} ${plural(l.total.clips, 'clip')} (${formatBytes(l.total.bytes)})`;
  const head = `would ${what} to ${l.destination}, date folders in ${l.timeZone}`;
  if (l.folders.length === 0) return `${head}: nothing to archive\n`;
  const table = renderTable(
    [
      { header: 'day' },
      { header: 'vehicle' },
      { header: 'camera' },
      { header: 'clips', align: 'right' },
      { header: 'bytes', align: 'right' },
    ],
    l.folders.map((f) => [f.day, f.vehicle, f.camera, formatCount(f.clips), formatBytes(f.bytes)]),
    [['total', '', '', formatCount(l.total.clips), formatBytes(l.total.bytes)]],
  );
  return `${head}:\n${table}`;
}
