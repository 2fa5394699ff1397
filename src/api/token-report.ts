import { format } from 'date-fns';
import { formatDuration } from '../duration.js';
import type { TokenReport } from './token.js';

/** The lines `fleetclip token` prints (local time in the machine's zone). */
export function renderTokenReport(report: TokenReport): string {
  const source = report.kind === 'file' ? `token file: ${report.where}` : `token from: $${report.where}`;
  if (report.expiresAtSec === undefined || report.remainingSec === undefined)
    return `${source}\nexpires:    unknown (not a JWT with an exp claim)\n`;
  const at = new Date(report.expiresAtSec * 1000);
  const left = report.expired
    ? `EXPIRED ${formatDuration(-report.remainingSec)} ago: put a new token in ${report.where}`
    : formatDuration(report.remainingSec);
  return (
    `${source}\n` +
    `expires:    ${at.toISOString().replace('.000Z', 'Z')} (UTC)\n` +
    `            ${format(at, 'yyyy-MM-dd HH:mm:ss xxx')} (local)\n` +
    `left:       ${left}\n`
  );
}
