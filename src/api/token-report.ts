import { format } from 'date-fns';
import type { TokenReport } from './token.js';

/** `3 h 12 min`, `4 min 05 s`, `2 d 6 h`: the two largest units. */
export function formatDurationSec(totalSec: number): string {
  const s = Math.max(0, Math.floor(totalSec));
  const units: [number, string][] = [
    [Math.floor(s / 86_400), 'd'],
    [Math.floor((s % 86_400) / 3600), 'h'],
    [Math.floor((s % 3600) / 60), 'min'],
    [s % 60, 's'],
  ];
  const first = units.findIndex(([n]) => n > 0);
  if (first === -1) return '0 s';
  return units
    .slice(first, first + 2)
    .filter(([n], i) => i === 0 || n > 0)
    .map(([n, unit]) => `${n} ${unit}`)
    .join(' ');
}

/** The lines `fleetclip token` prints (local time in the machine's zone). */
export function renderTokenReport(report: TokenReport): string {
  const source = report.kind === 'file' ? `token file: ${report.where}` : `token from: $${report.where}`;
  if (report.expiresAtSec === undefined || report.remainingSec === undefined)
    return `${source}\nexpires:    unknown (not a JWT with an exp claim)\n`;
  const at = new Date(report.expiresAtSec * 1000);
  const left = report.expired
    ? `EXPIRED ${formatDurationSec(-report.remainingSec)} ago: put a new token in ${report.where}`
    : formatDurationSec(report.remainingSec);
  return (
    `${source}\n` +
    `expires:    ${at.toISOString().replace('.000Z', 'Z')} (UTC)\n` +
    `            ${format(at, 'yyyy-MM-dd HH:mm:ss xxx')} (local)\n` +
    `left:       ${left}\n`
  );
}
