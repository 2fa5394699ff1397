import { afterEach, describe, expect, test } from '@jest/globals';
import { execFile } from 'node:child_process';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { openManifest } from '../../src/manifest/index.js';
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

/** `flags` every submission of these tests gets: the local cluster's profile, clips of the simulator's size. */
const SUBMIT = ['--profile', 'local', '--worker-arg=--min-clip-bytes=32768'];

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

async function squeueTasks(jobId: string): Promise<string[]> {
  const { stdout } = await run('squeue', ['-h', '-r', '-t', 'all', '-j', jobId, '-o', '%i|%T']);
  return stdout.trim().split('\n').filter(Boolean);
}

withSlurm('fleetclip on a real Slurm cluster', () => {
  test('plan → submit → array tasks run the workers → every shard done, the clips are the truth; status --wait returns 0', async () => {
    const c = await plannedCampaign({ hours: '16-18', vehicles: 'mav,megalodon', cameras: 'front-center', sim: { timeScale: 0.05 } });
    campaigns.push(c);
    const submitted = await runCli([
      'submit',
      '--manifest',
      c.manifest,
      ...SUBMIT,
      '--time',
      '20',
      '--workers',
      '2',
      '--json',
      '--verbose',
    ]);
    expect(submitted.stderr).toMatch(/^fleetclip: \d+ scheduler command\(s\) run\n$/);
    expect(submitted.code).toBe(0);
    const outcome = JSON.parse(submitted.stdout) as { submissions: { jobId: string; arrayRange: string }[]; tasks: number };
    expect(outcome.tasks).toBe(2);
    expect(outcome.submissions[0]!.arrayRange).toBe('0-1');
    expect(submitted.stderr).toMatch(/\d+ scheduler command\(s\) run/);
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

  test('a task killed mid-shard is reconciled by resubmit (its shard released with the scheduler reason), and the campaign completes with nothing duplicated', async () => {
    // slow jobs (1-2 s each) so that a task is mid-shard when it is killed
    const c = await plannedCampaign({
      hours: '16-18',
      vehicles: 'mav',
      cameras: 'front-center',
      sim: { timeScale: 1, processingDelayMs: { min: 1_000, max: 2_000 } },
    });
    campaigns.push(c);
    const submitted = await runCli(['submit', '--manifest', c.manifest, ...SUBMIT, '--time', '20', '--workers', '1', '--json']);
    expect(submitted.code).toBe(0);
    const jobId = (JSON.parse(submitted.stdout) as { submissions: { jobId: string }[] }).submissions[0]!.jobId;
    await until(
      'a shard running under the task',
      () => shardStates(c),
      (s) => s.some((r) => r.state === 'running'),
      60_000,
    );
    // SIGKILL of the worker (what the OOM killer or a dying node does): it cannot release its shard; the manifest still
    // says running, with a lease 2 minutes long. (A plain scancel sends SIGTERM: the worker releases the shard itself.)
    const m = openManifest(c.manifest, { readonly: true });
    const [holder] = m.runningClaims();
    m.close();
    expect(holder?.owner).toMatchObject({ slurmJobId: jobId, slurmArrayTaskId: '0' });
    process.kill(holder!.owner.pid, 'SIGKILL');
    await until(
      'the task ended',
      () => squeueTasks(jobId),
      (t) => t.length > 0 && t.every((l) => !/RUNNING|PENDING|COMPLETING/.test(l)),
      60_000,
    );
    expect(shardStates(c).filter((r) => r.state !== 'pending')).toEqual([expect.objectContaining({ state: 'running' })]);

    const resubmitted = await runCli(['resubmit', '--manifest', c.manifest, '--json', '--verbose']);
    expect(resubmitted.code).toBe(0);
    const again = JSON.parse(resubmitted.stdout) as { reconciled: { released: { shardId: number; reason: string }[] }; tasks: number };
    expect(again.reconciled.released).toHaveLength(1);
    expect(again.reconciled.released[0]!.reason).toMatch(/^slurm FAILED/);
    expect(again.tasks).toBeGreaterThanOrEqual(1);

    const waited = await runCli(['status', '--manifest', c.manifest, '--wait'], { timeoutMs: 300_000 });
    expect(waited.code).toBe(0);
    expect(await compareWithTruth(c, { vehicles: ['mav'], cameras: ['front-center'], from: '16:00', to: '18:00' })).toMatchObject({
      missing: [],
      duplicated: [],
      differ: [],
      extra: [],
    });
    const nothing = await runCli(['resubmit', '--manifest', c.manifest]);
    expect(nothing.stdout).toMatch(/^nothing to resubmit/);
    expect(nothing.code).toBe(0);
  }, 420_000);

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
    const submitted = await runCli([
      'submit',
      '--manifest',
      c.manifest,
      ...SUBMIT,
      ...['--workers', '1', '--time', '2', '--auto-resubmit', '3', '--json'],
    ]);
    expect(submitted.code).toBe(0);
    const subs = (JSON.parse(submitted.stdout) as { submissions: { kind: string }[] }).submissions;
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
