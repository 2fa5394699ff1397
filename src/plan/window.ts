import { formatInTimeZone, fromZonedTime } from 'date-fns-tz';
import { UsageError } from '../errors.js';
import { addDays } from './days.js';
import { type HourRange, SHARD_SECONDS, SLOT_SECONDS } from './types.js';

/** An IANA time zone name that this Node's ICU knows; returned unchanged. */
export function validateTimeZone(timeZone: string): string {
  try {
    if (timeZone.trim() === '') throw new RangeError('empty');
    new Intl.DateTimeFormat('en-US', { timeZone });
    return timeZone;
  } catch {
    throw new UsageError(`--tz: unknown time zone '${timeZone}' (give an IANA name such as America/Los_Angeles or UTC)`);
  }
}

/** `8-18` → local hours 8 to 17 (18:00 excluded). */
export function parseHourRange(raw: string): HourRange {
  const m = /^(\d{1,2})-(\d{1,2})$/.exec(raw.trim());
  const range = m ? { from: Number(m[1]), to: Number(m[2]) } : undefined;
  if (!range || range.from >= range.to || range.to > 24)
    throw new UsageError(`--hours must be FROM-TO with 0 <= FROM < TO <= 24 (local hours, TO excluded), got '${raw}'`);
  return range;
}

/** The local calendar day (`YYYY-MM-DD`) at a UTC instant in epoch seconds. */
export function localDayAt(epochSeconds: number, timeZone: string): string {
  return formatInTimeZone(epochSeconds * 1000, timeZone, 'yyyy-MM-dd');
}

const QUARTER_HOUR_SECONDS = 900;

/**
 * `localDayAt` for many instants of one zone (a month of clips, 17 µs a call): one answer per quarter hour of UTC
 * whose first and last second fall on the same local day — every block, in zones whose offsets are whole quarter
 * hours, which is all of them since 1970 — and the exact call for the instants of any other block.
 */
export function localDaysOf(timeZone: string): (epochSeconds: number) => string {
  const dayOfBlock = new Map<number, string | null>();
  return (epochSeconds) => {
    const block = Math.floor(epochSeconds / QUARTER_HOUR_SECONDS);
    let day = dayOfBlock.get(block);
    if (day === undefined) {
      const first = localDayAt(block * QUARTER_HOUR_SECONDS, timeZone);
      day = first === localDayAt((block + 1) * QUARTER_HOUR_SECONDS - 1, timeZone) ? first : null;
      dayOfBlock.set(block, day);
    }
    return day ?? localDayAt(epochSeconds, timeZone);
  };
}

/** The local wall-clock hour (0–23) at a UTC instant in epoch seconds. */
export function localHourAt(epochSeconds: number, timeZone: string): number {
  return Number(formatInTimeZone(epochSeconds * 1000, timeZone, 'H'));
}

/**
 * The UTC starts (epoch seconds) of the local hours of `day` in `timeZone`: 23, 24 or 25 of them on DST days,
 * restricted to local wall-clock hours [from, to) when `hours` is given. Day boundaries are local midnights
 * (or the first instant after, where midnight does not exist). A day that is not a whole number of hours long
 * (a 30-minute DST shift, as on Lord Howe Island) or whose hours are off the 30 s UTC grid (pre-1970 local
 * mean time) is refused rather than planned with ragged shards.
 */
export function hourStartsOfDay(day: string, timeZone: string, hours?: HourRange): number[] {
  const start = fromZonedTime(`${day}T00:00:00`, timeZone).getTime() / 1000;
  const end = fromZonedTime(`${addDays(day, 1)}T00:00:00`, timeZone).getTime() / 1000;
  if ((end - start) % SHARD_SECONDS !== 0)
    throw new UsageError(`${day} in ${timeZone} is ${(end - start) / 3600} hours long: fleetclip plans whole hours only`);
  if (start % SLOT_SECONDS !== 0) throw new UsageError(`${day} in ${timeZone} starts off the 30 s UTC grid: pick another time zone or day`);
  const starts: number[] = [];
  for (let t = start; t < end; t += SHARD_SECONDS) {
    const hour = localHourAt(t, timeZone);
    if (!hours || (hour >= hours.from && hour < hours.to)) starts.push(t);
  }
  return starts;
}
