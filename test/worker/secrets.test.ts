import { afterEach, describe, expect, test } from '@jest/globals';
import { chmod, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { UsageError } from '../../src/errors.js';
import { submitCampaign } from '../../src/executor/index.js';
import { openManifest } from '../../src/manifest/index.js';
import type { SlurmClient } from '../../src/slurm/index.js';
import Database from 'better-sqlite3';
import { CLI, runCli, runMain } from '../helpers/cli.js';
import { LONG_TOKEN, tokenPiecesIn } from '../helpers/secrets.js';
import { spawn } from 'node:child_process';
import { type Campaign, DAY, WORKER_FLAGS, exitOf, filesUnder, plannedCampaign } from './campaign.js';

let dir: string | undefined;
let server: http.Server | undefined;
/** a campaign against the simulator */
let simCampaign: Campaign | undefined;
afterEach(async () => {
  await simCampaign?.sim.close();
  if (simCampaign) await rm(simCampaign.dir, { recursive: true, force: true });
  simCampaign = undefined;
  server?.closeAllConnections();
  await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
  server = undefined;
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

/** A Batch API on loopback that refuses every clip request with 400 and a body of `pad(n)` spaces and the token. */
async function hostileApi(pad: (n: number) => number): Promise<string> {
  let requests = 0;
  server = http.createServer((req, res) => {
    if (!req.url?.startsWith('/v1/video')) return void res.writeHead(404).end();
    res.writeHead(400, { 'content-type': 'text/plain' }).end(`${' '.repeat(pad(requests++))}${LONG_TOKEN}`);
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A planned campaign of one vehicle-hour and two cameras (240 slots) against `apiBase`, its token in a 0600 file. */
async function campaignAgainst(apiBase: string, plan: string[] = []) {
  dir = await mkdtemp(path.join(os.tmpdir(), 'fc-secrets-'));
  const tokenFile = path.join(dir, 'token');
  await writeFile(tokenFile, `${LONG_TOKEN}\n`, { mode: 0o600 });
  const run = path.join(dir, 'run');
  const c = { dir, run, manifest: path.join(run, 'manifest.sqlite'), out: path.join(run, 'clips'), tokenFile };
  const planned = await runMain([
    ...['plan', '--manifest', c.manifest, '--out', c.out, '--day', DAY, '--hours', '16-17', '--vehicles', 'mav'],
    ...['--cameras', 'front-center,left-center', '--api-base', apiBase, '--token-file', tokenFile, ...plan],
  ]);
  expect(planned).toMatchObject({ code: 0, stderr: '' });
  return c;
}

const work = (manifest: string, extra: string[] = []) =>
  spawn(process.execPath, [CLI, 'work', '--manifest', manifest, ...WORKER_FLAGS, ...extra], { stdio: ['ignore', 'ignore', 'pipe'] });

describe('the token in a hostile server answer', () => {
  test('fleetclip work: no piece of it (12+ characters) in slot errors, receipts, the log, any file of the run, or stderr', async () => {
    // 240 clip requests, each with the token at another offset: 200..439 spaces, across the 320-byte cut of a snippet
    const c = await campaignAgainst(await hostileApi((n) => 200 + (n % 240)));
    const worker = await exitOf(work(c.manifest));
    expect(worker.code).toBe(1); // every slot failed: the shard failed

    const m = openManifest(c.manifest, { readonly: true });
    const errors = m.plannedShards().flatMap((s) => m.slotResults(s.id).map((r) => r.error ?? ''));
    m.close();
    expect(errors).toHaveLength(240);
    expect(new Set(errors)).toEqual(new Set(['clip request refused: "[redacted]"']));

    const written = await filesUnder(c.run);
    expect(written).toEqual(
      expect.arrayContaining(['manifest.sqlite', 'campaign.json', expect.stringMatching(/^receipts\//), expect.stringMatching(/^logs\//)]),
    );
    for (const file of written)
      expect({ file, pieces: tokenPiecesIn(await readFile(path.join(c.run, file), 'latin1'), LONG_TOKEN, 12) }).toEqual({
        file,
        pieces: [],
      });
    expect(worker.stderr).toContain('clip failed: clip request refused: "[redacted]"');
    expect(tokenPiecesIn(worker.stderr, LONG_TOKEN, 12)).toEqual([]);
  }, 60_000);
});

/** `path mode` of a folder and everything under it, e.g. `clips/mav 700` (the folder itself as `.`) */
async function modesUnder(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  const paths = [root, ...entries.map((e) => path.join(e.parentPath, e.name))];
  return Promise.all(paths.map(async (p) => `${path.relative(root, p) || '.'} ${((await stat(p)).mode & 0o7777).toString(8)}`));
}

/** `run` with `umask` as the process's (and so its children's): what fleetclip creates must not depend on it. */
async function withUmask<T>(umask: number, run: () => Promise<T>): Promise<T> {
  const before = process.umask(umask);
  try {
    return await run();
  } finally {
    process.umask(before);
  }
}

describe('files a campaign writes', () => {
  test.each([
    { sharing: 'owner-only by default', plan: [], umask: 0o002, dir: '700', file: '600' },
    { sharing: 'group-shared with --share-with-group', plan: ['--share-with-group'], umask: 0o077, dir: '2770', file: '660' },
  ])(
    '$sharing: every folder $dir and file $file under the run folder and the output root, whatever the umask',
    async (t) => {
      const c = (simCampaign = await withUmask(t.umask, () =>
        plannedCampaign({ hours: '16-17', vehicles: 'mav', cameras: 'front-center', plan: t.plan }),
      ));
      expect(await withUmask(t.umask, () => exitOf(work(c.manifest)))).toMatchObject({ code: 0 });
      const run = path.dirname(c.manifest);
      const written = [...(await modesUnder(run)), ...(await modesUnder(c.out))];
      expect(written).toEqual(
        expect.arrayContaining([expect.stringMatching(/^receipts\/.+\.jsonl /), expect.stringMatching(/^logs\/.+\.log /)]),
      );
      expect(written.filter((line) => /\/download1\/.+\.bag /.test(line)).length).toBeGreaterThan(10);
      const files = new Set((await filesUnder(run)).concat(await filesUnder(c.out)));
      for (const line of written) {
        const [name, mode] = line.split(' ') as [string, string];
        expect({ name, mode }).toEqual({ name, mode: files.has(name) ? t.file : t.dir });
      }
    },
    60_000,
  );
});

/** A SlurmClient for a dry run: it knows the array size limit, and fails a test that asks it anything else. */
function schedulerThatMustNotBeAsked(): SlurmClient & { calls: number } {
  const client = {
    calls: 0,
    maxArraySize: async () => 1001,
    ...Object.fromEntries(
      (['jobEndTime', 'submit', 'taskStates', 'cancel'] as const).map((name) => [
        name,
        async () => {
          client.calls++;
          throw new Error(`the scheduler was asked: ${name}`);
        },
      ]),
    ),
  } as SlurmClient & { calls: number };
  return client;
}

describe('submit --dry-run', () => {
  test.each([
    { sharing: 'owner-only', plan: [], dir: '700', script: '700' },
    { sharing: '--share-with-group', plan: ['--share-with-group'], dir: '2770', script: '770' },
  ])('$sharing: slurm/ and logs/ $dir, the scripts $script, whatever the umask', async (t) => {
    const c = await campaignAgainst('http://127.0.0.1:9', t.plan);
    const slurm = schedulerThatMustNotBeAsked();
    const submitted = await withUmask(0o022, () =>
      submitCampaign(
        c.manifest,
        { profile: 'local', allowTokenExpiry: true, autoResubmit: 1 },
        { slurm, fleetclip: [process.execPath, CLI] },
        true,
      ),
    );
    expect(submitted.scripts.map((s) => s.kind)).toEqual(['workers', 'heal']);
    expect((await modesUnder(path.join(c.run, 'slurm'))).map((line) => line.replace(/^\S+\.sh /, 'script '))).toEqual([
      `. ${t.dir}`,
      `script ${t.script}`,
      `script ${t.script}`,
    ]);
    expect(await modesUnder(path.join(c.run, 'logs'))).toEqual([`. ${t.dir}`]);
  });
});

describe('the token file', () => {
  test('readable by group or others: a worker warns once, in its log and on stderr', async () => {
    const c = (simCampaign = await plannedCampaign({ hours: '16-17', vehicles: 'mav', cameras: 'front-center' }));
    await chmod(c.tokenFile, 0o644);
    const worker = await exitOf(work(c.manifest));
    expect(worker.code).toBe(0);
    const warning = `${c.tokenFile} is readable by group or others (mode 0644): chmod 600 ${c.tokenFile}`;
    expect(worker.stderr.split(warning)).toHaveLength(2);
    const logs = await filesUnder(path.join(path.dirname(c.manifest), 'logs'));
    const log = await readFile(path.join(path.dirname(c.manifest), 'logs', logs[0]!), 'utf8');
    expect(log.split('\n').filter((line) => line.includes(warning))).toEqual([expect.stringContaining('"level":"warn"')]);

    await chmod(c.tokenFile, 0o600);
    expect((await exitOf(work(c.manifest))).stderr).not.toContain('readable by group or others');
  }, 60_000);
});

describe('an API base over plain http beyond loopback', () => {
  /** A campaign planned with --insecure-http, then without it, as fleetclip planned before the check existed. */
  async function oldHttpCampaign() {
    const c = await campaignAgainst('http://192.0.2.1:8080', ['--insecure-http']);
    const db = new Database(c.manifest);
    db.prepare(`UPDATE campaign SET settings = json_remove(settings, '$.insecureHttp')`).run();
    db.close();
    return c;
  }
  const refusal = (manifest: string) =>
    `fleetclip: the API base of the campaign in ${manifest} is plain http:// beyond loopback ('http://192.0.2.1:8080'), so the token would travel unencrypted: use https://, or allow it with \`fleetclip plan --extend\` and the same arguments plus --insecure-http\n`;

  test('work and run refuse it in one line, exit 2, before any request or worker', async () => {
    const c = await oldHttpCampaign();
    const worker = await exitOf(work(c.manifest));
    expect(worker).toMatchObject({ code: 2, stderr: refusal(c.manifest) });
    const run = await runCli(['run', '--manifest', c.manifest, '--workers', '1', '--progress', 'off']);
    expect(run).toMatchObject({ code: 2, stdout: '', stderr: refusal(c.manifest) });
    expect((await filesUnder(c.run)).filter((f) => !/^(manifest\.sqlite|campaign\.json)$/.test(f))).toEqual([]);
  });

  test('submit refuses it before any scheduler command', async () => {
    const c = await oldHttpCampaign();
    const slurm = schedulerThatMustNotBeAsked();
    const submitted = submitCampaign(
      c.manifest,
      { profile: 'local', allowTokenExpiry: true },
      { slurm, fleetclip: [process.execPath, CLI] },
    );
    await expect(submitted).rejects.toThrow(new UsageError(refusal(c.manifest).replace(/^fleetclip: |\n$/g, '')));
    expect(slurm.calls).toBe(0);
  });

  test('fetch refuses it in one line, exit 2, unless --insecure-http', async () => {
    const args = [
      'fetch',
      '--api-base',
      'http://192.0.2.1:8080',
      '--vehicle',
      'mav',
      '--camera',
      'front-center',
      '--at',
      '2025-11-17T08:30:00Z',
    ];
    const refused = await runMain([...args, '--out', os.tmpdir()]);
    expect(refused).toEqual({
      code: 2,
      stdout: '',
      stderr:
        "fleetclip: --api-base is plain http:// beyond loopback ('http://192.0.2.1:8080'), so the token would travel unencrypted: use https://, or allow it with --insecure-http\n",
    });
    // allowed, it goes on to read the token (missing here: the next refusal, before any request)
    const allowed = await runMain([...args, '--out', os.tmpdir(), '--insecure-http', '--token-file', '/nonexistent/token']);
    expect(allowed).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/^fleetclip: cannot read the token file \/nonexistent\/token: ENOENT/),
    });
  });
});
