import { describe, expect, test } from '@jest/globals';
import { UsageError } from '../../src/errors.js';
import { arraySpec, splitArray } from '../../src/slurm/index.js';

describe('splitArray', () => {
  test.each([
    { tasks: 0, max: 1001, want: [] },
    { tasks: 1, max: 1001, want: [{ from: 0, to: 0 }] },
    { tasks: 32, max: 1001, want: [{ from: 0, to: 31 }] },
    { tasks: 1001, max: 1001, want: [{ from: 0, to: 1000 }] },
    {
      tasks: 1002,
      max: 1001,
      want: [
        { from: 0, to: 1000 },
        { from: 0, to: 0 },
      ],
    },
    {
      tasks: 2500,
      max: 1001,
      want: [
        { from: 0, to: 1000 },
        { from: 0, to: 1000 },
        { from: 0, to: 497 },
      ],
    },
    {
      tasks: 3,
      max: 1,
      want: [
        { from: 0, to: 0 },
        { from: 0, to: 0 },
        { from: 0, to: 0 },
      ],
    },
  ])('$tasks tasks with MaxArraySize $max', ({ tasks, max, want }) => {
    const ranges = splitArray(tasks, max);
    expect(ranges).toEqual(want);
    expect(ranges.reduce((n, r) => n + r.to - r.from + 1, 0)).toBe(tasks);
    for (const r of ranges) expect(r.to).toBeLessThanOrEqual(max - 1);
  });

  test.each([
    { tasks: -1, max: 1001, message: 'whole number >= 0' },
    { tasks: 2.5, max: 1001, message: 'whole number >= 0' },
    { tasks: 5, max: 0, message: 'takes no job arrays (MaxArraySize 0)' },
  ])('$tasks tasks with MaxArraySize $max: a UsageError', ({ tasks, max, message }) => {
    expect(() => splitArray(tasks, max)).toThrow(UsageError);
    expect(() => splitArray(tasks, max)).toThrow(message);
  });
});

describe('arraySpec', () => {
  test.each([
    { range: { from: 0, to: 9 }, maxRunning: undefined, spec: '0-9' },
    { range: { from: 0, to: 9 }, maxRunning: 4, spec: '0-9%4' },
    { range: { from: 0, to: 0 }, maxRunning: 1, spec: '0-0%1' },
    { range: { from: 3, to: 1000 }, maxRunning: 100, spec: '3-1000%100' },
  ])('$range.from-$range.to at most $maxRunning at once: $spec', ({ range, maxRunning, spec }) => {
    expect(arraySpec(range, maxRunning)).toBe(spec);
  });

  test.each([
    { range: { from: 5, to: 2 }, maxRunning: undefined },
    { range: { from: -1, to: 2 }, maxRunning: undefined },
    { range: { from: 0, to: 2 }, maxRunning: 0 },
    { range: { from: 0, to: 2 }, maxRunning: 1.5 },
  ])('$range.from-$range.to %$maxRunning: a UsageError', ({ range, maxRunning }) => {
    expect(() => arraySpec(range, maxRunning)).toThrow(UsageError);
  });
});
