import { afterAll, beforeEach, describe, expect, test } from '@jest/globals';
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Claim, type Manifest, openManifest } from '../../src/manifest/index.js';
import { execaSlurmClient, loadProfile } from '../../src/slurm/index.js';
import { CLI, runCli, runMain } from '../helpers/cli.js';
import { describeWithSlurm } from '../slurm/helpers.js';

/**
 * `status --wait` gives up (exit 11) once nothing works on the campaign: no live lease and no Slurm task pending or
 * running. Each test plans a fresh campaign of two shards (one vehicle, one camera, two hours) with no worker.
 */
const dirs: string[] = [];
let manifestPath: string;

beforeEach(async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'fc-wait-'));
  dirs.push(dir);
  manifestPath = path.join(dir, 'run', 'manifest.sqlite');
  const planned = await runMain([
    'plan',
    ...['--manifest', manifestPath, '--out', path.join(dir, 'out'), '--day', '2025-11-17', '--hours', '0-2'],
    ...['--vehicles', 'mav', '--cameras', 'front', '--api-base', 'http://127.0.0.1:9', '--token-file', path.join(dir, 'token')],
  ]);
  expect(planned.code).toBe(0);
});

afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const worker = { workerId: 'test-w1', host: 'localhost', pid: process.pid };

/** One change to the campaign's manifest, as a worker or `submit` would make it, closed after. */
function changeManifest(change: (m: Manifest) => void): void {
  const m = openManifest(manifestPath);
  try {
    change(m);
  } finally {
    m.close();
  }
}

function startWait(...flags: string[]): { child: ChildProcessWithoutNullStreams; exit: Promise<{ code: number | null; stderr: string }> } {
  const child = spawn(process.execPath, [CLI, 'status', '--manifest', manifestPath, '--wait', ...flags]);
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exit = new Promise<{ code: number | null; stderr: string }>((resolve) => child.on('exit', (code) => resolve({ code, stderr })));
  return { child, exit };
}

/** Whether the child is still running after `ms` (how long is not the point: a wrong give-up comes in ~5 s). */
async function stillWaitingAfter(child: ChildProcessWithoutNullStreams, ms: number): Promise<boolean> {
  await sleep(ms);
  return child.exitCode === null;
}

describe('status --wait with nothing working on the campaign', () => {
  test('no worker, no Slurm job: it gives up after --give-up-after with exit 11, says why, and prints the status', async () => {
    const r = await runCli(['status', '--manifest', manifestPath, '--wait', '--give-up-after', '1s'], { timeoutMs: 60_000 });
    expect(r.code).toBe(11);
    expect(r.stderr).toContain(
      'fleetclip status: gave up waiting: nothing has worked on the campaign for 1s (no shard leased by a live worker); ' +
        '2 of 2 shard(s) unfinished: resubmit them (fleetclip resubmit, or fleetclip run), then wait again\n',
    );
    expect(r.stdout).toMatch(/^total +0 +0 +2 /m);
  }, 60_000);

  test('a live lease keeps it waiting; the campaign done, it returns 0', async () => {
    const m = openManifest(manifestPath);
    try {
      const claims: Claim[] = [m.claimNextShard(worker)!, m.claimNextShard(worker)!];
      const { child, exit } = startWait('--give-up-after', '1s');
      expect(await stillWaitingAfter(child, 8_000)).toBe(true);
      for (const c of claims) m.completeShard(c);
      const { code, stderr } = await exit;
      expect(stderr).not.toContain('gave up');
      expect(code).toBe(0);
    } finally {
      m.close();
    }
  }, 60_000);

  test('a lapsed lease is nobody working', async () => {
    changeManifest((m) => m.claimNextShard(worker, { leaseMs: 1 }));
    const r = await runCli(['status', '--manifest', manifestPath, '--wait', '--give-up-after', '1'], { timeoutMs: 60_000 });
    expect(r.code).toBe(11);
    expect(r.stderr).toContain('2 of 2 shard(s) unfinished');
  }, 60_000);

  test('refusals: --give-up-after without --wait, or not a duration', async () => {
    const alone = await runMain(['status', '--manifest', manifestPath, '--give-up-after', '5m']);
    expect(alone).toMatchObject({ code: 2, stderr: 'fleetclip: --give-up-after goes with --wait\n' });
    const bad = await runMain(['status', '--manifest', manifestPath, '--wait', '--give-up-after', 'soon']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(
      /^fleetclip: --give-up-after must be a duration such as 5d, 36h, 90m, 4m05s or a number of seconds, got 'soon'\n$/,
    );
  });
});

describeWithSlurm('status --wait and the campaign’s Slurm jobs', () => {
  const slurm = execaSlurmClient();

  test('jobs the scheduler no longer runs: it gives up, naming the scheduler', async () => {
    changeManifest((m) => m.recordSubmission({ jobId: '99999999', arrayRange: '0-1', atMs: Date.now(), kind: 'workers' }));
    const r = await runCli(['status', '--manifest', manifestPath, '--wait', '--give-up-after', '1s'], { timeoutMs: 60_000 });
    expect(r.code).toBe(11);
    expect(r.stderr).toContain('(no shard leased by a live worker, no Slurm task pending or running)');
  }, 60_000);

  test('a task the scheduler still has (pending or running) keeps it waiting', async () => {
    const script = path.join(path.dirname(manifestPath), 'sleeper.sh');
    const { partition } = loadProfile('local');
    writeFileSync(script, `#!/bin/bash\n#SBATCH --partition=${partition}\n#SBATCH --time=5\n#SBATCH --output=/dev/null\nexec sleep 300\n`);
    const jobId = await slurm.submit(script);
    try {
      changeManifest((m) => m.recordSubmission({ jobId, arrayRange: '', atMs: Date.now(), kind: 'workers' }));
      const { child, exit } = startWait('--give-up-after', '1s');
      expect(await stillWaitingAfter(child, 8_000)).toBe(true);
      child.kill('SIGINT');
      const { code, stderr } = await exit;
      expect(stderr).not.toContain('gave up');
      expect(code).toBe(10);
    } finally {
      await slurm.cancel([jobId]);
    }
  }, 60_000);
});
