import { UsageError } from './errors.js';

/**
 * The one way fleetclip writes a duration for people: the two largest units, `42s`, `4m05s`, `3h07m`, `2d04h`, `15m`
 * (a second unit of 0 is left out); `-` when unknown. Used by progress lines, status tables and the token report alike.
 */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '-';
  const s = Math.max(0, Math.round(seconds));
  const units: [number, string][] = [
    [Math.floor(s / 86_400), 'd'],
    [Math.floor((s % 86_400) / 3600), 'h'],
    [Math.floor((s % 3600) / 60), 'm'],
    [s % 60, 's'],
  ];
  const largest = units.findIndex(([n]) => n > 0);
  const first = largest === -1 ? units.length - 1 : largest; // 0 s is `0s`
  return units
    .slice(first, first + 2)
    .filter(([n], i) => i === 0 || n > 0)
    .map(([n, unit], i) => `${i === 0 ? n : String(n).padStart(2, '0')}${unit}`)
    .join('');
}

const DURATION_UNIT_SECONDS: Record<string, number> = { d: 86_400, h: 3600, m: 60, s: 1 };

/**
 * A duration a user types, in the same units `formatDuration` writes: `5d`, `36h`, `90m`, `4m05s`, `2d04h`, or a plain
 * number of seconds; each unit at most once, largest first. Returns whole seconds; `flag` names the flag in the error.
 */
export function parseDuration(flag: string, text: string): number {
  const t = text.trim();
  if (/^\d+$/.test(t)) return Number(t);
  const m = /^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(t);
  if (!m || t === '')
    throw new UsageError(`--${flag} must be a duration such as 5d, 36h, 90m, 4m05s or a number of seconds, got '${text}'`);
  return ['d', 'h', 'm', 's'].reduce((sum, unit, i) => sum + Number(m[i + 1] ?? 0) * DURATION_UNIT_SECONDS[unit]!, 0);
}
