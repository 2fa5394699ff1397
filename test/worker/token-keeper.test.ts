import { afterEach, describe, expect, test } from '@jest/globals';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createBatchApiClient, openTokenSource, storeToken } from '../../src/api/index.js';
import { openWorkerManifest, type WorkerManifest } from '../../src/manifest/index.js';
import { startSimulator, type RunningSimulator } from '../../src/sim/index.js';
import { TokenKeeper } from '../../src/worker/index.js';
import { runMain } from '../helpers/cli.js';
import { planArgs, waitFor } from './campaign.js';

const CLIENT_ID = 'keeper-test';
const SECRET = 'keeper-secret-93b1f0e2';

interface Rig {
  dir: string;
  sim: RunningSimulator;
  manifest: string;
  tokenFile: string;
  logs: { level: string; message: string }[];
  manifests: WorkerManifest[];
  keepers: TokenKeeper[];
}

let rig: Rig | undefined;
afterEach(async () => {
  if (!rig) return;
  for (const k of rig.keepers) await k.stop();
  for (const m of rig.manifests) m.close();
  await rig.sim.close();
  await rm(rig.dir, { recursive: true, force: true });
  rig = undefined;
});

/** A simulator with an OAuth2 client, and a campaign planned with it as its token source (no token file yet). */
async function startRig(lifetimeSec: number): Promise<Rig> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'fc-keeper-'));
  const sim = await startSimulator({
    clipBytes: 64 * 1024,
    timeScale: 0.05,
    oauthClient: { id: CLIENT_ID, secret: SECRET },
    oauthTokenLifetimeSec: lifetimeSec,
  });
  const secretFile = path.join(dir, 'secret');
  await writeFile(secretFile, `${SECRET}\n`, { mode: 0o600 });
  const c = { manifest: path.join(dir, 'run', 'manifest.sqlite'), out: path.join(dir, 'clips'), tokenFile: path.join(dir, 'token'), sim };
  const planned = await runMain(
    planArgs(c, {
      hours: '16-17',
      vehicles: 'mav',
      cameras: 'front-center',
      plan: ['--oauth-token-url', `${sim.baseUrl}/oauth2/token`, '--client-id', CLIENT_ID, '--client-secret-file', secretFile],
    }),
  );
  expect(planned.code).toBe(0);
  return (rig = { dir, sim, manifest: c.manifest, tokenFile: c.tokenFile, logs: [], manifests: [], keepers: [] });
}

/** A keeper as a worker has one: its own manifest connection, logging into the rig. */
function keeperOf(r: Rig, holder: string, limits: ConstructorParameters<typeof TokenKeeper>[0]['limits'] = {}): TokenKeeper {
  const manifest = openWorkerManifest(r.manifest);
  r.manifests.push(manifest);
  const log = (level: string) => (message: string) => void r.logs.push({ level, message });
  const settings = manifest.settings();
  const keeper = new TokenKeeper({
    source: settings.tokenSource!,
    tokenFile: settings.tokenFile,
    ledger: manifest,
    holder,
    manifestPath: r.manifest,
    log: { info: log('info'), warn: log('warn'), debug: log('debug') },
    limits,
  });
  r.keepers.push(keeper);
  return keeper;
}

describe('TokenKeeper on the simulator', () => {
  test('four workers on four connections: one token request per renewal, the others wait for it', async () => {
    const r = await startRig(2);
    const keepers = ['w1', 'w2', 'w3', 'w4'].map((id) => keeperOf(r, id));
    for (const k of keepers) k.start();
    await Promise.all(keepers.map((k) => k.ensureToken()));
    const ledger = r.manifests[0]!;
    // tokens of 2 s are renewed every 1.8 s: three more renewals
    await waitFor(() => ledger.tokenRenewal().generation >= 4, 30_000, 'four renewals');
    for (const k of keepers) await k.stop();
    const state = ledger.tokenRenewal();
    expect(state.requests).toBe(state.generation);
    expect(r.sim.stats().requests.oauth).toEqual({ '200': state.generation });
    expect(r.logs.filter((l) => l.level === 'warn')).toEqual([]);
  }, 60_000);

  test('a renewal that fails transiently is retried with backoff, said in the log and in status; the next one succeeds', async () => {
    const r = await startRig(3600);
    r.sim.setFaults({ rate5xx: 1 });
    const keeper = keeperOf(r, 'w1', { retryBaseMs: 200, retryCapMs: 400 });
    const ledger = r.manifests[0]!;
    keeper.start();
    await waitFor(() => ledger.tokenRenewal().failures >= 2, 20_000, 'two failed renewals');
    const failing = ledger.tokenRenewal();
    expect(failing).toMatchObject({
      generation: 0,
      refused: false,
      lastError: expect.stringMatching(/^the token URL http:\/\/127\.0\.0\.1:\d+\/oauth2\/token answered HTTP 50[03]$/),
    });
    expect(r.logs.find((l) => l.level === 'warn')?.message).toMatch(
      /^token renewal failed \(1 in a row\): the token URL .* answered HTTP 50[03]; retrying at /,
    );
    const status = await runMain(['status', '--manifest', r.manifest]);
    expect(status.stdout).toMatch(/last renewal FAILED \(\d+ in a row\): the token URL .* answered HTTP 50[03]; retrying /);

    r.sim.setFaults({ rate5xx: 0 });
    await keeper.ensureToken();
    const state = ledger.tokenRenewal();
    expect(state).toMatchObject({ generation: 1, failures: 0, refused: false });
    expect(state.lastError).toBeUndefined();
    const oauth = r.sim.stats().requests.oauth ?? {};
    expect(oauth['200']).toBe(1);
    expect((oauth['500'] ?? 0) + (oauth['503'] ?? 0)).toBe(state.requests - 1);
  }, 60_000);

  test('a 401 for a token the schedule still trusts (revoked) renews it, and the refused request goes through', async () => {
    const r = await startRig(3600);
    const keeper = keeperOf(r, 'w1');
    await keeper.renewNow();
    // the token in the file is replaced (atomically: an empty file would be due) by one the API does not know; the
    // schedule says the next renewal is in an hour
    await storeToken(r.tokenFile, 'revoked-token-0000');
    keeper.start();
    const client = createBatchApiClient({
      apiBase: r.sim.baseUrl,
      token: openTokenSource({ tokenFile: r.tokenFile, renewer: keeper }),
      tokenPollMs: 50,
      log: { info() {}, debug() {}, warn: (message) => r.logs.push({ level: 'warn', message }) },
    });
    const outcome = await client.requestClip('mav', 'front-center', Date.parse('2025-11-17T16:30:00Z') / 1000);
    expect(['requested', 'missing']).toContain(outcome.kind);
    expect(r.sim.stats().requests.video).toMatchObject({ '401': 1 });
    expect(r.manifests[0]!.tokenRenewal()).toMatchObject({ generation: 2, requests: 2 });
    expect(r.logs.filter((l) => l.level === 'warn').map((l) => l.message)).toEqual([
      expect.stringMatching(
        /^the Batch API refused the token: renewing it through OAuth2 client credentials of client 'keeper-test' at .*; waiting up to 15m for it$/,
      ),
    ]);
  }, 30_000);
});
