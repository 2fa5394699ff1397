import { describe, expect, test } from '@jest/globals';
import { UsageError } from '../../src/errors.js';
import { hourStartsOfDay, localDayAt, localDaysOf, localHourAt, parseHourRange, validateTimeZone } from '../../src/plan/index.js';

const LA = 'America/Los_Angeles';
const iso = (epochSeconds: number | undefined): string | undefined =>
  epochSeconds === undefined ? undefined : new Date(epochSeconds * 1000).toISOString();

describe('hourStartsOfDay', () => {
  test.each([
    { day: '2025-11-17', timeZone: 'UTC', hours: 24, first: '2025-11-17T00:00:00.000Z', last: '2025-11-17T23:00:00.000Z' },
    { day: '2025-06-15', timeZone: LA, hours: 24, first: '2025-06-15T07:00:00.000Z', last: '2025-06-16T06:00:00.000Z' },
    { day: '2024-03-10', timeZone: LA, hours: 23, first: '2024-03-10T08:00:00.000Z', last: '2024-03-11T06:00:00.000Z' },
    { day: '2024-11-03', timeZone: LA, hours: 25, first: '2024-11-03T07:00:00.000Z', last: '2024-11-04T07:00:00.000Z' },
    { day: '2025-11-17', timeZone: 'Asia/Kolkata', hours: 24, first: '2025-11-16T18:30:00.000Z', last: '2025-11-17T17:30:00.000Z' },
  ])('$day in $timeZone has $hours hours from $first to $last', ({ day, timeZone, hours, first, last }) => {
    const starts = hourStartsOfDay(day, timeZone);
    expect(starts).toHaveLength(hours);
    expect(iso(starts[0])).toBe(first);
    expect(iso(starts.at(-1))).toBe(last);
    // consecutive, one hour apart, every start on the 30 s UTC grid
    starts.forEach((t, i) => {
      expect(t % 30).toBe(0);
      if (i > 0) expect(t - (starts[i - 1] as number)).toBe(3600);
    });
  });

  test('the day ends where the next day begins: consecutive days tile the time line', () => {
    for (const [day, next] of [
      ['2024-03-09', '2024-03-10'],
      ['2024-03-10', '2024-03-11'],
      ['2024-11-03', '2024-11-04'],
    ] as const) {
      const a = hourStartsOfDay(day, LA);
      const b = hourStartsOfDay(next, LA);
      expect((b[0] as number) - (a.at(-1) as number)).toBe(3600);
    }
  });

  test.each([
    { day: '2025-11-17', timeZone: 'UTC', range: '8-18', count: 10, first: '2025-11-17T08:00:00.000Z' },
    { day: '2025-11-17', timeZone: LA, range: '8-18', count: 10, first: '2025-11-17T16:00:00.000Z' },
    { day: '2025-11-17', timeZone: LA, range: '0-24', count: 24, first: '2025-11-17T08:00:00.000Z' },
    // spring forward: local 02:00 does not exist, so 0-4 has the hours 0, 1, 3
    { day: '2024-03-10', timeZone: LA, range: '0-4', count: 3, first: '2024-03-10T08:00:00.000Z' },
    // fall back: local 01:00 happens twice, so 0-3 has the hours 0, 1, 1, 2
    { day: '2024-11-03', timeZone: LA, range: '0-3', count: 4, first: '2024-11-03T07:00:00.000Z' },
    { day: '2024-11-03', timeZone: LA, range: '8-18', count: 10, first: '2024-11-03T16:00:00.000Z' },
    { day: '2025-11-17', timeZone: 'Asia/Kolkata', range: '8-18', count: 10, first: '2025-11-17T02:30:00.000Z' },
  ])('--hours $range on $day in $timeZone gives $count shards from $first', ({ day, timeZone, range, count, first }) => {
    const starts = hourStartsOfDay(day, timeZone, parseHourRange(range));
    expect(starts).toHaveLength(count);
    expect(iso(starts[0])).toBe(first);
    const { from, to } = parseHourRange(range);
    for (const t of starts) expect(localHourAt(t, timeZone)).toBeGreaterThanOrEqual(from);
    for (const t of starts) expect(localHourAt(t, timeZone)).toBeLessThan(to);
  });

  test('a day that is not a whole number of hours long (Lord Howe, 30-minute DST shift) is refused', () => {
    expect(() => hourStartsOfDay('2024-04-07', 'Australia/Lord_Howe')).toThrow(
      new UsageError('2024-04-07 in Australia/Lord_Howe is 24.5 hours long: fleetclip plans whole hours only'),
    );
    expect(hourStartsOfDay('2024-04-08', 'Australia/Lord_Howe')).toHaveLength(24);
  });
});

describe('parseHourRange', () => {
  test('accepts FROM-TO', () => {
    expect(parseHourRange('8-18')).toEqual({ from: 8, to: 18 });
    expect(parseHourRange('0-24')).toEqual({ from: 0, to: 24 });
  });
  test.each(['18-8', '8-8', '0-25', '8', 'a-b', '-1-3', '8-18-20', ''])('refuses %p', (raw) => {
    expect(() => parseHourRange(raw)).toThrow(UsageError);
    expect(() => parseHourRange(raw)).toThrow(/^--hours must be FROM-TO/);
  });
});

describe('validateTimeZone', () => {
  test.each(['UTC', LA, 'Asia/Kolkata', 'Europe/Berlin'])('accepts %s', (tz) => {
    expect(validateTimeZone(tz)).toBe(tz);
  });
  test.each(['Mars/Olympus_Mons', '', 'PST8PDT+x', '+05:30'])('refuses %p', (tz) => {
    expect(() => validateTimeZone(tz)).toThrow(
      new UsageError(`--tz: unknown time zone '${tz}' (give an IANA name such as America/Los_Angeles or UTC)`),
    );
  });
});

describe('localDayAt and localDaysOf: the date folder of a clip', () => {
  const at = (iso: string): number => Date.parse(iso) / 1000;
  test.each([
    { instant: '2025-11-17T23:59:30Z', timeZone: LA, day: '2025-11-17' }, // 15:59:30 PST
    { instant: '2025-11-18T00:00:00Z', timeZone: LA, day: '2025-11-17' }, // 16:00 PST: a new UTC day, the same local one
    { instant: '2025-11-18T07:59:30Z', timeZone: LA, day: '2025-11-17' }, // 23:59:30 PST
    { instant: '2025-11-18T08:00:00Z', timeZone: LA, day: '2025-11-18' },
    { instant: '2025-11-02T08:30:00Z', timeZone: LA, day: '2025-11-02' }, // 01:30 PDT
    { instant: '2025-11-02T09:30:00Z', timeZone: LA, day: '2025-11-02' }, // 01:30 PST, an hour later
    { instant: '2025-11-03T07:59:30Z', timeZone: LA, day: '2025-11-02' }, // the last slot of the 25-hour day
    { instant: '2025-03-09T10:00:00Z', timeZone: LA, day: '2025-03-09' }, // 03:00 PDT, right after 01:59:59 PST
    { instant: '2025-03-10T06:59:30Z', timeZone: LA, day: '2025-03-09' }, // the last slot of the 23-hour day
    { instant: '2025-03-10T07:00:00Z', timeZone: LA, day: '2025-03-10' },
    { instant: '2025-11-18T07:59:30Z', timeZone: 'UTC', day: '2025-11-18' },
    { instant: '2025-11-17T18:29:30Z', timeZone: 'Asia/Kolkata', day: '2025-11-17' }, // 23:59:30 IST
    { instant: '2025-11-17T18:30:00Z', timeZone: 'Asia/Kolkata', day: '2025-11-18' },
  ])('$instant is on $day in $timeZone', ({ instant, timeZone, day }) => {
    expect(localDayAt(at(instant), timeZone)).toBe(day);
    expect(localDaysOf(timeZone)(at(instant))).toBe(day);
  });

  test.each([
    { timeZone: LA, days: ['2025-03-09', '2025-11-02'] }, // DST changes
    { timeZone: 'Asia/Kathmandu', days: ['2025-11-17'] }, // UTC+5:45: local midnight is on a quarter hour of UTC
    { timeZone: 'Australia/Lord_Howe', days: ['2025-04-05', '2025-10-04'] }, // DST changes by 30 minutes
  ])('localDaysOf agrees with localDayAt on every 30 s slot of the UTC days $days in $timeZone', ({ timeZone, days }) => {
    const dayOf = localDaysOf(timeZone);
    for (const day of days) {
      for (let t = at(`${day}T00:00:00Z`); t < at(`${day}T00:00:00Z`) + 86_400; t += 30)
        if (dayOf(t) !== localDayAt(t, timeZone)) throw new Error(`${t} in ${timeZone}`);
    }
  });
});
