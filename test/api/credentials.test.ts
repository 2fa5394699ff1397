import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { chmod, mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { obtainToken, storeToken } from '../../src/api/index.js';
import { TokenSourceError } from '../../src/errors.js';
import type { TokenSourceSettings } from '../../src/plan/index.js';
import { mintToken, startSimulator, type RunningSimulator } from '../../src/sim/index.js';

const SECRET = 'a secret:with+odd%chars';
let sim: RunningSimulator;
let dir: string;
let secretFile: string;

beforeAll(async () => {
  sim = await startSimulator({ oauthClient: { id: 'client:1', secret: SECRET }, oauthTokenLifetimeSec: 600 });
  dir = await mkdtemp(path.join(os.tmpdir(), 'fc-credentials-'));
  secretFile = path.join(dir, 'secret');
  await writeFile(secretFile, `\n${SECRET}\n`, { mode: 0o600 });
});
afterAll(async () => {
  await sim.close();
  await rm(dir, { recursive: true, force: true });
});

const oauth = (over: Partial<Extract<TokenSourceSettings, { kind: 'oauth2' }>> = {}): TokenSourceSettings => ({
  kind: 'oauth2',
  tokenUrl: `${sim.baseUrl}/oauth2/token`,
  clientId: 'client:1',
  clientSecretFile: secretFile,
  ...over,
});

/** The rejection of `work`, as a TokenSourceError's message and retryable flag. */
async function failureOf(work: Promise<unknown>): Promise<{ message: string; retryable: boolean }> {
  const err = await work.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TokenSourceError);
  const { message, retryable } = err as TokenSourceError;
  return { message, retryable };
}

describe('OAuth2 client credentials', () => {
  test('POSTs the grant with HTTP Basic auth (id and secret form-encoded) and honours expires_in', async () => {
    const before = Date.now();
    const token = await obtainToken(oauth(), dir);
    expect(sim.issuedTokens()).toContain(token.value);
    expect(token.expiresAtMs).toBeGreaterThanOrEqual(before + 600_000);
    expect(token.expiresAtMs).toBeLessThanOrEqual(Date.now() + 600_000);
  });

  test('a wrong secret is refused for good, in one line without the secret', async () => {
    await writeFile(path.join(dir, 'wrong'), 'not-it\n', { mode: 0o600 });
    expect(await failureOf(obtainToken(oauth({ clientSecretFile: path.join(dir, 'wrong') }), dir))).toEqual({
      message: `the identity provider refused the client credentials of 'client:1': invalid_client (the token URL ${sim.baseUrl}/oauth2/token, HTTP 401)`,
      retryable: false,
    });
  });

  test('a 5xx from the token URL may succeed later; an unreachable one too', async () => {
    sim.setFaults({ rate5xx: 1 });
    try {
      expect(await failureOf(obtainToken(oauth(), dir))).toEqual({
        message: expect.stringMatching(/^the token URL .* answered HTTP 50[03]$/),
        retryable: true,
      });
    } finally {
      sim.setFaults({ rate5xx: 0 });
    }
    expect(await failureOf(obtainToken(oauth({ tokenUrl: 'http://127.0.0.1:9/oauth2/token' }), dir))).toEqual({
      message: 'cannot reach the token URL http://127.0.0.1:9/oauth2/token: ECONNREFUSED',
      retryable: true,
    });
  });

  test('a secret file open to others is refused before any request, with the chmod to run', async () => {
    const open = path.join(dir, 'open-secret');
    await writeFile(open, `${SECRET}\n`);
    await chmod(open, 0o644);
    const requests = sim.stats().requests.oauth;
    expect(await failureOf(obtainToken(oauth({ clientSecretFile: open }), dir))).toEqual({
      message: `the client secret file ${open} is open to group or others (mode 0644): run \`chmod 600 ${open}\``,
      retryable: false,
    });
    expect(sim.stats().requests.oauth).toEqual(requests);
  });

  test('a secret file that cannot be read (a folder) is refused for good in one line, before any request', async () => {
    const folder = path.join(dir, 'secret-folder');
    await mkdir(folder, { mode: 0o700 });
    const requests = sim.stats().requests.oauth;
    expect(await failureOf(obtainToken(oauth({ clientSecretFile: folder }), dir))).toEqual({
      message: `cannot read the client secret file ${folder}: EISDIR`,
      retryable: false,
    });
    expect(sim.stats().requests.oauth).toEqual(requests);
  });

  test('a plain http:// token URL beyond loopback is refused before the secret is read', async () => {
    expect(
      await failureOf(obtainToken(oauth({ tokenUrl: 'http://idp.example.com/oauth2/token', clientSecretFile: '/nonexistent' }), dir)),
    ).toEqual({
      message:
        "the token URL http://idp.example.com/oauth2/token is plain http:// beyond loopback ('http://idp.example.com/oauth2/token'): the client secret would travel unencrypted; use https://",
      retryable: false,
    });
  });

  test('a redirect is not followed: the secret goes to the configured URL only', async () => {
    let redirectedTo = 0;
    const server = http.createServer((req, res) => {
      if (req.url === '/elsewhere') redirectedTo++;
      res.writeHead(307, { location: '/elsewhere' }).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/token`;
      expect(await failureOf(obtainToken(oauth({ tokenUrl: url }), dir))).toEqual({
        message: `the token URL ${url} answered a redirect (HTTP 307), which is not followed: configure the final URL`,
        retryable: false,
      });
      expect(redirectedTo).toBe(0);
    } finally {
      server.close();
    }
  });
});

describe('a credential command', () => {
  const command = (text: string): TokenSourceSettings => ({ kind: 'command', command: text });

  test('prints a bare token (a JWT: its exp is the expiry), runs in the given folder', async () => {
    const jwt = mintToken({ expiresAtSec: 2_000_000_000 });
    await writeFile(path.join(dir, 'token.txt'), `${jwt}\n`);
    expect(await obtainToken(command('cat token.txt'), dir)).toEqual({ value: jwt, expiresAtMs: 2_000_000_000_000 });
  });

  test('prints JSON {token, expiresAt}', async () => {
    expect(await obtainToken(command(`echo '{"token": "opaque-1234", "expiresAt": "2030-01-02T03:04:05Z"}'`), dir)).toEqual({
      value: 'opaque-1234',
      expiresAtMs: Date.parse('2030-01-02T03:04:05Z'),
    });
  });

  test.each([
    { run: 'exit 3', retryable: true, message: 'the credential command exited 3' },
    { run: 'echo "idp down" >&2; exit 1', retryable: true, message: 'the credential command exited 1: idp down' },
    {
      run: 'no-such-command-xyz',
      retryable: false,
      message: expect.stringMatching(/^the credential command could not run \(127\): .*not found$/),
    },
    { run: 'echo', retryable: false, message: "the token in the credential command's output is empty" },
    { run: `echo '{"token": 5}'`, retryable: false, message: 'the credential command printed JSON without a "token" string' },
    {
      run: `echo '{"token": "t-1", "expiresAt": "soon"}'`,
      retryable: false,
      message: 'the credential command printed an "expiresAt" that is not an ISO-8601 time',
    },
  ])('`$run` fails (retryable: $retryable)', async ({ run, retryable, message }) => {
    expect(await failureOf(obtainToken(command(run), dir))).toEqual({ message, retryable });
  });

  test('what the command prints never reaches an error: its token is cut out of a stderr line that repeats it', async () => {
    const failure = await failureOf(obtainToken(command('echo tok-very-secret-1; echo "got tok-very-secret-1" >&2; exit 2'), dir));
    expect(failure.message).toBe('the credential command exited 2: got [redacted]');
  });

  test('one that runs too long is stopped and may succeed later', async () => {
    const limits = { requestTimeoutMs: 1000, commandTimeoutMs: 200, maxAnswerBytes: 1024 };
    expect(await failureOf(obtainToken(command('sleep 5'), dir, limits))).toEqual({
      message: 'the credential command was stopped after 0.2 s',
      retryable: true,
    });
  });
});

describe('storeToken', () => {
  test('replaces the token file atomically, owner-only, leaving no temporary behind', async () => {
    const file = path.join(dir, 'store', 'token');
    await storeToken(file, 'first-token');
    await chmod(file, 0o644);
    await storeToken(file, 'second-token');
    expect(await readFile(file, 'utf8')).toBe('second-token\n');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(await readdir(path.dirname(file))).toEqual(['token']);
  });
});
