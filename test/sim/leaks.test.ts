import { afterAll, beforeAll, beforeEach, describe, expect, test } from '@jest/globals';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { mintToken, startSimulator, writeTokenFile, type RunningSimulator } from '../../src/sim/index.js';
import { bearer, request } from './http.js';

const LISTED = mintToken({ expiresAtSec: Date.now() / 1000 + 3600 });
const IN_FILE = mintToken({ expiresAtSec: Date.now() / 1000 + 3600 });
const EXPIRED = mintToken({ expiresAtSec: Date.now() / 1000 - 60 });

let sim: RunningSimulator;
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'fc-leaks-'));
  const tokenFile = path.join(dir, 'token');
  writeTokenFile(tokenFile, IN_FILE);
  sim = await startSimulator({ clipBytes: 64 * 1024, timeScale: 0.01, tokens: [LISTED, EXPIRED], tokenFile });
});
afterAll(async () => {
  await sim.close();
  await rm(dir, { recursive: true, force: true });
});
beforeEach(() => sim.resetStats());

const leaksAfter = async (pathAndQuery: string, headers: Record<string, string> = {}): Promise<number> => {
  await request(`${sim.baseUrl}${pathAndQuery}`, { headers });
  return sim.stats().tokenLeaks;
};

describe('tokenLeaks counts the token wherever but in the Authorization header of a /v1/ request', () => {
  test.each([
    { what: 'an Authorization header on /presigned/', path: '/presigned/abc?expires=1', headers: bearer('anything') },
    { what: 'an Authorization header on /_sim/', path: '/_sim/stats', headers: bearer('anything') },
    { what: 'an Authorization header on an unknown path', path: '/v2/video', headers: { authorization: 'Basic eDp5' } },
    { what: 'the token in a presigned path', path: `/presigned/${LISTED}?expires=1` },
    { what: 'the token in a query', path: `/_sim/none?key=${encodeURIComponent(LISTED)}` },
    { what: 'the token in a /v1/ query', path: `/v1/download?filename=a.bag&token=${LISTED}`, headers: bearer(LISTED) },
    { what: 'a token of the token file', path: `/x/${IN_FILE}` },
    { what: 'an expired token', path: `/presigned/x?sig=${EXPIRED}` },
    { what: 'the token in another header', path: '/presigned/abc?expires=1', headers: { 'x-api-key': LISTED } },
    { what: 'the token in another header of a /v1/ request', path: '/v1/video', headers: { ...bearer(LISTED), cookie: `t=${LISTED}` } },
    { what: 'a bearer token sent to the identity provider', path: '/oauth2/token', headers: bearer(LISTED) },
  ])('$what is one leak', async ({ path: p, headers }) => {
    expect(await leaksAfter(p, headers)).toBe(1);
  });

  test.each([
    { what: 'a /v1/ request with its Authorization header', path: '/v1/download?filename=a.bag', headers: bearer(LISTED) },
    { what: 'a presigned request without one', path: '/presigned/abc?expires=1', headers: {} },
    { what: 'a token-free query', path: '/_sim/none?day=2025-11-17', headers: {} },
    {
      what: "the client's own Basic credentials to the identity provider",
      path: '/oauth2/token',
      headers: { authorization: 'Basic eDp5' },
    },
  ])('$what is none', async ({ path: p, headers }) => {
    expect(await leaksAfter(p, headers)).toBe(0);
  });
});
