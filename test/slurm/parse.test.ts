import { readFileSync } from 'node:fs';
import { describe, expect, test } from '@jest/globals';
import {
  SlurmCommandError,
  isFinalState,
  parseArrayIndices,
  parseMaxArraySize,
  parseSacct,
  parseSbatchParsable,
  parseSqueue,
  slurmStateOf,
  type SlurmState,
  type TaskState,
} from '../../src/slurm/index.js';

/** Outputs recorded on the local cluster (scripts/slurm-up.sh, Slurm 22.05.8); see test/fixtures/slurm/README.md. */
const recorded = (name: string): string => readFileSync(new URL(`../fixtures/slurm/${name}`, import.meta.url), 'utf8');

/** `52_3:FAILED(3)`-style summaries keep the tables short. */
const brief = (tasks: TaskState[]): string[] =>
  tasks.map(
    (t) =>
      `${t.arrayJobId}${t.taskId === undefined ? '' : `_${t.taskId}`}=${t.jobId ?? '?'}:${t.state}` +
      (t.exitCode !== undefined ? `(${t.exitCode}:${t.signal})` : '') +
      (t.cancelledBy !== undefined ? ` by ${t.cancelledBy}` : '') +
      (t.reason !== undefined ? ` [${t.reason}]` : ''),
  );

describe('states', () => {
  test.each([
    { text: 'COMPLETED', state: 'COMPLETED' },
    { text: 'CANCELLED by 0', state: 'CANCELLED', cancelledBy: '0' },
    { text: 'CANCELLED+', state: 'CANCELLED' },
    { text: 'NODE_FAIL', state: 'NODE_FAIL' },
    { text: 'OUT_OF_MEMORY', state: 'OUT_OF_MEMORY' },
    { text: 'PREEMPTED', state: 'PREEMPTED' },
    { text: 'REQUEUE_HOLD', state: 'REQUEUED' },
    { text: 'CONFIGURING', state: 'RUNNING' },
    { text: 'OOM', state: 'OUT_OF_MEMORY' },
    { text: 'WHATEVER_NEW', state: 'UNKNOWN' },
  ])('$text', ({ text, state, cancelledBy }) => {
    expect(slurmStateOf(text)).toEqual(cancelledBy ? { state, cancelledBy } : { state });
  });

  test.each<{ state: SlurmState; final: boolean }>([
    { state: 'PENDING', final: false },
    { state: 'RUNNING', final: false },
    { state: 'SUSPENDED', final: false },
    { state: 'COMPLETING', final: false },
    { state: 'REQUEUED', final: false },
    { state: 'COMPLETED', final: true },
    { state: 'TIMEOUT', final: true },
    { state: 'OUT_OF_MEMORY', final: true },
    { state: 'UNKNOWN', final: true },
  ])('$state is final: $final', ({ state, final }) => {
    expect(isFinalState(state)).toBe(final);
  });
});

describe('sbatch --parsable', () => {
  test.each([
    { what: 'an id', stdout: '1234\n', id: '1234' },
    { what: 'an id and a cluster', stdout: '1234;savio\n', id: '1234' },
    { what: 'a line before the id', stdout: 'sbatch: warning: something\n77\n', id: '77' },
  ])('$what', ({ stdout, id }) => {
    expect(parseSbatchParsable(stdout)).toBe(id);
  });

  test.each(['', 'Submitted batch job 12', 'sbatch: error: x'])('"%s" is a SlurmCommandError saying what it got', (stdout) => {
    expect(() => parseSbatchParsable(stdout, ['sbatch', '--parsable', '/x/s.sh'])).toThrow(SlurmCommandError);
    try {
      parseSbatchParsable(stdout, ['sbatch', '--parsable', '/x/s.sh']);
    } catch (err) {
      expect(err).toMatchObject({ code: 'E_SLURM', exitCode: 8, argv: ['sbatch', '--parsable', '/x/s.sh'] });
      expect((err as Error).message).toContain(`got "${stdout.trim()}"`);
    }
  });
});

describe('array indices', () => {
  test.each([
    { text: '3', ids: [3] },
    { text: '2-5', ids: [2, 3, 4, 5] },
    { text: '[2-5]', ids: [2, 3, 4, 5] },
    { text: '[2-7,12-17%4]', ids: [2, 3, 4, 5, 6, 7, 12, 13, 14, 15, 16, 17] },
    { text: '2,4-5%1', ids: [2, 4, 5] },
    { text: '0-15:4', ids: [0, 4, 8, 12] },
    { text: 'N/A', ids: undefined },
    { text: '5-2', ids: undefined },
    { text: '', ids: undefined },
  ])('$text', ({ text, ids }) => {
    expect(parseArrayIndices(text)).toEqual(ids);
  });
});

describe('sacct -X --parsable2 --noheader --format=JobID,JobIDRaw,State,ExitCode', () => {
  test.each([
    {
      what: 'an array ending COMPLETED, FAILED by exit 3 and FAILED by SIGTERM (recorded)',
      text: recorded('sacct-array-exit-codes.txt'),
      want: [
        '1_0=2:COMPLETED(0:0)',
        '1_1=3:FAILED(3:0)',
        '1_2=4:COMPLETED(0:0)',
        '1_3=5:FAILED(0:15)',
        '1_4=6:COMPLETED(0:0)',
        '1_5=1:COMPLETED(0:0)',
      ],
    },
    {
      what: 'a running task cancelled, one running, the never-started rest pending in a range with a throttle (recorded)',
      text: '7_0|8|CANCELLED by 0|0:0\n7_1|9|RUNNING|0:0\n7_[2,4-5%1]|7|PENDING|0:0\n',
      want: ['7_0=8:CANCELLED(0:0) by 0', '7_1=9:RUNNING', '7_2=7:PENDING', '7_4=7:PENDING', '7_5=7:PENDING'],
    },
    {
      what: 'then the whole array cancelled: task 3, cancelled while pending mid-range, has no row (recorded)',
      text: '7_0|8|CANCELLED by 0|0:0\n7_1|9|CANCELLED by 0|0:0\n7_[2,4-5%1]|7|CANCELLED by 0|0:0\n',
      want: [
        '7_0=8:CANCELLED(0:0) by 0',
        '7_1=9:CANCELLED(0:0) by 0',
        '7_2=7:CANCELLED(0:0) by 0',
        '7_4=7:CANCELLED(0:0) by 0',
        '7_5=7:CANCELLED(0:0) by 0',
      ],
    },
    {
      what: 'the same after a slurmctld restart: "by 0" gone, signal 15 on the ones that ran, a held array cancelled (recorded)',
      text: recorded('sacct-cancelled-after-restart.txt'),
      want: [
        '7_0=8:CANCELLED(0:15)',
        '7_1=9:CANCELLED(0:15)',
        '7_2=7:CANCELLED(0:0)',
        '7_4=7:CANCELLED(0:0)',
        '7_5=7:CANCELLED(0:0)',
        '16_0=16:CANCELLED(0:0)',
        '16_1=16:CANCELLED(0:0)',
        '16_2=16:CANCELLED(0:0)',
        '16_3=16:CANCELLED(0:0)',
        '17_2=18:COMPLETED(0:0)',
        '17_3=19:COMPLETED(0:0)',
        '17_4=17:COMPLETED(0:0)',
      ],
    },
    {
      what: 'an array just submitted: the bare id, nothing started (recorded)',
      text: '10|10|PENDING|0:0\n',
      want: ['10=10:PENDING'],
    },
    {
      what: "a stale range: slurmdbd has not yet recorded task 2's start (recorded)",
      text: '17_[2-5%1]|17|PENDING|0:0\n',
      want: ['17_2=17:PENDING', '17_3=17:PENDING', '17_4=17:PENDING', '17_5=17:PENDING'],
    },
    {
      what: 'a stale range after tasks 2-4 ran: only 5 has no row of its own (slurm-local notes, gotcha 5)',
      text: '16_2|17|COMPLETED|0:0\n16_3|18|COMPLETED|0:0\n16_4|19|COMPLETED|0:0\n16_[2-5]|16|CANCELLED by 0|0:0\n',
      want: ['16_2=17:COMPLETED(0:0)', '16_3=18:COMPLETED(0:0)', '16_4=19:COMPLETED(0:0)', '16_5=16:CANCELLED(0:0) by 0'],
    },
    {
      what: 'the range of never-started tasks lost after a restart: a bare row (slurm-local notes, gotcha 5)',
      text: '48_0|49|COMPLETED|0:0\n48|48|CANCELLED|0:0\n',
      want: ['48=48:CANCELLED(0:0)', '48_0=49:COMPLETED(0:0)'],
    },
    {
      what: 'a node set DOWN under a plain job and an array, with -D: NODE_FAIL, then the requeued runs (recorded)',
      text: recorded('sacct-D-node-fail-requeued.txt'),
      want: ['25_0=27:RUNNING', '25_1=25:RUNNING', '26=26:CANCELLED(0:0) by 0'],
    },
    {
      what: 'the odd final states, one per row (format as recorded; states from the sacct man page)',
      text: '30_0|31|OUT_OF_MEMORY|0:125\n30_1|32|PREEMPTED|0:0\n30_2|33|TIMEOUT|0:15\n30_3|30|BOOT_FAIL|0:0\n35|35|DEADLINE|0:0\n',
      want: [
        '30_0=31:OUT_OF_MEMORY(0:125)',
        '30_1=32:PREEMPTED(0:0)',
        '30_2=33:TIMEOUT(0:15)',
        '30_3=30:BOOT_FAIL(0:0)',
        '35=35:DEADLINE(0:0)',
      ],
    },
    {
      what: 'steps, blank lines and a plain job that exited 4 (recorded)',
      text: '\n14|14|FAILED|4:0\n14.batch|14.batch|FAILED|4:0\n\n',
      want: ['14=14:FAILED(4:0)'],
    },
  ])('$what', ({ text, want }) => {
    expect(brief(parseSacct(text))).toEqual(want);
  });

  test('a NODE_FAIL row alone (recorded with -D, before the requeue)', () => {
    expect(parseSacct('25_0|27|NODE_FAIL|0:0\n')).toEqual([
      { arrayJobId: '25', taskId: 0, jobId: '27', state: 'NODE_FAIL', exitCode: 0, signal: 0 },
    ]);
  });
});

describe('squeue -h -r -t all', () => {
  test.each([
    {
      what: '-O with exit codes as raw wait status (recorded)',
      text: recorded('squeue-O-array-exit-codes.txt'),
      want: [
        '1_0=2:COMPLETED(0:0)',
        '1_1=3:FAILED(3:0)',
        '1_2=4:COMPLETED(0:0)',
        '1_3=5:FAILED(0:15)',
        '1_4=6:COMPLETED(0:0)',
        '1_5=1:COMPLETED(0:0)',
      ],
    },
    {
      what: '-O after cancelling: the never-started rest keeps the array id; the mid-range cancelled task 3 is gone (recorded)',
      text: recorded('squeue-O-cancelled.txt'),
      want: [
        '7_0=8:CANCELLED(0:15)',
        '7_1=9:CANCELLED(0:15)',
        '7_2=7:CANCELLED(0:0)',
        '7_4=7:CANCELLED(0:0)',
        '7_5=7:CANCELLED(0:0)',
        '16_0=16:CANCELLED(0:0)',
        '16_1=16:CANCELLED(0:0)',
        '16_2=16:CANCELLED(0:0)',
        '16_3=16:CANCELLED(0:0)',
      ],
    },
    {
      what: '-O pending and running, with reasons (recorded)',
      text: '7|7|1|PENDING|JobArrayTaskLimit|0|\n7|7|2|PENDING|JobArrayTaskLimit|0|\n8|7|0|RUNNING|None|0|\n26|26|N/A|PENDING|BeginTime|0|\n',
      want: ['7_0=8:RUNNING', '7_1=7:PENDING [JobArrayTaskLimit]', '7_2=7:PENDING [JobArrayTaskLimit]', '26=26:PENDING [BeginTime]'],
    },
    {
      what: "%i|%F|%K|%T|%r: the contract's letters, no exit codes (recorded)",
      text: recorded('squeue-o-array-exit-codes.txt'),
      want: ['1_0=?:COMPLETED', '1_1=?:FAILED', '1_2=?:COMPLETED', '1_3=?:FAILED', '1_4=?:COMPLETED', '1_5=?:COMPLETED'],
    },
    {
      what: '%i|%F|%K|%T|%r without -r: a range of tasks on one line is expanded (recorded)',
      text: recorded('squeue-o-cancelled-no-r.txt'),
      want: [
        '7_0=?:CANCELLED',
        '7_1=?:CANCELLED',
        '7_2=?:CANCELLED',
        '7_4=?:CANCELLED',
        '7_5=?:CANCELLED',
        '16_0=?:CANCELLED',
        '16_1=?:CANCELLED',
        '16_2=?:CANCELLED',
        '16_3=?:CANCELLED',
      ],
    },
    {
      what: 'a plain job that exited 4, and nothing else (recorded)',
      text: '14|14|N/A|FAILED|NonZeroExitCode|1024|\n\n',
      want: ['14=14:FAILED(4:0)'],
    },
  ])('$what', ({ text, want }) => {
    expect(brief(parseSqueue(text))).toEqual(want);
  });
});

describe('scontrol show config', () => {
  test('MaxArraySize (recorded)', () => {
    expect(parseMaxArraySize(recorded('scontrol-show-config.txt'))).toBe(1001);
  });
  test.each(['', 'MaxArraySizeX = 5', 'MaxJobCount = 10000'])('nothing usable in "%s"', (text) => {
    expect(parseMaxArraySize(text)).toBeUndefined();
  });
});
