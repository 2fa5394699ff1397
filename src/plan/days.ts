import { UsageError } from '../errors.js';

/** The longest window one `plan` accepts, in days: a guard against a typo planning years of clips. */
export const MAX_DAYS = 366;

const DAY_PATTERN = /^(\d{4})-(\d{2})-(\d{2})$/;

/** `YYYY-MM-DD`, a real calendar date; `flag` names the flag in the error. */
export function parseDay(flag: string, raw: string): string {
  const m = DAY_PATTERN.exec(raw);
  if (m && new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]))).toISOString().slice(0, 10) === raw) return raw;
  throw new UsageError(`--${flag} must be a date YYYY-MM-DD, got '${raw}'`);
}

/** Calendar arithmetic on the date string itself: independent of any time zone. */
export function addDays(day: string, count: number): string {
  const [y, m, d] = day.split('-').map(Number) as [number, number, number];
  return new Date(Date.UTC(y, m - 1, d + count)).toISOString().slice(0, 10);
}

export interface DayWindowInput {
  day: string;
  /** number of days from `day` (default 1) */
  days?: number;
  /** last day, inclusive; excludes `days` */
  to?: string;
}

/** The calendar days of the window, in order: `day`, and either `days` in all or every day up to `to` inclusive. */
export function daysOfWindow({ day, days, to }: DayWindowInput): string[] {
  if (days !== undefined && to !== undefined) throw new UsageError('--days and --to exclude each other: give one');
  let count = days ?? 1;
  if (to !== undefined) {
    if (to < day) throw new UsageError(`--to ${to} is before --day ${day}`);
    count = Math.round((Date.parse(`${to}T00:00:00Z`) - Date.parse(`${day}T00:00:00Z`)) / 86_400_000) + 1;
  }
  if (!Number.isInteger(count) || count < 1 || count > MAX_DAYS)
    throw new UsageError(`the window must be 1 to ${MAX_DAYS} days long, got ${count}`);
  return Array.from({ length: count }, (_, i) => addDays(day, i));
}
