import { afterEach, describe, expect, test } from '@jest/globals';
import { execFile, spawn } from 'node:child_process';
import { readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { CLI, runCli } from '../helpers/cli.js';
import { openManifest } from '../../src/manifest/index.js';
import { WORKER_FLAGS, compareWithTruth, exitOf, plannedCampaign, type Campaign } from './campaign.js';

const CLIENT_ID = 'fleetclip-test';
const SECRET = 'sEcReT-0f-the-test-client-7f3a9c';
const LIFETIME_SEC = 20;
/** a token is renewed 10 % of its lifetime before it expires */
const RENEWAL_PERIOD_MS = LIFETIME_SEC * 1000 * 0.9;

let campaign: Campaign | undefined;
afterEach(async () => {
  await campaign?.sim.close();
  if (campaign) await rm(campaign.dir, { recursive: true, force: true });
  campaign = undefined;
});

/** A campaign whose token comes from `tokenSource` flags (the client secret written owner-only), with no token file yet. */
async function campaignWithSource(opts: {
  hours: string;
  vehicles: string;
  /** the secret the client holds (the simulator knows SECRET) */
  secret?: string;
  tokenSource: (c: { baseUrl: string; secretFile: string; dir: string }) => Promise<string[]>;
  pacing?: string[];
}): Promise<Campaign & { secretFile: string }> {
  let flags: string[] = [];
  let secretFile = '';
  const c = (campaign = await plannedCampaign({
    hours: opts.hours,
    vehicles: opts.vehicles,
    cameras: 'front-center',
    sim: { oauthClient: { id: CLIENT_ID, secret: SECRET }, oauthTokenLifetimeSec: LIFETIME_SEC },
    ...(opts.pacing && { pacing: opts.pacing }),
    plan: [],
  }));
  secretFile = path.join(c.dir, 'client-secret');
  await writeFile(secretFile, `${opts.secret ?? SECRET}\n`, { mode: 0o600 });
  flags = await opts.tokenSource({ baseUrl: c.sim.baseUrl, secretFile, dir: c.dir });
  // planned again with the source (same window and settings otherwise): a fresh manifest
  await rm(path.dirname(c.manifest), { recursive: true, force: true });
  const planned = await runCli([
    ...['plan', '--manifest', c.manifest, '--out', c.out, '--day', '2025-11-17', '--hours', opts.hours, '--vehicles', opts.vehicles],
    ...['--cameras', 'front-center', '--api-base', c.sim.baseUrl, '--token-file', c.tokenFile, '--clip-size', '65536'],
    ...(opts.pacing ?? ['--api-rate', '500', '--max-concurrent', '8', '--min-time-ms', '5']),
    ...flags,
  ]);
  expect(planned).toMatchObject({ code: 0 });
  await rm(c.tokenFile); // no token until the token source gives one
  return { ...c, secretFile };
}

const oauthFlags = async ({ baseUrl, secretFile }: { baseUrl: string; secretFile: string }) => [
  ...['--oauth-token-url', `${baseUrl}/oauth2/token`, '--client-id', CLIENT_ID, '--client-secret-file', secretFile],
];

/** A credential command: a small node program that asks the simulator's /oauth2/token itself (the secret from its file). */
const commandFlags = async ({ baseUrl, secretFile, dir }: { baseUrl: string; secretFile: string; dir: string }) => {
  const script = path.join(dir, 'mint.mjs');
  await writeFile(
    script,
    `import { readFileSync } from 'node:fs';
const [url, id, secretFile] = process.argv.slice(2);
const secret = readFileSync(secretFile, 'utf8').trim();
const res = await fetch(url, {
  method: 'POST',
  headers: { authorization: 'Basic ' + Buffer.from(id + ':' + secret).toString('base64'), 'content-type': 'application/x-www-form-urlencoded' },
  body: 'grant_type=client_credentials',
});
if (!res.ok) { console.error('the token endpoint answered ' + res.status); process.exit(1); }
const doc = await res.json();
console.log(JSON.stringify({ token: doc.access_token, expiresAt: new Date(Date.now() + doc.expires_in * 1000).toISOString() }));
`,
  );
  return ['--token-command', `${process.execPath} ${script} ${baseUrl}/oauth2/token ${CLIENT_ID} ${secretFile}`];
};

/** Every file under `dir`, recursively, as bytes (the manifest, its journals, campaign.json, logs, receipts, scripts). */
async function filesOf(dir: string): Promise<{ file: string; bytes: Buffer }[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  const files = entries.filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name));
  return Promise.all(files.map(async (file) => ({ file, bytes: await readFile(file) })));
}

/** `ps -eo args` every 500 ms until `done` resolves: what any user of the machine could read of the processes' command lines. */
async function watchProcessArgs(done: Promise<unknown>): Promise<string[]> {
  const snapshots: string[] = [];
  let finished = false;
  void done.finally(() => (finished = true));
  while (!finished) {
    snapshots.push((await promisify(execFile)('ps', ['-eo', 'args'], { maxBuffer: 16 * 2 ** 20 })).stdout);
    await new Promise((r) => setTimeout(r, 500));
  }
  return snapshots;
}

/**
 * Runs the campaign with 4 workers while watching `ps`, then checks what the issue asks: every clip, no 401 in any slot
 * outcome, at most one token request per renewal period (and several renewals), no secret or token anywhere a user
 * could read it but the token file.
 */
async function runAndCheck(c: Campaign & { secretFile: string }): Promise<void> {
  const startedMs = Date.now();
  const child = spawn(process.execPath, [CLI, 'run', '--manifest', c.manifest, '--workers', '4', ...WORKER_FLAGS], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const ended = exitOf(child);
  const snapshots = await watchProcessArgs(ended);
  const { code, stderr } = await ended;
  const elapsedMs = Date.now() - startedMs;
  expect(stderr).toContain('every shard done');
  expect(code).toBe(0);

  const seen = await compareWithTruth(c, { vehicles: ['mav', 'megalodon'], cameras: ['front-center'], from: '16:00', to: '17:00' });
  expect(seen.truth).toBeGreaterThan(50);
  expect(seen).toMatchObject({ missing: [], duplicated: [], differ: [] });
  const m = openManifest(c.manifest, { readonly: true });
  try {
    const results = m.plannedShards().flatMap((s) => m.slotResults(s.id));
    expect(results.filter((r) => r.outcome !== 'ok' && r.outcome !== 'missing')).toEqual([]);
    expect(results.filter((r) => /401|token/i.test(r.error ?? ''))).toEqual([]);
    const renewal = m.tokenRenewal();
    // several lifetimes: the first token and at least three renewals; every renewal tried was one request and succeeded
    expect(renewal.generation).toBeGreaterThanOrEqual(4);
    expect(renewal).toMatchObject({ requests: renewal.generation, failures: 0, refused: false });
  } finally {
    m.close();
  }
  const granted = c.sim.stats().requests.oauth ?? {};
  expect(Object.keys(granted)).toEqual(['200']);
  expect(granted['200']).toBeGreaterThanOrEqual(4);
  // at most one token request per renewal period across the 4 workers (the first token at the start, then one a period)
  expect(granted['200']).toBeLessThanOrEqual(1 + Math.floor(elapsedMs / RENEWAL_PERIOD_MS));
  expect(c.sim.stats().tokenLeaks).toBe(0);

  // the secret and the tokens: nowhere in ps (the workers were seen running), in the run folder, or in what run printed
  const tokens = c.sim.issuedTokens();
  expect(tokens.length).toBe(granted['200']);
  const workersSeen = snapshots.filter((s) => s.includes(`work --manifest ${c.manifest}`));
  expect(workersSeen.length).toBeGreaterThan(0);
  for (const secret of [SECRET, ...tokens]) {
    expect(snapshots.filter((s) => s.includes(secret))).toEqual([]);
    expect(stderr).not.toContain(secret);
    const holding = (await filesOf(path.dirname(c.manifest))).filter(({ bytes }) => bytes.includes(secret)).map(({ file }) => file);
    expect(holding).toEqual([]);
  }
  expect((await stat(c.tokenFile)).mode & 0o777).toBe(0o600);
  const inFile = (await readFile(c.tokenFile, 'utf8')).trim();
  expect(tokens).toContain(inFile);
}

// the campaign's budget (6 requests/s for ~500 requests: 80 s or more) makes it last four token lifetimes, however fast the machine
const PACED = ['--api-rate', '6', '--max-concurrent', '8', '--min-time-ms', '5'];

describe('a campaign whose tokens live 20 s', () => {
  test('with OAuth2 client credentials: 4 workers finish a window of several lifetimes; one token request per renewal period; no secret or token in ps, logs, manifest or receipts', async () => {
    const c = await campaignWithSource({ hours: '16-17', vehicles: 'mav,megalodon', tokenSource: oauthFlags, pacing: PACED });
    await runAndCheck(c);
  }, 300_000);

  test('with a credential command that mints through the token endpoint: the same', async () => {
    const c = await campaignWithSource({ hours: '16-17', vehicles: 'mav,megalodon', tokenSource: commandFlags, pacing: PACED });
    await runAndCheck(c);
  }, 300_000);

  test('scan --manifest renews the token through the campaign’s source as workers do: every slot answered over several lifetimes', async () => {
    const c = await campaignWithSource({
      hours: '16-17',
      vehicles: 'mav,megalodon',
      tokenSource: oauthFlags,
      pacing: ['--api-rate', '8', '--max-concurrent', '8', '--min-time-ms', '5'],
    });
    const r = await runCli(['scan', '--manifest', c.manifest, '--json', '--progress', 'off'], { timeoutMs: 120_000 });
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as { requests: number; total: { total: number; unknown: number; data: number } };
    // 240 slots at 8 requests/s: 30 s or more, over two token lifetimes
    expect(report.total).toMatchObject({ total: 240, unknown: 0 });
    expect(report.total.data).toBeGreaterThan(0);
    // a request that met the end of a token's life (a 401) was asked again with the next one: none is unknown
    expect(c.sim.stats().requests.oauth).toEqual({ '200': expect.any(Number) });
    const m = openManifest(c.manifest, { readonly: true });
    try {
      expect(m.tokenRenewal()).toMatchObject({ generation: expect.any(Number), failures: 0, refused: false });
      expect(m.tokenRenewal().generation).toBeGreaterThanOrEqual(2);
    } finally {
      m.close();
    }
    for (const secret of [SECRET, ...c.sim.issuedTokens()]) expect(r.stdout + r.stderr).not.toContain(secret);
  }, 150_000);

  test('scan --manifest with a source that refuses: exit 9, one line, nothing asked', async () => {
    const c = await campaignWithSource({ hours: '16-17', vehicles: 'mav', secret: 'not-the-secret-4b1d', tokenSource: oauthFlags });
    const r = await runCli(['scan', '--manifest', c.manifest, '--progress', 'off'], { timeoutMs: 60_000 });
    expect(r.code).toBe(9);
    expect(r.stderr).toMatch(
      /^fleetclip: the token source refused: the identity provider refused the client credentials of 'fleetclip-test'/,
    );
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).not.toContain('not-the-secret-4b1d');
    expect(c.sim.stats().requests).toEqual({ oauth: { '401': 1 } });
  }, 60_000);

  test('a wrong client secret: one token request, one clear line, exit 9 for the run; token --renew tries again once it is fixed', async () => {
    const c = await campaignWithSource({ hours: '16-17', vehicles: 'mav', secret: 'not-the-secret-4b1d', tokenSource: oauthFlags });
    const run = await runCli(['run', '--manifest', c.manifest, '--workers', '4', ...WORKER_FLAGS], { timeoutMs: 60_000 });
    expect(run.code).toBe(9);
    expect(run.stderr).toMatch(
      /the token source refused: the identity provider refused the client credentials of 'fleetclip-test': invalid_client \(the token URL http:\/\/127\.0\.0\.1:\d+\/oauth2\/token, HTTP 401\); fix it, then run `fleetclip token --renew --manifest /,
    );
    expect(run.stderr).not.toContain('not-the-secret-4b1d');
    expect(c.sim.stats().requests.oauth).toEqual({ '401': 1 });
    expect(c.sim.stats().requests.video).toBeUndefined();

    const shown = await runCli(['token', '--manifest', c.manifest]);
    expect(shown.stderr).toBe('');
    expect(shown.code).toBe(9);
    expect(shown.stdout).toContain('REFUSED: the identity provider refused the client credentials');
    const status = await runCli(['status', '--manifest', c.manifest]);
    expect(status.stdout).toContain('REFUSED: the identity provider refused');

    const stillWrong = await runCli(['token', '--manifest', c.manifest, '--renew']);
    expect(stillWrong.code).toBe(9);
    expect(stillWrong.stderr).toMatch(
      /^fleetclip: the token source refused: the identity provider refused the client credentials[^\n]*\n$/,
    );

    await writeFile(c.secretFile, `${SECRET}\n`);
    const renewed = await runCli(['token', '--manifest', c.manifest, '--renew']);
    expect(renewed).toMatchObject({ code: 0, stderr: '' });
    expect(renewed.stdout).toMatch(/renewal: +renewed 1 time\(s\) in 3 request\(s\)/);
    const again = await runCli(['run', '--manifest', c.manifest, '--workers', '2', ...WORKER_FLAGS], { timeoutMs: 60_000 });
    expect(again.code).toBe(0);
  }, 120_000);

  test('token --manifest: a token file not filled yet is "no token in it yet"; a garbled one is said as it is, exit 2', async () => {
    const c = await campaignWithSource({ hours: '16-17', vehicles: 'mav', tokenSource: oauthFlags });
    const empty = await runCli(['token', '--manifest', c.manifest]);
    expect(empty.stdout).toContain('expires:    no token in it yet');
    await writeFile(c.tokenFile, 'not a token\n', { mode: 0o600 });
    const garbled = await runCli(['token', '--manifest', c.manifest]);
    expect(garbled.code).toBe(2);
    expect(garbled.stdout).toBe('');
    expect(garbled.stderr).toMatch(/^fleetclip: [^\n]*\n$/);
  }, 60_000);

  test('a client secret file open to others is refused by plan, with the chmod to run', async () => {
    const c = await campaignWithSource({ hours: '16-17', vehicles: 'mav', tokenSource: oauthFlags });
    const { chmod } = await import('node:fs/promises');
    await chmod(c.secretFile, 0o640);
    const planned = await runCli([
      ...['plan', '--manifest', path.join(c.dir, 'other', 'manifest.sqlite'), '--out', c.out, '--day', '2025-11-17', '--hours', '16-17'],
      ...['--vehicles', 'mav', '--cameras', 'front-center', '--api-base', c.sim.baseUrl, '--token-file', c.tokenFile],
      ...(await oauthFlags({ baseUrl: c.sim.baseUrl, secretFile: c.secretFile })),
    ]);
    expect(planned).toMatchObject({
      code: 2,
      stderr: `fleetclip: the client secret file ${c.secretFile} is open to group or others (mode 0640): run \`chmod 600 ${c.secretFile}\`\n`,
    });
  });
});
