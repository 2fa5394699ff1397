import { afterAll, describe, expect, test } from '@jest/globals';
import fs from 'node:fs';
import { openManifest } from '../../src/manifest/index.js';
import { plannedManifest } from './helpers.js';

const runs: string[] = [];
afterAll(() => runs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

/** Two connections to one planned manifest, as two workers on two nodes have. */
function twoWorkers() {
  const { file } = plannedManifest(runs, 1);
  return { a: openManifest(file), b: openManifest(file) };
}

describe('the token renewal lease', () => {
  test('one renewer at a time: the second claim fails while the first holds the lease, and after it renewed (generation moved)', () => {
    const { a, b } = twoWorkers();
    expect(a.tokenRenewal()).toEqual({ generation: 0, requests: 0, failures: 0, refused: false });
    expect(a.claimTokenRenewal('w-a', { generation: 0, leaseMs: 60_000, nowMs: 1000 })).toMatchObject({ holder: 'w-a', requests: 1 });
    expect(b.claimTokenRenewal('w-b', { generation: 0, leaseMs: 60_000, nowMs: 1001 })).toBeUndefined();
    expect(a.finishTokenRenewal('w-a', { ok: true, expiresMs: 10_000, renewAtMs: 9000 }, 2000)).toBe(true);
    // b looked before a renewed (generation 0): its claim is refused, the file already holds a's token
    expect(b.claimTokenRenewal('w-b', { generation: 0, leaseMs: 60_000, nowMs: 2001 })).toBeUndefined();
    expect(b.tokenRenewal()).toEqual({
      generation: 1,
      requests: 1,
      failures: 0,
      refused: false,
      renewedMs: 2000,
      expiresMs: 10_000,
      renewAtMs: 9000,
    });
    expect(b.claimTokenRenewal('w-b', { generation: 1, leaseMs: 60_000, nowMs: 9000 })).toMatchObject({ holder: 'w-b', requests: 2 });
    a.close();
    b.close();
  });

  test('a lapsed lease is taken over, and the lapsed holder cannot record its outcome', () => {
    const { a, b } = twoWorkers();
    a.claimTokenRenewal('w-a', { generation: 0, leaseMs: 1000, nowMs: 0 });
    expect(b.claimTokenRenewal('w-b', { generation: 0, leaseMs: 1000, nowMs: 1001 })).toMatchObject({ holder: 'w-b' });
    expect(a.finishTokenRenewal('w-a', { ok: true }, 1002)).toBe(false);
    expect(b.finishTokenRenewal('w-b', { ok: true }, 1003)).toBe(true);
    expect(a.tokenRenewal()).toMatchObject({ generation: 1, requests: 2 });
    a.close();
    b.close();
  });

  test('a failure holds every claim until its retry time; a refusal until a forced claim (token --renew), which clears it on success', () => {
    const { a, b } = twoWorkers();
    a.claimTokenRenewal('w-a', { generation: 0, leaseMs: 1000, nowMs: 0 });
    a.finishTokenRenewal('w-a', { ok: false, error: 'the token URL answered HTTP 503', refused: false, retryAtMs: 5000 }, 10);
    expect(b.claimTokenRenewal('w-b', { generation: 0, leaseMs: 1000, nowMs: 4999 })).toBeUndefined();
    expect(b.claimTokenRenewal('w-b', { generation: 0, leaseMs: 1000, nowMs: 5000 })).toMatchObject({
      failures: 1,
      lastError: 'the token URL answered HTTP 503',
    });
    b.finishTokenRenewal('w-b', { ok: false, error: 'invalid_client', refused: true }, 5001);
    expect(a.tokenRenewal()).toMatchObject({ failures: 2, refused: true, lastError: 'invalid_client' });
    expect(a.claimTokenRenewal('w-a', { generation: 0, leaseMs: 1000, nowMs: 99_999 })).toBeUndefined();
    expect(a.claimTokenRenewal('admin', { generation: 0, leaseMs: 1000, nowMs: 100_000, force: true })).toMatchObject({ holder: 'admin' });
    a.finishTokenRenewal('admin', { ok: true }, 100_001);
    expect(b.tokenRenewal()).toEqual({ generation: 1, requests: 3, failures: 0, refused: false, renewedMs: 100_001 });
    a.close();
    b.close();
  });
});
