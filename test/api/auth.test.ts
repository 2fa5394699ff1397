import { afterEach, describe, expect, test } from '@jest/globals';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createBatchApiClient, jwtExpiry, openTokenSource, type TokenSource } from '../../src/api/index.js';
import { AuthExpiredError, EXIT, oneLine } from '../../src/errors.js';
import { mintToken, writeTokenFile } from '../../src/sim/index.js';
import type { TruthSlot } from '../../src/sim/index.js';
import { DAY, FAST, type Rig, filesUnder, rigClient, startRig } from '../helpers/api-rig.js';

let rig: Rig | undefined;
let serverDir: string | undefined;
afterEach(async () => {
  if (rig) expect(rig.sim.stats().tokenLeaks).toBe(0);
  await rig?.close();
  rig = undefined;
  if (serverDir) await rm(serverDir, { recursive: true, force: true });
  serverDir = undefined;
});

function slots(r: Rig, count: number): TruthSlot[] {
  return r.sim.config.vehicles
    .flatMap((vehicle) => r.sim.truth({ day: DAY, vehicle, camera: 'front-center', from: '08:00', to: '08:02' }))
    .slice(0, count);
}

/** A token source that counts its reads: a wait for a renewal shows as polls of it, whatever the machine's speed. */
function countingSource(source: TokenSource): TokenSource & { reads: number } {
  const counted = {
    ...source,
    reads: 0,
    current: () => {
      counted.reads++;
      return source.current();
    },
  };
  return counted;
}

describe('token expiry and renewal', () => {
  test('a token refused mid-run and renewed in the file costs no clip, and is announced once', async () => {
    const first = mintToken({ expiresAtSec: Math.floor(Date.now() / 1000) + 3600 });
    const renewed = mintToken({ expiresAtSec: Math.floor(Date.now() / 1000) + 7200 });
    // the tokens the server accepts live in a file of its own: the test refuses `first` at a moment it chooses (after
    // every clip was requested, before any was downloaded), not when a clock says so
    serverDir = await mkdtemp(path.join(os.tmpdir(), 'fc-auth-'));
    const serverTokens = path.join(serverDir, 'valid');
    writeTokenFile(serverTokens, `${first}\n${renewed}`);
    rig = await startRig({ tokenFile: serverTokens }, []);
    const r = rig;
    writeTokenFile(r.tokenFile, first);
    const list = slots(r, 6);
    expect(list.length).toBeGreaterThanOrEqual(4);
    const client = r.client();
    const filenames = await Promise.all(list.map(async (s) => client.requestClip(s.vehicle, s.camera, s.start)));
    writeTokenFile(serverTokens, renewed);
    const renewal = new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        if (!r.logs.some((l) => l.level === 'warn')) return;
        clearInterval(timer);
        resolve(writeTokenFile(r.tokenFile, renewed));
      }, 20);
    });
    const outcomes = await Promise.all(
      list.map((s, i) => {
        const requested = filenames[i]!;
        expect(requested.kind).toBe('requested');
        const knownFilename = requested.kind === 'requested' ? requested.filename : '';
        return client.fetchSlot({ vehicle: s.vehicle, camera: s.camera, start: s.start, outDir: r.out, knownFilename });
      }),
    );
    await renewal;
    expect(outcomes.map((o) => o.kind === 'ok' && o.sha256)).toEqual(list.map((s) => s.sha256));
    const warnings = r.logs.filter((l) => l.level === 'warn');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.message).toBe(
      `the Batch API refused the token (JWT exp ${new Date(jwtExpiry(first)! * 1000).toISOString()}): put a new token in ${r.tokenFile}; waiting up to 15m for it`,
    );
    expect(r.logs.filter((l) => l.message === `picked up a new token from ${r.tokenFile}`)).toHaveLength(1);
    const stats = r.sim.stats();
    expect(stats.requests.download?.['401']).toBeGreaterThan(0);
    expect(stats.requests.video?.['200']).toBe(list.length); // nothing requested twice
    expect(r.logs.some((l) => l.message.includes(first) || l.message.includes(renewed))).toBe(false);
  });

  test('no renewal within the grace period: AuthExpiredError naming the file; the next call fails at once', async () => {
    const expired = mintToken({ expiresAtSec: Math.floor(Date.now() / 1000) - 60 });
    rig = await startRig({}, [expired]);
    const r = rig;
    writeTokenFile(r.tokenFile, expired);
    const [s] = slots(r, 1) as [TruthSlot];
    const token = countingSource(openTokenSource({ tokenFile: r.tokenFile }));
    const log = (level: string) => (message: string) => void r.logs.push({ level, message });
    const client = rigClient({
      apiBase: r.sim.baseUrl,
      token,
      ...FAST,
      authGraceMs: 1500,
      log: { info: log('info'), warn: log('warn'), debug: log('debug') },
    });
    const t0 = Date.now();
    const err = await client.fetchSlot({ vehicle: s.vehicle, camera: s.camera, start: s.start, outDir: r.out }).catch((e: unknown) => e);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1500);
    expect(err).toBeInstanceOf(AuthExpiredError);
    expect((err as AuthExpiredError).exitCode).toBe(EXIT.authExpired);
    expect(oneLine(err as AuthExpiredError)).toMatch(
      new RegExp(
        `^the Batch API token expired \\(JWT exp [0-9T:.Z-]+\\): put a new token in ${r.tokenFile} and resubmit \\[${s.vehicle} front-center [0-9T:Z-]+\\]$`,
      ),
    );
    expect(oneLine(err as AuthExpiredError)).not.toContain(expired);
    expect(r.logs.filter((l) => l.level === 'warn')).toHaveLength(1);
    token.reads = 0;
    await expect(client.requestClip(s.vehicle, s.camera, s.start)).rejects.toBeInstanceOf(AuthExpiredError);
    // the token it sent and the one it found after the 401: no second grace period polling the file
    expect(token.reads).toBe(2);
    expect(r.logs.filter((l) => l.level === 'warn')).toHaveLength(1);
    expect(await filesUnder(r.out)).toEqual([]);
  });

  test('a 401 after the token file changed is retried at once, without waiting or warning', async () => {
    const good = mintToken({ expiresAtSec: Date.now() / 1000 + 3600 });
    rig = await startRig({}, [good]);
    const r = rig;
    // the file changed between the request and its 401: the first read sees the old token, later ones the new
    const source = countingSource({
      kind: 'file',
      where: r.tokenFile,
      renewable: true,
      current: async () => ({ value: source.reads === 1 ? 'stale-token' : good }),
    });
    const client = createBatchApiClient({
      apiBase: r.sim.baseUrl,
      token: source,
      ...FAST,
      log: { info() {}, debug() {}, warn: (m) => r.logs.push({ level: 'warn', message: m }) },
    });
    const [s] = slots(r, 1) as [TruthSlot];
    expect(await client.requestClip(s.vehicle, s.camera, s.start)).toMatchObject({ kind: 'requested' });
    // the stale token sent, the new one found after the 401, the new one sent: no poll of the file in between
    expect(source.reads).toBe(3);
    expect(r.sim.stats().requests.video).toEqual({ '200': 1, '401': 1 });
    expect(r.logs).toEqual([]);
  });

  test('a refused token from FLEETCLIP_TOKEN cannot be renewed in flight: AuthExpiredError at once', async () => {
    rig = await startRig();
    const r = rig;
    const client = createBatchApiClient({
      apiBase: r.sim.baseUrl,
      token: openTokenSource({ env: { FLEETCLIP_TOKEN: 'not-a-known-token' } }),
      ...FAST,
    });
    const [s] = slots(r, 1) as [TruthSlot];
    await expect(client.requestClip(s.vehicle, s.camera, s.start)).rejects.toThrow(
      /^the Batch API token expired: set a new token in FLEETCLIP_TOKEN and resubmit$/,
    );
  });
});
