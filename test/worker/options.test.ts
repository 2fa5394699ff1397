import { describe, expect, test } from '@jest/globals';
import { UsageError } from '../../src/errors.js';
import {
  WORKER_DEFAULTS,
  formatProgressLine,
  hasTimeForShard,
  normalizeWorkerOptions,
  parseDeadline,
  typicalShardMs,
} from '../../src/worker/index.js';

describe('worker options', () => {
  test('defaults fill what was not given; the manifest path is made absolute; the identity defaults to local-<host>-<pid>', () => {
    const o = normalizeWorkerOptions({ manifestPath: 'run/m.sqlite', leaseMs: undefined });
    expect(o).toMatchObject(WORKER_DEFAULTS);
    expect(o.identity).toMatchObject({ workerId: expect.stringMatching(new RegExp(`^local-.+-${process.pid}$`)), pid: process.pid });
    expect(o.manifestPath).toBe(`${process.cwd()}/run/m.sqlite`);
  });

  test.each([
    [{ heartbeatMs: 90_000 }, 'the heartbeat (90000 ms) must be at most half the lease (120000 ms)'],
    [{ leaseMs: 0 }, 'leaseMs must be a positive number, got 0'],
    [{ maxConcurrent: 1.5 }, '--max-concurrent must be an integer >= 1, got 1.5'],
    [{ identity: { workerId: '../x', host: 'h', pid: 1 } }, '--worker-id "../x": letters, digits, . _ - only'],
    [{ deadline: 'tomorrow' }, '--deadline "tomorrow": expected an ISO time (2026-06-15T18:00:00Z) or +DURATION (+90m)'],
  ])('%j is refused', (input, message) => {
    expect(() => normalizeWorkerOptions({ manifestPath: 'm', ...input })).toThrow(new UsageError(message));
  });

  test('deadlines: ISO with a zone, or relative; --deadline wins over what the executor knows', () => {
    expect(parseDeadline('2026-06-15T18:00:00Z', 0)).toBe(Date.UTC(2026, 5, 15, 18));
    expect(parseDeadline('+90m', 1000)).toBe(1000 + 90 * 60_000);
    expect(parseDeadline('+2h', 0)).toBe(7_200_000);
    expect(normalizeWorkerOptions({ manifestPath: 'm', deadlineMs: 5, deadline: '+1s' }, { nowMs: 0 }).deadlineMs).toBe(1000);
    expect(normalizeWorkerOptions({ manifestPath: 'm', deadlineMs: 5 }).deadlineMs).toBe(5);
  });
});

describe('time limit', () => {
  test('a shard typically takes the median of own shards, else the campaign rate per running shard', () => {
    expect(typicalShardMs({ ownShardMs: [300, 100, 200], recentSlots: 0, windowMs: 1, runningShards: 0, slotsPerShard: 240 })).toBe(200);
    // 1,440 slots in 180 s over 4 running shards = 2 slots/s per shard → 240 slots in 120 s
    expect(typicalShardMs({ ownShardMs: [], recentSlots: 1_440, windowMs: 180_000, runningShards: 4, slotsPerShard: 240 })).toBe(120_000);
    expect(typicalShardMs({ ownShardMs: [], recentSlots: 0, windowMs: 180_000, runningShards: 4, slotsPerShard: 240 })).toBeUndefined();
    // a campaign 20 s old: too little to judge by (divided by the whole window it once said 49,846 s for a 60 s shard)
    expect(typicalShardMs({ ownShardMs: [], recentSlots: 160, windowMs: 20_000, runningShards: 64, slotsPerShard: 120 })).toBeUndefined();
  });

  test('no claim when shard + margin would pass the deadline', () => {
    expect(hasTimeForShard(0, undefined, 10_000, 0)).toBe(true);
    expect(hasTimeForShard(0, 70_000, 10_000, 60_000)).toBe(true);
    expect(hasTimeForShard(0, 69_999, 10_000, 60_000)).toBe(false);
  });
});

describe('progress', () => {
  test('progress line', () => {
    expect(formatProgressLine({ done: 240, total: 960, ok: 200, rate: 4 }, 8)).toBe('[##------] 240/960 slots (25%) 200 ok  4.0/s  ETA 3m');
    expect(formatProgressLine({ done: 1, total: 2, ok: 0, rate: 0, note: '2 worker(s)' }, 0)).toBe(
      '1/2 slots (50%) 0 ok  0.0/s  ETA -  2 worker(s)',
    );
  });
});
