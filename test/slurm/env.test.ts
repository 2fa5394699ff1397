import { describe, expect, test } from '@jest/globals';
import { parseSqueueEndTime, slurmTaskOf, workerIdOf } from '../../src/slurm/index.js';

describe('the Slurm environment of a task', () => {
  test.each([
    { env: { SLURM_JOB_ID: '60', SLURM_ARRAY_JOB_ID: '52', SLURM_ARRAY_TASK_ID: '7' }, id: '52_7' },
    { env: { SLURM_JOB_ID: '60', SLURM_ARRAY_JOB_ID: '52', SLURM_ARRAY_TASK_ID: '7', SLURM_RESTART_COUNT: '2' }, id: '52_7-r2' },
    { env: { SLURM_JOB_ID: '99' }, id: '99' },
    { env: { SLURM_JOB_ID: '99', SLURM_RESTART_COUNT: 'x' }, id: '99' },
  ])('worker id from $env', ({ env, id }) => {
    expect(workerIdOf(slurmTaskOf(env)!)).toBe(id);
  });

  test('no SLURM_JOB_ID: not under Slurm', () => {
    expect(slurmTaskOf({ SLURM_ARRAY_TASK_ID: '3' })).toBeUndefined();
  });

  test.each([
    { text: '2026-06-15T18:00:00\n', ms: new Date(2026, 5, 15, 18).getTime() },
    { text: 'N/A', ms: undefined },
    { text: 'Unknown\n', ms: undefined },
    { text: '', ms: undefined },
  ])('squeue %e says $text', ({ text, ms }) => {
    expect(parseSqueueEndTime(text)).toBe(ms);
  });
});
