import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { execa } from 'execa';
import { SlurmCommandError } from '../../src/errors.js';
import { arraySpec, execaSlurmClient, loadProfile, renderArrayScript, type ArrayScript, type TaskState } from '../../src/slurm/index.js';
import { allFinal, describeWithSlurm, recordOf, taskOf, until, workspace, type Workspace } from './helpers.js';

/**
 * execaSlurmClient against the real one-node cluster of scripts/slurm-up.sh (scripts/test.sh brings it up and sets
 * FLEETCLIP_SLURM=1). Jobs run a stand-in for fleetclip (helpers.ts) through scripts rendered by renderArrayScript.
 * The time-limit job (~60-90 s: Slurm checks limits every 30 s) is submitted first and checked last, so the other
 * tests run meanwhile; the accounting flip restarts slurmctld and so comes after it.
 */
describeWithSlurm('execaSlurmClient on the local cluster', () => {
  const slurm = execaSlurmClient();
  let ws: Workspace;
  let timeoutJob: string;

  async function submit(name: string, part: Partial<ArrayScript>): Promise<string> {
    const script: ArrayScript = {
      profile: loadProfile('local'),
      jobName: `fc-test ${name}`,
      manifestPath: ws.manifestPath,
      logsDir: ws.logsDir,
      array: '0-0',
      fleetclip: ws.fleetclip,
      workerArgs: [],
      nodeOptions: '--max-semi-space-size=2',
      ...part,
    };
    const file = path.join(ws.dir, `${name}.sh`);
    await writeFile(file, renderArrayScript(script));
    return slurm.submit(file);
  }

  beforeAll(async () => {
    ws = await workspace();
    await mkdir(ws.logsDir); // sbatch does not create the folder of --output
    // both reach their time limit in parallel: one exits 10 on USR1 (what `fleetclip work` does; its task 1 exits 0
    // at once), the other keeps going until the limit's SIGTERM
    const usr1 = { timeLimit: '1', profile: loadProfile('local', { signalGraceSeconds: 50 }) };
    const stops = await submit('usr1-stops', {
      ...usr1,
      array: '0-1',
      workerArgs: ['--sleep', '300', '--exit-on-usr1', '10', '--only-task', '0'],
    });
    const keeps = await submit('usr1-keeps', { ...usr1, array: '0-0', workerArgs: ['--sleep', '300'] });
    timeoutJob = `${stops},${keeps}`;
  });

  afterAll(async () => {
    if (ws) await rm(ws.dir, { recursive: true, force: true });
  });

  test('an array ends COMPLETED and FAILED with each task’s exit code; the worker ran exec’d, quoted paths intact', async () => {
    const before = slurm.calls;
    const id = await submit('exits', { array: arraySpec({ from: 0, to: 3 }), workerArgs: ['--exit-codes', '0,3,0,7'] });
    expect(id).toMatch(/^\d+$/);
    const { source, tasks } = await until(() => slurm.taskStates([id]), allFinal(4), 60_000);
    expect(source).toBe(process.env.SLURM_LOCAL_ACCOUNTING === 'none' ? 'squeue' : 'sacct');
    expect(tasks.map(({ taskId, state, exitCode }) => ({ taskId, state, exitCode }))).toEqual([
      { taskId: 0, state: 'COMPLETED', exitCode: 0 },
      { taskId: 1, state: 'FAILED', exitCode: 3 },
      { taskId: 2, state: 'COMPLETED', exitCode: 0 },
      { taskId: 3, state: 'FAILED', exitCode: 7 },
    ]);
    for (const t of tasks) expect(t).toMatchObject({ arrayJobId: id, jobId: expect.stringMatching(/^\d+$/), signal: 0 });
    const [start] = await recordOf(ws, id, 1);
    // exec: the stand-in is the batch step's process itself, its parent slurmstepd (not bash)
    expect(start).toMatchObject({
      event: 'start',
      parent: 'slurmstepd',
      argv: ['work', '--manifest', ws.manifestPath, '--exit-codes', '0,3,0,7'],
    });
    expect(start?.nodeOptions).toBe('--max-semi-space-size=2');
    expect(slurm.calls).toBeGreaterThan(before);
  }, 90_000);

  test('cancel: a running task ends CANCELLED, a pending one never starts; then the whole array', async () => {
    const id = await submit('cancel', { array: arraySpec({ from: 0, to: 3 }, 1), workerArgs: ['--sleep', '300'] });
    await until(
      () => slurm.taskStates([id]),
      (r) => taskOf(r.tasks, 0)?.state === 'RUNNING',
      30_000,
      500,
    );
    const calls = slurm.calls;
    await slurm.cancel([`${id}_0`, `${id}_2`]);
    expect(slurm.calls).toBe(calls + 1); // one scancel for both
    await until(
      () => slurm.taskStates([id]),
      (r) => taskOf(r.tasks, 1)?.state === 'RUNNING',
      30_000,
      500,
    );
    await slurm.cancel([id]);
    const { tasks } = await until(
      () => slurm.taskStates([id]),
      (r) => allFinal(3)(r) && taskOf(r.tasks, 3) !== undefined,
      30_000,
    );
    const summary = (t?: TaskState) => t && { state: t.state, jobId: t.jobId };
    expect(summary(taskOf(tasks, 0))).toEqual({ state: 'CANCELLED', jobId: expect.not.stringMatching(`^${id}$`) });
    expect(taskOf(tasks, 1)?.state).toBe('CANCELLED');
    // 2 was cancelled while pending mid-range: no trace at all (slurm-local notes, gotcha 5)
    expect(taskOf(tasks, 2)).toBeUndefined();
    // 3 never started: the array's own record, whose id is the array's
    expect(summary(taskOf(tasks, 3))).toEqual({ state: 'CANCELLED', jobId: id });
    expect(await recordOf(ws, id, 2)).toEqual([]);
    expect(await recordOf(ws, id, 3)).toEqual([]);
  }, 90_000);

  test('a refused partition is a SlurmCommandError carrying sbatch’s stderr', async () => {
    const error = await submit('refused', { profile: loadProfile('local', { partition: 'no_such' }) }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SlurmCommandError);
    expect(error).toMatchObject({ code: 'E_SLURM', exitCode: 8, argv: ['sbatch', '--parsable', expect.stringMatching(/refused\.sh$/)] });
    expect((error as SlurmCommandError).stderr).toContain('sbatch: error: invalid partition specified: no_such');
    expect((error as Error).message).toBe('sbatch failed: sbatch: error: invalid partition specified: no_such');
  });

  test('maxArraySize is what the cluster says, and one index more is refused', async () => {
    const max = await slurm.maxArraySize();
    expect(max).toBe(Number(process.env.SLURM_LOCAL_MAX_ARRAY_SIZE ?? 1001));
    const error = await submit('too-big', { array: arraySpec({ from: 0, to: max }) }).catch((e: unknown) => e);
    expect((error as SlurmCommandError).stderr).toContain('Invalid job array specification');
  });

  test('ids the scheduler does not know give no tasks, and nothing for no ids', async () => {
    expect((await slurm.taskStates(['99999999'])).tasks).toEqual([]);
    const calls = slurm.calls;
    expect(await slurm.taskStates([])).toEqual({ source: 'sacct', tasks: [] });
    await slurm.cancel([]);
    expect(slurm.calls).toBe(calls);
  });

  test('jobEndTime of a running task is its start plus the time limit', async () => {
    // its own job: the time-limit jobs above run for only ~10-40 s before USR1 ends them, too short a window to catch
    const id = await submit('end-time', { timeLimit: '3', workerArgs: ['--sleep', '300'] });
    try {
      await until(
        () => slurm.taskStates([id]),
        (r) => taskOf(r.tasks, 0)?.state === 'RUNNING',
        80_000, // the scheduler starts it at its next pass, later on a busy machine
        500,
      );
      const end = await slurm.jobEndTime(`${id}_0`);
      // seen RUNNING within a poll of its start: about three minutes left
      expect(end).toBeGreaterThan(Date.now() + 150_000);
      expect(end).toBeLessThanOrEqual(Date.now() + 181_000);
    } finally {
      await slurm.cancel([id]);
    }
  }, 90_000);

  test('--signal=B:USR1@50 reaches the exec’d process before the time limit', async () => {
    const [exits, keeps] = timeoutJob.split(',') as [string, string];
    const { tasks } = await until(() => slurm.taskStates([exits, keeps]), allFinal(3), 150_000, 2000);
    // a worker that stops on USR1 with exit 10 ends FAILED (10), before its limit: not TIMEOUT
    expect(tasks.find((t) => t.arrayJobId === exits && t.taskId === 0)).toMatchObject({ state: 'FAILED', exitCode: 10 });
    expect(tasks.find((t) => t.arrayJobId === exits && t.taskId === 1)).toMatchObject({ state: 'COMPLETED', exitCode: 0 });
    // one that keeps going gets USR1, then SIGTERM at the limit, and ends TIMEOUT
    expect(tasks.find((t) => t.arrayJobId === keeps)).toMatchObject({ state: 'TIMEOUT' });
    const stopped = await recordOf(ws, exits, 0);
    expect(stopped.map((r) => r.event)).toEqual(['start', 'USR1']);
    expect(stopped[0]?.parent).toBe('slurmstepd');
    const kept = await recordOf(ws, keeps, 0);
    expect(kept.map((r) => r.event)).toEqual(['start', 'USR1', 'TERM']);
    expect(kept[1]!.ms).toBeLessThan(kept[2]!.ms);
  }, 170_000);

  test('taskStates goes through squeue while slurmdbd is down', async () => {
    if (process.env.SLURM_LOCAL_ACCOUNTING === 'none') return; // nothing to stop
    const id = await submit('dbd-down', { array: '0-1', workerArgs: ['--exit-codes', '0,6'] });
    const { tasks } = await until(() => slurm.taskStates([id]), allFinal(2), 60_000);
    const env = await readFile('/run/slurm-local.env', 'utf8');
    const pid = Number(/^slurmdbd=(\d+)$/m.exec(env)?.[1]);
    expect(pid).toBeGreaterThan(1);
    process.kill(pid, 'SIGTERM');
    try {
      await until(
        () => execa('sacct', ['-n', '-X', '-j', id], { reject: false }),
        (r) => /Problem talking to the database/.test(r.stderr),
        20_000,
        200,
      );
      const viaSqueue = await slurm.taskStates([id]);
      expect(viaSqueue.source).toBe('squeue');
      expect(viaSqueue.tasks.map((t) => [t.taskId, t.state, t.exitCode])).toEqual(tasks.map((t) => [t.taskId, t.state, t.exitCode]));
    } finally {
      await execa('bash', ['scripts/slurm-up.sh'], { env: { SLURM_LOCAL_FRESH: '0' }, timeout: 120_000 });
    }
    expect((await slurm.taskStates([id])).source).toBe('sacct');
  }, 90_000);

  test('taskStates reads sacct with accounting and squeue without (flips the cluster with scripts/slurm-up.sh)', async () => {
    const mode = process.env.SLURM_LOCAL_ACCOUNTING === 'none' ? 'none' : 'slurmdbd';
    const other = mode === 'none' ? 'slurmdbd' : 'none';
    const sourceOf = (m: string) => (m === 'none' ? 'squeue' : 'sacct');
    const expected = [
      { taskId: 0, state: 'COMPLETED', exitCode: 0 },
      { taskId: 1, state: 'FAILED', exitCode: 5 },
      { taskId: 2, state: 'COMPLETED', exitCode: 0 },
    ];
    const check = async (id: string, source: string) => {
      const { source: got, tasks } = await slurm.taskStates([id]);
      expect({ source: got, tasks: tasks.map(({ taskId, state, exitCode }) => ({ taskId, state, exitCode })) }).toEqual({
        source,
        tasks: expected,
      });
    };
    const runJob = async (name: string) => {
      const id = await submit(name, { array: '0-2', workerArgs: ['--exit-codes', '0,5,0'] });
      await until(() => slurm.taskStates([id]), allFinal(3), 60_000);
      return id;
    };
    const flip = async (to: string) => {
      const started = Date.now();
      await execa('bash', ['scripts/slurm-up.sh'], { env: { SLURM_LOCAL_ACCOUNTING: to, SLURM_LOCAL_FRESH: '0' }, timeout: 120_000 });
      return Date.now() - started;
    };
    const before = await runJob(`flip-${mode}`);
    await check(before, sourceOf(mode));
    try {
      expect(await flip(other)).toBeLessThan(30_000);
      await check(await runJob(`flip-${other}`), sourceOf(other));
      // accounting turned off: jobs of before are still in slurmctld's memory (MinJobAge). (Turned on, slurmdbd gets
      // only a bare record for an array that ran without it: see slurm/README.md.)
      if (other === 'none') await check(before, 'squeue');
    } finally {
      await flip(mode);
    }
    await check(before, sourceOf(mode));
  }, 120_000);
});
