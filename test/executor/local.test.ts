import { describe, expect, test } from '@jest/globals';
import { EXIT } from '../../src/errors.js';
import { judgeWorkerExit, workerEnvironment, workerNodeOptions } from '../../src/executor/index.js';

describe('the local executor', () => {
  test('workers get a capped young generation; NODE_OPTIONS the user set come after it, so they win', () => {
    expect(workerNodeOptions(undefined)).toBe('--max-semi-space-size=2');
    expect(workerNodeOptions('')).toBe('--max-semi-space-size=2');
    expect(workerNodeOptions('--max-semi-space-size=16 --trace-gc')).toBe('--max-semi-space-size=2 --max-semi-space-size=16 --trace-gc');
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

describe('a worker environment', () => {
  const noSlurm = { jobEndTime: async () => undefined };

  test('outside Slurm: local-<host>-<pid>, no deadline; --worker-id names it', async () => {
    const env = await workerEnvironment({ env: {}, slurm: noSlurm });
    expect(env.identity.workerId).toMatch(new RegExp(`^local-.+-${process.pid}$`));
    expect(env.deadlineMs).toBeUndefined();
    expect((await workerEnvironment({ env: {}, workerId: 'w1', slurm: noSlurm })).identity.workerId).toBe('w1');
  });

  test('in a Slurm array task: <array>_<task>, the job and task recorded, the deadline asked of the scheduler for this task', async () => {
    const asked: string[] = [];
    const slurm = { jobEndTime: async (jobId: string) => (asked.push(jobId), 1_800_000_000_000) };
    const env = await workerEnvironment({ env: { SLURM_JOB_ID: '61', SLURM_ARRAY_JOB_ID: '52', SLURM_ARRAY_TASK_ID: '7' }, slurm });
    expect(env).toMatchObject({ identity: { workerId: '52_7', slurmJobId: '52', slurmArrayTaskId: '7' }, deadlineMs: 1_800_000_000_000 });
    expect(asked).toEqual(['61']);
  });
});
