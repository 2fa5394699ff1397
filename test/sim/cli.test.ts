import { afterEach, describe, expect, test } from '@jest/globals';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtemp, readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CLI, runCli, runMain } from '../helpers/cli.js';
import { expiryOf } from '../../src/sim/index.js';
import { bearer, filenameOf, request } from './http.js';

interface Served {
  child: ChildProcessWithoutNullStreams;
  baseUrl: string;
  stdout: () => string;
  stderr: () => string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const children: ChildProcessWithoutNullStreams[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
});

/** Spawns `fleetclip sim …` and resolves once its first stdout line names the base URL. */
function serve(args: string[]): Promise<Served> {
  const child = spawn(process.execPath, [CLI, 'sim', ...args]);
  children.push(child);
  let out = '';
  let err = '';
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  return new Promise((resolve, reject) => {
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const first = out.split('\n')[0] as string;
      if (out.includes('\n')) {
        const m = /^fleetclip sim listening (http:\/\/127\.0\.0\.1:\d+)$/.exec(first);
        if (m) resolve({ child, baseUrl: m[1] as string, stdout: () => out, stderr: () => err, exit });
        else reject(new Error(`unexpected first line: ${first}`));
      }
    });
    void exit.then(({ code }) => reject(new Error(`exited ${code} before listening: ${err}`)));
  });
}

describe('fleetclip sim (the built binary)', () => {
  test.each(['SIGTERM', 'SIGINT'] as const)(
    '--port 0 prints the base URL as the first stdout line, serves, and exits 0 on %s',
    async (signal) => {
      const s = await serve(['--port', '0', '--clip-bytes', '65536']);
      expect(s.stdout()).toMatch(/^fleetclip sim listening http:\/\/127\.0\.0\.1:\d+\n/);
      expect((await request(`${s.baseUrl}/_sim/stats`)).status).toBe(200);
      expect((await request(`${s.baseUrl}/v1/video`)).status).toBe(401);
      expect(s.stderr()).toContain('no --token-file');
      s.child.kill(signal);
      expect(await s.exit).toEqual({ code: 0, signal: null });
    },
  );

  test('--mint-token writes a 24 h token, mode 0600, never printed, and the server accepts it', async () => {
    const file = path.join(await mkdtemp(path.join(tmpdir(), 'fc-sim-cli-')), 'token');
    const s = await serve(['--port', '0', '--token-file', file, '--mint-token', '--time-scale', '0.01', '--rate-5xx', '0']);
    const token = (await readFile(file, 'utf8')).trim();
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const hoursLeft = ((expiryOf(token) as number) - Date.now() / 1000) / 3600;
    expect(hoursLeft).toBeGreaterThan(23.9);
    expect(hoursLeft).toBeLessThanOrEqual(24);
    const t = Date.UTC(2025, 10, 17, 10) / 1000;
    const res = await request(`${s.baseUrl}/v1/video?vehicle=mav&camera=front-center&startTime=${t}&endTime=${t + 30}`, {
      headers: bearer(token),
    });
    expect([200, 404]).toContain(res.status);
    s.child.kill('SIGTERM');
    await s.exit;
    expect(s.stdout()).not.toContain(token);
    expect(s.stderr()).not.toContain(token);
    expect(s.stderr()).toContain(`wrote a new token valid 24 h to ${file}`);
  });

  test('fault flags reach the server: --rate-5xx 1 answers 500/503, --vehicles limits the fleet', async () => {
    const s = await serve(['--port', '0', '--rate-5xx', '1', '--vehicles', 'alpha,beta', '--cameras', 'front']);
    const truth = JSON.parse((await request(`${s.baseUrl}/_sim/truth?day=2025-11-17&from=10:00&to=10:05`)).body.toString()) as {
      slots: { vehicle: string; camera: string }[];
    };
    for (const slot of truth.slots) expect(['alpha', 'beta']).toContain(slot.vehicle);
    const res = await request(`${s.baseUrl}/presigned/x?expires=1`);
    expect([500, 503]).toContain(res.status);
    s.child.kill('SIGTERM');
    expect((await s.exit).code).toBe(0);
  });

  test('job fault flags reach the server: never-ready jobs answer --never-ready-status, long jobs take --long-job-ms', async () => {
    const file = path.join(await mkdtemp(path.join(tmpdir(), 'fc-sim-cli-')), 'token');
    const s = await serve([
      '--port',
      '0',
      '--token-file',
      file,
      '--mint-token',
      '--clip-bytes',
      '65536',
      '--never-ready-rate',
      '0.5',
      '--never-ready-status',
      '503',
      '--long-job-rate',
      '1',
      '--long-job-ms',
      '0',
    ]);
    const token = (await readFile(file, 'utf8')).trim();
    const truth = JSON.parse(
      (await request(`${s.baseUrl}/_sim/truth?day=2025-11-17&vehicle=mav&camera=front-center&from=10:00&to=12:00`)).body.toString(),
    );
    const { start } = (truth as { slots: { start: number }[] }).slots[0] as { start: number };
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) {
      const video = await request(`${s.baseUrl}/v1/video?vehicle=mav&camera=front-center&startTime=${start}&endTime=${start + 30}`, {
        headers: bearer(token),
      });
      const filename = filenameOf(video);
      // a long job of 0 ms is ready at once; a never-ready one answers 503
      statuses.push((await request(`${s.baseUrl}/v1/download?filename=${filename}`, { method: 'HEAD', headers: bearer(token) })).status);
    }
    const faults = (JSON.parse((await request(`${s.baseUrl}/_sim/stats`)).body.toString()) as { faults: Record<string, number> }).faults;
    expect(faults['never-ready']).toBeGreaterThan(0);
    expect(faults['long-job']).toBeGreaterThan(0);
    expect(faults['never-ready'] + faults['long-job']).toBe(12);
    expect(statuses.filter((st) => st === 503).length).toBe(faults['never-ready']);
    expect(statuses.filter((st) => st === 200).length).toBe(faults['long-job']);
    s.child.kill('SIGTERM');
    expect((await s.exit).code).toBe(0);
  });

  test('a bad flag exits 2 with one line on stderr and nothing on stdout', async () => {
    const r = await runCli(['sim', '--time-scale', '0']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe('fleetclip: --time-scale must be a number > 0, got 0\n');
  });
});

describe('fleetclip sim flag checks (in-process)', () => {
  test.each([
    { args: ['--port', '-1'], says: '--port must be an integer 0..65535, got -1' },
    { args: ['--port', '70000'], says: '--port must be an integer 0..65535, got 70000' },
    { args: ['--port'], says: '--port needs a value' },
    { args: ['--port', 'abc'], says: '--port must be an integer 0..65535, got NaN' },
    { args: ['--time-scale', '0'], says: '--time-scale must be a number > 0, got 0' },
    { args: ['--drop-rate', '1.5'], says: '--drop-rate must be a number 0..1, got 1.5' },
    { args: ['--head-405-rate', '-0.2'], says: '--head-405-rate must be a number 0..1, got -0.2' },
    { args: ['--vehicles', 'a;b'], says: '--vehicles: "a;b" is not a name (letters, digits, . _ -)' },
    { args: ['--vehicles', 'a,,b'], says: '--vehicles must be a comma-separated list without empty items, got "a,,b"' },
    { args: ['--cameras', 'x,x'], says: '--cameras lists a name twice' },
    { args: ['--processing-delay', '5..1'], says: '--processing-delay: max 1 is below min 5' },
    { args: ['--processing-delay', 'soon'], says: '--processing-delay must be MIN..MAX or one number of ms, got "soon"' },
    {
      args: ['--download-shapes', 'bytes,ftp'],
      says: '--download-shapes: unknown shape "ftp" (known: redirect-302, redirect-307, octet-url, text-url, json-url, bytes)',
    },
    { args: ['--clip-bytes', '100'], says: '--clip-bytes must be an integer 65536..268435456, got 100' },
    { args: ['--long-job-rate', '1.5'], says: '--long-job-rate must be a number 0..1, got 1.5' },
    { args: ['--long-job-ms', '9..1'], says: '--long-job-ms: max 1 is below min 9' },
    { args: ['--long-job-ms', 'long'], says: '--long-job-ms must be MIN..MAX or one number of ms, got "long"' },
    { args: ['--long-job-ms', '1', '--long-job-ms', '2'], says: '--long-job-ms was given more than once' },
    { args: ['--never-ready-rate', '-0.1'], says: '--never-ready-rate must be a number 0..1, got -0.1' },
    { args: ['--never-ready-status', '502'], says: '--never-ready-status must be one of 404, 500, 503, got 502' },
    { args: ['--never-ready-status'], says: '--never-ready-status needs a value' },
    { args: ['--never-ready-status', '500', '--never-ready-status', '404'], says: '--never-ready-status was given more than once' },
    { args: ['--seed', '1', '--seed', '2'], says: '--seed was given more than once' },
    { args: ['--mint-token'], says: '--mint-token needs --token-file' },
    { args: ['--nope'], says: 'Unknown argument: nope' },
  ])('$args → exit 2: $says', async ({ args, says }) => {
    const r = await runMain(['sim', ...args]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`fleetclip: ${says}\n`);
  });

  test('--help lists every flag with its default', async () => {
    const r = await runMain(['sim', '--help']);
    expect(r.code).toBe(0);
    for (const flag of [
      'port',
      'seed',
      'vehicles',
      'cameras',
      'clip-bytes',
      'processing-delay',
      'latency',
      'time-scale',
      'rate-limit',
      'presign-ttl',
      'video-shapes',
      'download-shapes',
      'token-file',
      'mint-token',
      'rate-429',
      'retry-after',
      'rate-5xx',
      'slow-rate',
      'slow-ms',
      'drop-rate',
      'short-body-rate',
      'tiny-rate',
      'corrupt-rate',
      'head-405-rate',
      'presign-expired-rate',
      'never-ready-rate',
      'never-ready-status',
      'long-job-rate',
      'long-job-ms',
    ])
      expect(r.stdout).toContain(`--${flag} `);
    const text = r.stdout.replace(/\s+/g, ' ');
    expect(text).toContain('(default mallory,mav,megalodon,metatron,morizo)');
    expect(text).toContain('(default 300..2500)');
    expect(text).toContain('(default 150000..225000)');
    expect(text).toContain('404|500|503 (default 500)');
  });
});
