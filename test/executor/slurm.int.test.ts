import { afterEach, describe, expect, test } from '@jest/globals';
import { execFile } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { openManifest, type RunningClaim } from '../../src/manifest/index.js';
import { runCli } from '../helpers/cli.js';
import { compareWithTruth, plannedCampaign, type Campaign } from '../worker/campaign.js';

const run = promisify(execFile);
const withSlurm = process.env.FLEETCLIP_SLURM === '1' ? describe : describe.skip;

const campaigns: Campaign[] = [];
afterEach(async () => {
  for (const c of campaigns.splice(0)) {
    await runCli(['cancel', '--manifest', c.manifest]).catch(() => undefined);
    await c.sim.close();
    await rm(c.dir, { recursive: true, force: true });
  }
});

/** `fleetclip submit --json` with the local cluster's profile and clips of the simulator's size, then `flags`; exit 0 expected. */
async function submit(c: Campaign, flags: string[]): Promise<{ stderr: string; outcome: SubmitOutcome }> {
  const r = await runCli([
    'submit',
    '--manifest',
    c.manifest,
    '--profile',
    'local',
    '--worker-arg=--min-clip-bytes=32768',
    '--json',
    ...flags,
  ]);
  expect(r).toMatchObject({ code: 0 });
  return { stderr: r.stderr, outcome: JSON.parse(r.stdout) as SubmitOutcome };
}
interface SubmitOutcome {
  submissions: { jobId: string; arrayRange: string; kind: string }[];
  tasks: number;
}

async function until<T>(what: string, read: () => Promise<T> | T, done: (v: T) => boolean, timeoutMs: number): Promise<T> {
  const giveUpAt = Date.now() + timeoutMs;
  for (;;) {
    const v = await read();
    if (done(v)) return v;
    if (Date.now() > giveUpAt) throw new Error(`${what}: still not there after ${timeoutMs / 1000} s: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

function shardStates(c: Campaign) {
  const m = openManifest(c.manifest, { readonly: true });
  try {
    return m.shardRows().map((r) => ({ id: r.id, state: r.state, owner: r.owner, release: r.releaseReason, job: r.owner }));
  } finally {
    m.close();
  }
}

/** A folder holding a `sacct` that fails as it does on a cluster without accounting storage. */
async function accountingOff(dir: string): Promise<string> {
  const bin = path.join(dir, 'no-accounting');
  await mkdir(bin, { recursive: true });
  const sacct = path.join(bin, 'sacct');
  await writeFile(sacct, '#!/bin/sh\necho "sacct: error: Slurm accounting storage is disabled" >&2\nexit 1\n', { mode: 0o755 });
  return bin;
}

async function squeueTasks(jobId: string): Promise<string[]> {
  const { stdout } = await run('squeue', ['-h', '-r', '-t', 'all', '-j', jobId, '-o', '%i|%T']);
  return stdout.trim().split('\n').filter(Boolean);
}

interface Resubmitted {
  reconciled: { released: { shardId: number; reason: string }[]; source: string };
  tasks: number;
}

/**
 * Two shards (mav and megalodon, 16:00, one camera) whose clips take 1-2 s to cut, submitted as an array of two tasks
 * with `flags`; returns once each task is running a shard, with the claim each holds.
 */
async function twoTasksMidShard(
  flags: string[],
  pacing?: string[],
): Promise<{ c: Campaign; jobId: string; task0: RunningClaim; task1: RunningClaim }> {
  const c = await plannedCampaign({
    hours: '16-17',
    vehicles: 'mav,megalodon',
    cameras: 'front-center',
    sim: { timeScale: 1, processingDelayMs: { min: 1_000, max: 2_000 } },
    ...(pacing && { pacing }),
  });
  campaigns.push(c);
  const jobId = (await submit(c, ['--workers', '2', ...flags])).outcome.submissions[0]!.jobId;
  await until(
    'a shard running under each task',
    () => shardStates(c),
    (s) => s.filter((r) => r.state === 'running').length === 2,
    60_000,
  );
  const m = openManifest(c.manifest, { readonly: true });
  const holders = m.runningClaims();
  m.close();
  const holderOf = (task: string) => holders.find((h) => h.owner.slurmArrayTaskId === task)!;
  return { c, jobId, task0: holderOf('0'), task1: holderOf('1') };
}

/** `status --wait` returns 0 and the clips on disk are the simulator's truth of that window, nothing duplicated. */
async function expectCompleteAndTrue(c: Campaign): Promise<void> {
  const waited = await runCli(['status', '--manifest', c.manifest, '--wait'], { timeoutMs: 300_000 });
  expect(waited.code).toBe(0);
  expect(
    await compareWithTruth(c, { vehicles: ['mav', 'megalodon'], cameras: ['front-center'], from: '16:00', to: '17:00' }),
  ).toMatchObject({ missing: [], duplicated: [], differ: [], extra: [] });
}

withSlurm('fleetclip on a real Slurm cluster', () => {
  test('plan → submit → array tasks run the workers → every shard done, the clips are the truth; status --wait returns 0', async () => {
    const c = await plannedCampaign({ hours: '16-18', vehicles: 'mav,megalodon', cameras: 'front-center', sim: { timeScale: 0.05 } });
    campaigns.push(c);
    const { stderr, outcome } = await submit(c, ['--time', '20', '--workers', '2', '--verbose']);
    expect(stderr).toMatch(/^fleetclip: \d+ scheduler command\(s\) run\n$/);
    expect(outcome.tasks).toBe(2);
    expect(outcome.submissions[0]!.arrayRange).toBe('0-1');
    const waited = await runCli(['status', '--manifest', c.manifest, '--wait', '--slurm'], { timeoutMs: 240_000 });
    expect(waited.code).toBe(0);
    expect(waited.stdout).toMatch(new RegExp(`slurm job ${outcome.submissions[0]!.jobId} \\(workers 0-1, [^)]+\\): 2 COMPLETED`));
    expect(
      await compareWithTruth(c, { vehicles: ['mav', 'megalodon'], cameras: ['front-center'], from: '16:00', to: '18:00' }),
    ).toMatchObject({
      missing: [],
      duplicated: [],
      differ: [],
      extra: [],
    });
    // the workers ran under Slurm: their ids are <array job>_<task>
    const owners = shardStates(c);
    expect(owners.every((s) => s.state === 'done')).toBe(true);
  }, 300_000);

  // accounting off: a `sacct` first on PATH that answers as on a cluster without slurmdbd, so that reconcile reads
  // squeue (slurmctld keeps finished tasks for MinJobAge) against the same real cluster
  test.each(['sacct', 'squeue'] as const)(
    'one task SIGKILLed and one scancelled mid-shard: resubmit reconciles (scheduler view from %s), resubmits only those shards, nothing duplicated',
    async (source) => {
      const { c, jobId, task0: killed, task1: cancelled } = await twoTasksMidShard(['--time', '20']);
      const env = source === 'squeue' ? { PATH: `${await accountingOff(c.dir)}:${process.env.PATH}` } : {};
      expect(killed.owner).toMatchObject({ slurmJobId: jobId });
      // SIGKILL (what the OOM killer or a dying node does): the worker cannot release its shard, the manifest still says
      // running with a lease minutes long. scancel sends SIGTERM: that worker releases its shard on the way out.
      process.kill(killed.owner.pid, 'SIGKILL');
      await run('scancel', [`${jobId}_1`]);
      await until(
        'both tasks ended',
        () => squeueTasks(jobId),
        (t) => t.length === 2 && t.every((l) => !/RUNNING|PENDING|COMPLETING/.test(l)),
        60_000,
      );
      expect(shardStates(c)).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ id: killed.shardId, state: 'running' }),
          expect.objectContaining({ id: cancelled.shardId, state: 'released' }),
        ]),
      );

      const resubmitted = await runCli(['resubmit', '--manifest', c.manifest, '--json', '--verbose'], { env });
      expect(resubmitted.code).toBe(0);
      const again = JSON.parse(resubmitted.stdout) as Resubmitted;
      expect(again.reconciled).toEqual({ source, released: [{ shardId: killed.shardId, reason: expect.stringMatching(/^slurm FAILED/) }] });
      // the new array works on the two ended tasks' shards, one task each
      expect(again.tasks).toBe(2);

      await expectCompleteAndTrue(c);
      const nothing = await runCli(['resubmit', '--manifest', c.manifest], { env });
      expect(nothing.stdout).toMatch(/^nothing to resubmit/);
      expect(nothing.code).toBe(0);
    },
    420_000,
  );

  test('a task whose downloads stall runs past its --time and ends TIMEOUT, another is scancelled, both mid-shard: resubmit reconciles and resubmits only those shards', async () => {
    // a window of 4 clips of 1-2 s: a shard takes ~45 s, so neither task finishes its own before it is ended; a grace
    // longer than the time left after USR1: a worker with downloads in flight waits for them past its limit
    const {
      c,
      jobId,
      task0: stalled,
      task1: cancelled,
    } = await twoTasksMidShard(
      ['--time', '2', '--worker-arg=--grace=600'],
      ['--api-rate', '50', '--max-concurrent', '4', '--min-time-ms', '5'],
    );
    await run('scancel', [`${jobId}_1`]);
    await until(
      'the scancelled task ended',
      () => squeueTasks(jobId),
      (t) => t.includes(`${jobId}_1|CANCELLED`),
      60_000,
    );
    // the API stalls: every answer from now on takes longer than the task has left (a hung server, a dead mount)
    c.sim.setFaults({ slowRate: 1, slowMs: 400_000 });
    // USR1 a minute before the limit finds downloads in flight; the limit (2 min after the start, seen by slurmctld
    // within 30 s) sends SIGTERM, a second signal, and the worker leaves at once
    await until(
      'the stalled task timed out',
      () => squeueTasks(jobId),
      (t) => t.includes(`${jobId}_0|TIMEOUT`),
      240_000,
    );
    c.sim.setFaults({ slowRate: 0 });
    const left = shardStates(c);
    expect(left.find((s) => s.id === cancelled.shardId)).toMatchObject({ state: 'released' });
    // a worker that left on SIGTERM released its shard itself; one killed after KillWait left it running for reconcile
    const stalledShard = left.find((s) => s.id === stalled.shardId)!;
    expect(['running', 'released']).toContain(stalledShard.state);

    const resubmitted = await runCli(['resubmit', '--manifest', c.manifest, '--time', '20', '--json']);
    expect(resubmitted.code).toBe(0);
    const again = JSON.parse(resubmitted.stdout) as Resubmitted;
    expect(again.reconciled.released).toEqual(
      stalledShard.state === 'running' ? [{ shardId: stalled.shardId, reason: expect.stringMatching(/^slurm TIMEOUT/) }] : [],
    );
    expect(again.tasks).toBe(2);
    await expectCompleteAndTrue(c);
  }, 600_000);

  test('--auto-resubmit heals a campaign with no command typed after submit; USR1 before the time limit releases the shard (not lost)', async () => {
    // a shard takes about 90 s here (1 camera, 120 slots of 1-2 s, a window of 2): a task with --time 2 gets USR1 a
    // minute before its limit (the local profile's grace) and releases the shard half done; the healing job that
    // follows the array resubmits, and the next task finishes it
    const c = await plannedCampaign({
      hours: '16-17',
      vehicles: 'mav',
      cameras: 'front-center',
      sim: { timeScale: 1, processingDelayMs: { min: 1_000, max: 2_000 } },
      pacing: ['--api-rate', '50', '--max-concurrent', '2', '--min-time-ms', '5'],
    });
    campaigns.push(c);
    const subs = (await submit(c, ['--workers', '1', '--time', '2', '--auto-resubmit', '3'])).outcome.submissions;
    expect(subs.map((s) => s.kind)).toEqual(['workers', 'heal']);
    await until(
      'the first task released its shard on USR1',
      () => shardStates(c),
      (s) => s.some((r) => r.state === 'released' && r.release === 'signal'),
      150_000,
    );
    const waited = await runCli(['status', '--manifest', c.manifest, '--wait'], { timeoutMs: 480_000 });
    expect(waited.code).toBe(0);
    const m = openManifest(c.manifest, { readonly: true });
    try {
      expect(m.submissions().filter((s) => s.kind === 'workers').length).toBeGreaterThanOrEqual(2);
    } finally {
      m.close();
    }
    expect(await compareWithTruth(c, { vehicles: ['mav'], cameras: ['front-center'], from: '16:00', to: '17:00' })).toMatchObject({
      missing: [],
      duplicated: [],
      differ: [],
      extra: [],
    });
  }, 540_000);
});

test.each([
  { flags: ['--profile', 'savio3_htc'], message: /--account is required on savio3_htc/ },
  { flags: ['--profile', 'nope'], message: /profile/ },
])('a submit that cannot be right is one line, exit 2, nothing submitted: $flags', async ({ flags, message }) => {
  const c = await plannedCampaign({ hours: '16-17', vehicles: 'mav', cameras: 'front-center' });
  campaigns.push(c);
  const r = await runCli(['submit', '--manifest', c.manifest, ...flags]);
  expect(r.code).toBe(2);
  expect(r.stderr).toMatch(message);
  expect(r.stderr.split('\n').filter(Boolean)).toHaveLength(1);
  expect(path.isAbsolute(c.manifest)).toBe(true);
});
