import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { type BatchApiClient, createBatchApiClient, openTokenSource } from '../../src/api/index.js';
import { bodySnippet } from '../../src/api/redact.js';
import { FleetclipError, oneLine } from '../../src/errors.js';
import { FAST } from '../helpers/api-rig.js';
import { LONG_TOKEN, tokenPiecesIn } from '../helpers/secrets.js';

const START = Date.parse('2025-11-17T08:30:00Z') / 1000;

/** What the hostile server answers next, to every request: it knows the token (every /v1/ request carries it). */
let answer: { status: number; body: string; headers?: Record<string, string> } = { status: 400, body: '' };
let server: http.Server;
let client: BatchApiClient;
const logged: string[] = [];

beforeAll(async () => {
  server = http.createServer((_req, res) => {
    res.writeHead(answer.status, { 'content-type': 'text/plain', ...answer.headers });
    res.end(answer.body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const line = (m: string) => void logged.push(m);
  client = createBatchApiClient({
    apiBase: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    token: openTokenSource({ env: { FLEETCLIP_TOKEN: LONG_TOKEN } }),
    ...FAST,
    backoffBaseMs: 0,
    maxAttempts: 2,
    downloadAttempts: 2,
    log: { info: line, warn: line, debug: line },
  });
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

/** The one line a user would see for what `call` threw. */
async function failureLine(call: () => Promise<unknown>): Promise<string> {
  const err = await call().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(FleetclipError);
  return oneLine(err as FleetclipError);
}

/** Offsets (spaces before the token) that lead to a piece of the token of 8 or more characters in what was shown. */
async function leakingOffsets(offsets: number[], call: () => Promise<unknown>, status = 400): Promise<number[]> {
  const leaking: number[] = [];
  for (const pad of offsets) {
    answer = { status, body: `${' '.repeat(pad)}${LONG_TOKEN}` };
    const line = await failureLine(call);
    if (tokenPiecesIn(line, LONG_TOKEN, 8).length > 0) leaking.push(pad);
  }
  return leaking;
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('a hostile server that answers with the token gets it back in no message', () => {
  test('400 to a clip request, the token at every offset around the 320-byte cut (0..400 spaces before it)', async () => {
    expect(await leakingOffsets(range(0, 400), () => client.requestClip('mav', 'front-center', START))).toEqual([]);
    answer = { status: 400, body: `${' '.repeat(241)}${LONG_TOKEN}` };
    expect(await failureLine(() => client.requestClip('mav', 'front-center', START))).toBe(
      'clip request refused: "[redacted]" [mav front-center 2025-11-17T08:30:00Z] (HTTP 400)',
    );
  });

  test('400 to a download, the token at every offset around the cut and the 512 bytes of an error body that are read', async () => {
    expect(await leakingOffsets(range(200, 560), () => client.downloadClip('a.bag', '/nonexistent/never-written'))).toEqual([]);
  });

  test('5xx answers retried until the client gives up', async () => {
    expect(await leakingOffsets(range(220, 330), () => client.requestClip('mav', 'front-center', START), 503)).toEqual([]);
  });

  test('the token in a Content-Type or a redirect Location', async () => {
    answer = { status: 200, body: '<html>queued</html>', headers: { 'content-type': `text/html; id=${LONG_TOKEN}` } };
    expect(tokenPiecesIn(await failureLine(() => client.requestClip('mav', 'front-center', START)), LONG_TOKEN, 8)).toEqual([]);
    // a URL scheme (and host) is lowercased on the way: the piece must go all the same
    const scheme = /[A-Za-z][A-Za-z0-9]{19}/.exec(LONG_TOKEN)?.[0];
    answer = { status: 302, body: '', headers: { location: `${scheme}:x` } };
    const line = await failureLine(() => client.downloadClip('a.bag', '/nonexistent/x'));
    expect(line).toContain('not an HTTP URL');
    expect(tokenPiecesIn(line.toLowerCase(), LONG_TOKEN.toLowerCase(), 8)).toEqual([]);
    expect(tokenPiecesIn(logged.join('\n'), LONG_TOKEN, 8)).toEqual([]);
  });
});

describe('bodySnippet', () => {
  test('redacts before it cuts: no piece of 8 or more characters of a secret at any offset, whole or cut by the server', () => {
    for (const pad of range(0, 400))
      for (const kept of [LONG_TOKEN.length, 40, 8]) {
        const snippet = bodySnippet(Buffer.from(`${'x '.repeat(pad / 2)}${' '.repeat(pad % 2)}${LONG_TOKEN.slice(0, kept)}`), [LONG_TOKEN]);
        expect({ pad, kept, pieces: tokenPiecesIn(snippet, LONG_TOKEN, 8) }).toEqual({ pad, kept, pieces: [] });
      }
  });

  test('a piece from the end of the secret (a body that starts mid-token) and one in the middle are cut out too', () => {
    expect(bodySnippet(`${LONG_TOKEN.slice(50)} and ${LONG_TOKEN.slice(10, 30)} end`, [LONG_TOKEN])).toBe('[redacted] and [redacted] end');
  });

  test('a secret shorter than 8 characters is cut out whole, and a short piece of a long one is left', () => {
    expect(bodySnippet('key=abc12 id=abc1', ['abc12'])).toBe('key=[redacted] id=abc1');
    expect(bodySnippet(`x=${LONG_TOKEN.slice(0, 7)}`, [LONG_TOKEN])).toBe(`x=${LONG_TOKEN.slice(0, 7)}`);
  });
});
