import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { expiryOf, startSimulator, type RunningSimulator } from '../../src/sim/index.js';

let sim: RunningSimulator;
beforeAll(async () => {
  sim = await startSimulator({ oauthClient: { id: 'fc', secret: 's3cret' }, oauthTokenLifetimeSec: 1 });
});
afterAll(() => sim.close());

const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;
const grant = (authorization: string, body = 'grant_type=client_credentials', method = 'POST') =>
  fetch(`${sim.baseUrl}/oauth2/token`, {
    method,
    headers: { authorization, 'content-type': 'application/x-www-form-urlencoded' },
    ...(method === 'POST' && { body }),
  });
const video = (token: string) =>
  fetch(`${sim.baseUrl}/v1/video?vehicle=mav&camera=front-center&startTime=1763395200&endTime=1763395230`, {
    headers: { authorization: `Bearer ${token}` },
  });

describe('/oauth2/token', () => {
  test('hands the client a Bearer token that /v1/ accepts until expires_in has passed', async () => {
    const res = await grant(basic('fc', 's3cret'));
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const doc = (await res.json()) as { access_token: string; token_type: string; expires_in: number };
    expect(doc).toMatchObject({ token_type: 'Bearer', expires_in: 1 });
    expect(sim.issuedTokens()).toEqual([doc.access_token]);
    expect(expiryOf(doc.access_token)! * 1000).toBeGreaterThanOrEqual(Date.now() + 0);
    expect((await video(doc.access_token)).status).not.toBe(401);
    await new Promise((r) => setTimeout(r, expiryOf(doc.access_token)! * 1000 - Date.now() + 50));
    expect((await video(doc.access_token)).status).toBe(401);
  });

  test.each([
    { what: 'a wrong secret', authorization: basic('fc', 'nope'), status: 401, body: { error: 'invalid_client' } },
    { what: 'an unknown client', authorization: basic('other', 's3cret'), status: 401, body: { error: 'invalid_client' } },
    { what: 'no credentials', authorization: '', status: 401, body: { error: 'invalid_client' } },
    {
      what: 'another grant',
      authorization: basic('fc', 's3cret'),
      grantBody: 'grant_type=password',
      status: 400,
      body: { error: 'unsupported_grant_type' },
    },
  ])('$what: $status', async ({ authorization, grantBody, status, body }) => {
    const res = await grant(authorization, grantBody);
    expect(res.status).toBe(status);
    expect(await res.json()).toEqual(body);
  });

  test('only POST; faults apply as on every endpoint, counted under `oauth`', async () => {
    expect((await grant(basic('fc', 's3cret'), undefined, 'GET')).status).toBe(405);
    sim.resetStats();
    sim.setFaults({ rate5xx: 1 });
    try {
      expect([500, 503]).toContain((await grant(basic('fc', 's3cret'))).status);
    } finally {
      sim.setFaults({ rate5xx: 0 });
    }
    expect(sim.stats().faults['5xx']).toBe(1);
  });
});

describe('fleetclip sim --oauth-client-id', () => {
  test('takes the secret from a file only, and refuses one flag without the other', async () => {
    const { runMain } = await import('../helpers/cli.js');
    expect(await runMain(['sim', '--oauth-client-id', 'fc'])).toMatchObject({
      code: 2,
      stderr: 'fleetclip: --oauth-client-id and --oauth-client-secret-file go together\n',
    });
    expect(await runMain(['sim', '--oauth-client-id', 'fc', '--oauth-client-secret-file', '/nonexistent/secret'])).toMatchObject({
      code: 2,
      stderr: 'fleetclip: cannot read --oauth-client-secret-file /nonexistent/secret: ENOENT\n',
    });
  });
});
