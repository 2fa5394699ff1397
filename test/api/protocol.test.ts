import { afterEach, describe, expect, test } from '@jest/globals';
import { mkdtemp, rm } from 'node:fs/promises';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createBatchApiClient, openTokenSource } from '../../src/api/index.js';
import { ApiProtocolError } from '../../src/errors.js';
import { clipBagBytes } from '../../src/sim/index.js';
import { FAST, filesUnder, rigClient, sha256File } from '../helpers/api-rig.js';

/** A hand-written Batch API for shapes the simulator never produces. It records who sent which header. */
interface Seen {
  method: string;
  url: string;
  authorization?: string;
}

let server: http.Server | undefined;
let dir = '';
afterEach(async () => {
  await new Promise((resolve) => server?.close(resolve) ?? resolve(undefined));
  server?.closeAllConnections();
  server = undefined;
  if (dir) await rm(dir, { recursive: true, force: true });
});

const TOKEN = 'secret-token-0123456789';
const START = Date.parse('2025-11-17T08:30:00Z') / 1000;
const BAG = clipBagBytes('mav', 'front-center', START, { clipBytes: 100_000 });

async function serve(route: (req: IncomingMessage, res: ServerResponse, base: string) => void) {
  const seen: Seen[] = [];
  server = http.createServer((req, res) => {
    seen.push({
      method: req.method ?? '',
      url: req.url ?? '',
      ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
    });
    route(req, res, base);
  });
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  dir = await mkdtemp(path.join(os.tmpdir(), 'fc-proto-'));
  const client = rigClient({ apiBase: base, token: openTokenSource({ env: { FLEETCLIP_TOKEN: TOKEN } }), ...FAST, minClipBytes: 10_000 });
  return { base, seen, client, out: path.join(dir, 'out') };
}

const reply = (res: ServerResponse, status: number, body: string | Buffer, headers: Record<string, string> = {}) => {
  res.writeHead(status, { 'content-type': 'text/plain', 'content-length': String(Buffer.byteLength(body)), ...headers });
  res.end(body);
};

/** /v1/video names `filename`, /v1/download is ready at once and answers with `download`. */
function api(filename: string, download: (req: IncomingMessage, res: ServerResponse, base: string) => void) {
  return (req: IncomingMessage, res: ServerResponse, base: string) => {
    const url = new URL(req.url ?? '/', base);
    if (url.pathname === '/v1/video') return reply(res, 200, JSON.stringify({ filename }), { 'content-type': 'application/json' });
    if (url.pathname === '/v1/download' && req.method === 'HEAD') return reply(res, 200, '');
    if (url.pathname === '/v1/download') return download(req, res, base);
    if (url.pathname.startsWith('/blobs/')) return reply(res, 200, BAG, { 'content-type': 'application/octet-stream' });
    reply(res, 404, 'nope');
  };
}

describe('protocol errors', () => {
  test('an unknown 200 shape is an ApiProtocolError with content type and a token-free snippet', async () => {
    const { client } = await serve((req, res) =>
      reply(res, 200, `<html><body>hello ${req.headers.authorization}\n see https://x.example/a?sig=abc</body></html>`, {
        'content-type': 'text/html',
      }),
    );
    const err = await client.requestClip('mav', 'front-center', START).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiProtocolError);
    expect((err as Error).message).toBe(
      'unexpected answer to a clip request: content-type text/html, body "<html><body>hello Bearer [redacted] see https://x.example/a?…"',
    );
  });

  test('a redirect to a non-HTTP target is refused in one line', async () => {
    const { client, out } = await serve(api('a.bag', (_req, res) => reply(res, 302, '', { location: 'ftp://files.example/a.bag' })));
    await expect(client.fetchSlot({ vehicle: 'mav', camera: 'front-center', start: START, outDir: out })).rejects.toThrow(
      new ApiProtocolError('the download location is not an HTTP URL (ftp:)'),
    );
    expect(await filesUnder(out)).toEqual([]);
  });

  test('a server file name like ../../x only travels as a query parameter; the file is named by us', async () => {
    const { client, out, seen } = await serve(
      api('../../x.bag', (_req, res) => reply(res, 200, BAG, { 'content-type': 'application/octet-stream' })),
    );
    const o = await client.fetchSlot({ vehicle: 'mav', camera: 'front-center', start: START, outDir: out });
    expect(o).toMatchObject({ kind: 'ok', path: path.join(out, 'mav_front-center_20251117T083000Z_30s.bag') });
    expect(await filesUnder(dir)).toEqual(['out/mav_front-center_20251117T083000Z_30s.bag']);
    expect(seen.filter((s) => s.url.startsWith('/v1/download')).map((s) => s.url)).toContain('/v1/download?filename=..%2F..%2Fx.bag');
  });

  test.each([
    {
      shape: 'same-host redirect',
      send: (res: ServerResponse, base: string) => reply(res, 302, '', { location: `${base}/blobs/a?sig=1` }),
    },
    { shape: 'relative redirect', send: (res: ServerResponse) => reply(res, 307, '', { location: '/blobs/b?sig=2' }) },
    {
      shape: 'JSON url on the same host',
      send: (res: ServerResponse, base: string) =>
        reply(res, 200, JSON.stringify({ url: `${base}/blobs/c?sig=3` }), { 'content-type': 'application/json' }),
    },
  ])('a presigned URL on the API host ($shape) gets no Authorization header', async ({ send }) => {
    const { client, out, seen } = await serve(api('a.bag', (_req, res, base) => send(res, base)));
    const o = await client.fetchSlot({ vehicle: 'mav', camera: 'front-center', start: START, outDir: out });
    expect(o.kind === 'ok' && (await sha256File(o.path))).toBe(o.kind === 'ok' && o.sha256);
    const blobs = seen.filter((s) => s.url.startsWith('/blobs/'));
    expect(blobs).toHaveLength(1);
    expect(blobs[0]?.authorization).toBeUndefined();
    expect(seen.filter((s) => s.url.startsWith('/v1/')).every((s) => s.authorization === `Bearer ${TOKEN}`)).toBe(true);
  });

  test('an API base with a path prefixes /v1/', async () => {
    const { base, seen } = await serve((_req, res) => reply(res, 404, 'no video'));
    const client = createBatchApiClient({ apiBase: `${base}/batch`, token: openTokenSource({ env: { FLEETCLIP_TOKEN: TOKEN } }), ...FAST });
    expect(await client.requestClip('mav', 'front-center', START)).toEqual({ kind: 'missing' });
    expect(seen[0]?.url).toBe(`/batch/v1/video?vehicle=mav&camera=front-center&startTime=${START}&endTime=${START + 30}`);
  });
});
