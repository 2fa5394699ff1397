import { describe, expect, test } from '@jest/globals';
import { UsageError } from '../../src/errors.js';
import { MAX_DAYS, addDays, daysOfWindow, parseDay } from '../../src/plan/index.js';

describe('parseDay', () => {
  test('accepts a real date', () => {
    expect(parseDay('day', '2024-02-29')).toBe('2024-02-29');
  });
  test.each(['2025-02-29', '2025-13-01', '2025-1-5', '17.11.2025', '2025-11-17T00:00', ''])('refuses %p', (raw) => {
    expect(() => parseDay('day', raw)).toThrow(new UsageError(`--day must be a date YYYY-MM-DD, got '${raw}'`));
  });
});

describe('addDays', () => {
  test.each([
    { day: '2025-11-17', n: 1, next: '2025-11-18' },
    { day: '2024-02-28', n: 1, next: '2024-02-29' },
    { day: '2025-12-31', n: 1, next: '2026-01-01' },
    { day: '2024-03-10', n: 1, next: '2024-03-11' },
    { day: '2025-03-01', n: -1, next: '2025-02-28' },
  ])('$day + $n = $next', ({ day, n, next }) => {
    expect(addDays(day, n)).toBe(next);
  });
});

describe('daysOfWindow', () => {
  test('one day by default', () => {
    expect(daysOfWindow({ day: '2025-11-17' })).toEqual(['2025-11-17']);
  });
  test('--days counts from --day', () => {
    expect(daysOfWindow({ day: '2025-11-30', days: 3 })).toEqual(['2025-11-30', '2025-12-01', '2025-12-02']);
  });
  test('--to is inclusive', () => {
    expect(daysOfWindow({ day: '2025-11-17', to: '2025-11-20' })).toEqual(['2025-11-17', '2025-11-18', '2025-11-19', '2025-11-20']);
    expect(daysOfWindow({ day: '2025-11-17', to: '2025-11-17' })).toEqual(['2025-11-17']);
  });
  test('--to across a DST change still counts calendar days', () => {
    expect(daysOfWindow({ day: '2024-11-02', to: '2024-11-04' })).toHaveLength(3);
  });
  test('refusals', () => {
    expect(() => daysOfWindow({ day: '2025-11-17', to: '2025-11-16' })).toThrow(
      new UsageError('--to 2025-11-16 is before --day 2025-11-17'),
    );
    expect(() => daysOfWindow({ day: '2025-11-17', days: 2, to: '2025-11-18' })).toThrow(/exclude each other/);
    expect(() => daysOfWindow({ day: '2024-01-01', days: MAX_DAYS + 1 })).toThrow(
      `the window must be 1 to ${MAX_DAYS} days long, got ${MAX_DAYS + 1}`,
    );
    expect(daysOfWindow({ day: '2024-01-01', days: MAX_DAYS })).toHaveLength(MAX_DAYS);
  });
});
