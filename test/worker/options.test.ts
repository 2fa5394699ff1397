import { describe, expect, test } from '@jest/globals';
import { EXIT, UsageError } from '../../src/errors.js';
import {
  WORKER_DEFAULTS,
  formatDurationMs,
  formatProgressLine,
  hasTimeForShard,
  judgeWorkerExit,
  normalizeWorkerOptions,
  parseDeadline,
  parseSqueueEndTime,
  typicalShardMs,
  workerIdFrom,
  workerNodeOptions,
} from '../../src/worker/index.js';

describe('worker options', () => {
  test('workers get a capped young generation; NODE_OPTIONS the user set come after it, so they win', () => {
    expect(workerNodeOptions(undefined)).toBe('--max-semi-space-size=2');
    expect(workerNodeOptions('')).toBe('--max-semi-space-size=2');
    expect(workerNodeOptions('--max-semi-space-size=16 --trace-gc')).toBe('--max-semi-space-size=2 --max-semi-space-size=16 --trace-gc');
  });

  test('defaults fill what was not given; the manifest path is made absolute', () => {
    const o = normalizeWorkerOptions({ manifestPath: 'run/m.sqlite', workerId: 'w1', leaseMs: undefined }, { env: {} });
    expect(o).toMatchObject({ ...WORKER_DEFAULTS, workerId: 'w1' });
    expect(o.manifestPath).toBe(`${process.cwd()}/run/m.sqlite`);
  });

  test.each([
    { env: { SLURM_ARRAY_JOB_ID: '52', SLURM_ARRAY_TASK_ID: '7' }, id: '52_7' },
    { env: { SLURM_ARRAY_JOB_ID: '52', SLURM_ARRAY_TASK_ID: '7', SLURM_RESTART_COUNT: '2' }, id: '52_7-r2' },
    { env: { SLURM_JOB_ID: '99' }, id: '99' },
    { env: {}, id: 'local-node1-1234' },
  ])('worker id from $env', ({ env, id }) => {
    expect(workerIdFrom(env, 'node1', 1234)).toBe(id);
  });

  test.each([
    [{ heartbeatMs: 90_000 }, 'the heartbeat (90000 ms) must be at most half the lease (120000 ms)'],
    [{ leaseMs: 0 }, 'leaseMs must be a positive number, got 0'],
    [{ maxConcurrent: 1.5 }, '--max-concurrent must be an integer >= 1, got 1.5'],
    [{ workerId: '../x' }, '--worker-id "../x": letters, digits, . _ - only'],
    [{ deadline: 'tomorrow' }, '--deadline "tomorrow": expected an ISO time (2026-06-15T18:00:00Z) or +DURATION (+90m)'],
  ])('%j is refused', (input, message) => {
    expect(() => normalizeWorkerOptions({ manifestPath: 'm', ...input }, { env: {} })).toThrow(new UsageError(message));
  });

  test('deadlines: ISO with a zone, or relative', () => {
    expect(parseDeadline('2026-06-15T18:00:00Z', 0)).toBe(Date.UTC(2026, 5, 15, 18));
    expect(parseDeadline('+90m', 1000)).toBe(1000 + 90 * 60_000);
    expect(parseDeadline('+2h', 0)).toBe(7_200_000);
  });
});

describe('time limit', () => {
  test.each([
    { text: '2026-06-15T18:00:00\n', ms: new Date(2026, 5, 15, 18).getTime() },
    { text: 'N/A', ms: undefined },
    { text: 'Unknown\n', ms: undefined },
    { text: '', ms: undefined },
  ])('squeue %e says $text', ({ text, ms }) => {
    expect(parseSqueueEndTime(text)).toBe(ms);
  });

  test('a shard typically takes the median of own shards, else the campaign rate per running shard', () => {
    expect(typicalShardMs({ ownShardMs: [300, 100, 200], recentSlots: 0, windowMs: 1, runningShards: 0, slotsPerShard: 240 })).toBe(200);
    // 480 slots in 60 s over 4 running shards = 2 slots/s per shard → 240 slots in 120 s
    expect(typicalShardMs({ ownShardMs: [], recentSlots: 480, windowMs: 60_000, runningShards: 4, slotsPerShard: 240 })).toBe(120_000);
    expect(typicalShardMs({ ownShardMs: [], recentSlots: 0, windowMs: 60_000, runningShards: 4, slotsPerShard: 240 })).toBeUndefined();
  });

  test('no claim when shard + margin would pass the deadline', () => {
    expect(hasTimeForShard(0, undefined, 10_000, 0)).toBe(true);
    expect(hasTimeForShard(0, 70_000, 10_000, 60_000)).toBe(true);
    expect(hasTimeForShard(0, 69_999, 10_000, 60_000)).toBe(false);
  });
});

describe('progress and supervision', () => {
  test('progress line and durations', () => {
    expect(formatProgressLine({ done: 240, total: 960, ok: 200, rate: 4 }, 8)).toBe('[##------] 240/960 slots (25%) 200 ok  4.0/s  ETA 3m00s');
    expect(formatProgressLine({ done: 1, total: 2, ok: 0, rate: 0, note: '2 worker(s)' }, 0)).toBe('1/2 slots (50%) 0 ok  0.0/s  ETA ?  2 worker(s)');
    expect([formatDurationMs(42_000), formatDurationMs(3_725_000), formatDurationMs(undefined)]).toEqual(['42s', '1h02m', '?']);
  });

  test.each([
    { code: null, signal: 'SIGKILL', replace: true, runCode: undefined },
    { code: 70, signal: null, replace: true, runCode: undefined },
    { code: 0, signal: null, replace: false, runCode: undefined },
    { code: EXIT.someFailed, signal: null, replace: false, runCode: EXIT.someFailed },
    { code: EXIT.storage, signal: null, replace: false, runCode: EXIT.storage },
    { code: EXIT.authExpired, signal: null, replace: false, runCode: EXIT.authExpired },
  ] as const)('a worker exiting $code / $signal is replaced: $replace', ({ code, signal, replace, runCode }) => {
    expect(judgeWorkerExit(code, signal)).toEqual({ replace, ...(runCode !== undefined ? { runCode } : {}) });
  });
});
