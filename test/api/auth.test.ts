import { afterEach, describe, expect, test } from '@jest/globals';
import { createBatchApiClient, openTokenSource, type TokenSource } from '../../src/api/index.js';
import { AuthExpiredError, EXIT, oneLine } from '../../src/errors.js';
import { mintToken, writeTokenFile } from '../../src/sim/index.js';
import type { TruthSlot } from '../../src/sim/index.js';
import { DAY, FAST, type Rig, filesUnder, startRig } from '../helpers/api-rig.js';

let rig: Rig | undefined;
afterEach(async () => {
  if (rig) expect(rig.sim.stats().tokenLeaks).toBe(0);
  await rig?.close();
  rig = undefined;
});

function slots(r: Rig, count: number): TruthSlot[] {
  return r.sim.config.vehicles
    .flatMap((vehicle) => r.sim.truth({ day: DAY, vehicle, camera: 'front-center', from: '08:00', to: '08:02' }))
    .slice(0, count);
}

const fetchAll = (r: Rig, list: TruthSlot[], limits = {}) => {
  const client = r.client(limits);
  return Promise.all(list.map((s) => client.fetchSlot({ vehicle: s.vehicle, camera: s.camera, start: s.start, outDir: r.out })));
};

describe('token expiry and renewal', () => {
  test('a token that expires mid-run and is renewed in the file costs no clip, and is announced once', async () => {
    const nowSec = Math.floor(Date.now() / 1000);
    const first = mintToken({ expiresAtSec: nowSec + 2 });
    const renewed = mintToken({ expiresAtSec: nowSec + 3600 });
    rig = await startRig({ timeScale: 1, processingDelayMs: { min: 1500, max: 3000 } }, [first, renewed]);
    const r = rig;
    writeTokenFile(r.tokenFile, first);
    const list = slots(r, 6);
    expect(list.length).toBeGreaterThanOrEqual(4);
    const renewal = new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        if (!r.logs.some((l) => l.level === 'warn')) return;
        clearInterval(timer);
        setTimeout(() => resolve(writeTokenFile(r.tokenFile, renewed)), 300);
      }, 20);
    });
    const outcomes = await fetchAll(r, list);
    await renewal;
    expect(outcomes.map((o) => o.kind === 'ok' && o.sha256)).toEqual(list.map((s) => s.sha256));
    const warnings = r.logs.filter((l) => l.level === 'warn');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.message).toBe(
      `the Batch API refused the token (JWT exp ${new Date((nowSec + 2) * 1000).toISOString()}): put a new token in ${r.tokenFile}; waiting up to 15m for it`,
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
    const client = r.client({ authGraceMs: 1500 });
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
    const t1 = Date.now();
    await expect(client.requestClip(s.vehicle, s.camera, s.start)).rejects.toBeInstanceOf(AuthExpiredError);
    expect(Date.now() - t1).toBeLessThan(1000); // no second grace period (1.5 s)
    expect(await filesUnder(r.out)).toEqual([]);
  });

  test('a 401 after the token file changed is retried at once, without waiting or warning', async () => {
    const good = mintToken({ expiresAtSec: Date.now() / 1000 + 3600 });
    rig = await startRig({}, [good]);
    const r = rig;
    let reads = 0;
    // the file changed between the request and its 401: the first read sees the old token, later ones the new
    const source: TokenSource = {
      kind: 'file',
      where: r.tokenFile,
      renewable: true,
      current: async () => ({ value: reads++ === 0 ? 'stale-token' : good }),
    };
    const client = createBatchApiClient({
      apiBase: r.sim.baseUrl,
      token: source,
      ...FAST,
      log: { info() {}, debug() {}, warn: (m) => r.logs.push({ level: 'warn', message: m }) },
    });
    const [s] = slots(r, 1) as [TruthSlot];
    const t0 = Date.now();
    expect(await client.requestClip(s.vehicle, s.camera, s.start)).toMatchObject({ kind: 'requested' });
    expect(Date.now() - t0).toBeLessThan(1500);
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
