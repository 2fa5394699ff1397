import { afterEach, describe, expect, test } from '@jest/globals';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { type ApiLimits, openTokenSource } from '../../src/api/index.js';
import { ApiError, ClipTooLargeError } from '../../src/errors.js';
import { clipBagBytes } from '../../src/sim/index.js';
import type { ClipOptions } from '../../src/worker/index.js';
import { FAST, filesUnder, rigClient, type RigClient } from '../helpers/api-rig.js';

/**
 * A Batch API that turns on its client: bodies that never end, bodies that expand, bodies that trickle, a Retry-After
 * of weeks. /v1/ behaves; the clip itself comes from `/blobs/*` (a presigned URL) or from /v1/download (`bytes`).
 */
interface Seen {
  method: string;
  path: string;
  acceptEncoding?: string;
}

const TOKEN = 'secret-token-0123456789';
const START = Date.parse('2025-11-17T08:30:00Z') / 1000;
const SLOT = { vehicle: 'mav', camera: 'front-center', start: START };
const BAG = clipBagBytes('mav', 'front-center', START, { clipBytes: 100_000 });
const MiB = 2 ** 20;

let server: http.Server | undefined;
let dir = '';
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve) ?? resolve(undefined));
  server = undefined;
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = '';
});

type Route = (req: IncomingMessage, res: ServerResponse) => void;

/** /v1/video names `a.bag`, /v1/download is ready at once and redirects to /blobs/a (or answers with `download`). */
async function serve(clip: Route, opts: { shape?: 'presigned' | 'bytes'; video?: Route; limits?: Partial<ApiLimits & ClipOptions> } = {}) {
  const seen: Seen[] = [];
  server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    seen.push({
      method: req.method ?? '',
      path: url.pathname,
      ...(req.headers['accept-encoding'] && { acceptEncoding: req.headers['accept-encoding'] }),
    });
    if (url.pathname === '/v1/video' && opts.video) return opts.video(req, res);
    if (url.pathname === '/v1/video') return reply(res, 200, JSON.stringify({ filename: 'a.bag' }), { 'content-type': 'application/json' });
    if (url.pathname === '/v1/download' && req.method === 'HEAD') return reply(res, 200, '');
    if (url.pathname === '/v1/download')
      return opts.shape === 'bytes' ? clip(req, res) : reply(res, 302, '', { location: '/blobs/a?sig=1' });
    if (url.pathname.startsWith('/blobs/')) return clip(req, res);
    reply(res, 404, 'nope');
  });
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  dir = await mkdtemp(path.join(os.tmpdir(), 'fc-hostile-'));
  const logs: string[] = [];
  const client: RigClient = rigClient({
    apiBase: base,
    token: openTokenSource({ env: { FLEETCLIP_TOKEN: TOKEN } }),
    log: { info: (m) => logs.push(m), warn: (m) => logs.push(m), debug: (m) => logs.push(m) },
    ...FAST,
    minClipBytes: 10_000,
    ...opts.limits,
  });
  const bodies = () =>
    seen.filter((s) => (opts.shape === 'bytes' ? s.path === '/v1/download' && s.method === 'GET' : s.path.startsWith('/blobs/')));
  return { base, seen, bodies, client, logs, out: path.join(dir, 'out') };
}

async function until(done: () => boolean): Promise<void> {
  for (const giveUpAt = Date.now() + 10_000; !done();) {
    if (Date.now() > giveUpAt) throw new Error('still not so after 10 s');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function reply(res: ServerResponse, status: number, body: string | Buffer, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'text/plain', 'content-length': String(Buffer.byteLength(body)), ...headers });
  res.end(body);
}

/** Writes `total` bytes in 64 KiB pieces as fast as the client takes them (chunked unless a length is given); counts what the socket accepted. */
function pour(res: ServerResponse, total: number, sent: { bytes: number }, headers: Record<string, string> = {}): void {
  const piece = Buffer.alloc(64 * 1024, 0x61);
  let closed = false;
  res.on('close', () => (closed = true));
  res.writeHead(200, { 'content-type': 'application/octet-stream', ...headers });
  const pump = (): void => {
    while (!closed && sent.bytes < total) {
      sent.bytes += piece.length;
      if (!res.write(piece)) return void res.once('drain', pump);
    }
    if (!closed) res.end();
  };
  pump();
}

describe('a body larger than the per-clip cap', () => {
  test.each([{ shape: 'presigned' as const }, { shape: 'bytes' as const }])(
    'a 150 MiB chunked body ($shape) is stopped at the cap, written no further, and neither fetched nor requested again',
    async ({ shape }) => {
      const sent = { bytes: 0 };
      const { client, out, seen, bodies } = await serve((_req, res) => pour(res, 150 * MiB, sent), {
        shape,
        limits: { maxClipBytes: 4 * MiB },
      });
      const err = await client.fetchSlot({ ...SLOT, outDir: out }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ClipTooLargeError);
      expect(err).toMatchObject({
        code: 'E_CLIP_TOO_LARGE',
        context: { vehicle: 'mav', camera: 'front-center', slot: '2025-11-17T08:30:00Z', status: 200 },
      });
      const stoppedAt = Number(/stopped after (\d+) bytes/.exec((err as Error).message)?.[1]);
      expect(stoppedAt).toBeGreaterThan(4 * MiB);
      expect(stoppedAt).toBeLessThanOrEqual(4 * MiB + 64 * 1024); // one piece beyond the cap, never written
      expect(bodies()).toHaveLength(1);
      expect(seen.filter((s) => s.path === '/v1/video')).toHaveLength(1);
      // what the server got rid of before the client hung up: socket buffers at most, far from 150 MiB
      expect(sent.bytes).toBeLessThan(64 * MiB);
      expect(await filesUnder(out)).toEqual([]);
    },
    60_000,
  );

  test('a Content-Length over the cap is refused before the body is read', async () => {
    const sent = { bytes: 0 };
    const { client, out, bodies } = await serve((_req, res) => pour(res, 150 * MiB, sent, { 'content-length': String(150 * MiB) }), {
      limits: { maxClipBytes: 4 * MiB },
    });
    await expect(client.fetchSlot({ ...SLOT, outDir: out })).rejects.toThrow(
      new ClipTooLargeError(`clip body of ${150 * MiB} bytes (Content-Length) is over the cap of ${4 * MiB} bytes: not downloaded`),
    );
    expect(bodies()).toHaveLength(1);
    expect(sent.bytes).toBeLessThan(64 * MiB);
    expect(await filesUnder(out)).toEqual([]);
  });
});

describe('a compressed body', () => {
  test.each([{ shape: 'presigned' as const }, { shape: 'bytes' as const }])(
    '100 KB of gzip ($shape) is written as the 100 KB it is, never expanded to 100 MB; no request asks for an encoding',
    async ({ shape }) => {
      const bomb = gzipSync(Buffer.alloc(100_000_000), { level: 9 });
      const { client, out, seen } = await serve(
        (_req, res) => reply(res, 200, bomb, { 'content-type': 'application/octet-stream', 'content-encoding': 'gzip' }),
        { shape },
      );
      const tmp = path.join(dir, 'a.part');
      expect(await client.downloadClip('a.bag', tmp)).toBe(bomb.length);
      expect((await stat(tmp)).size).toBe(bomb.length);
      expect(seen.length).toBeGreaterThan(0);
      expect(seen.filter((s) => s.acceptEncoding !== undefined)).toEqual([]);
      // and through the pipeline: gzip bytes are no bag, so the clip is invalid, never a 100 MB temporary
      const o = await client.fetchSlot({ ...SLOT, outDir: out });
      expect(o).toMatchObject({ kind: 'invalid', reason: expect.stringMatching(/^not a readable ROS1 bag/) });
      expect(await filesUnder(out)).toEqual([]);
    },
    60_000,
  );
});

describe('a body that trickles', () => {
  test.each([
    { shape: 'presigned' as const, drip: '#', problem: /too slow: \d+ bytes in \d+(\.\d)? s, under 1000 bytes\/s/ },
    // an answer that may still be a URL is read before anything is written: under the same deadline
    {
      shape: 'bytes' as const,
      drip: 'https://a',
      problem: /too slow: the answer still incomplete after \d+(\.\d)? s, under 1000 bytes\/s/,
    },
  ])(
    'one byte every 50 ms ($shape, "$drip…"): each transfer ends at its deadline (allowance + expected size at the minimum rate), then the clip fails',
    async ({ shape, drip, problem }) => {
      let closedByClient = 0;
      const { client, out, bodies } = await serve(
        (_req, res) => {
          res.writeHead(200, { 'content-type': 'application/octet-stream' });
          let at = 0;
          const dripping = setInterval(() => res.write(drip[at++ % drip.length] as string), 50);
          res.on('close', () => {
            clearInterval(dripping);
            closedByClient++;
          });
        },
        { shape, limits: { downloadAllowanceMs: 200, minDownloadBytesPerSec: 1000, expectedClipBytes: 1000, downloadAttempts: 2 } },
      );
      const err = await client.fetchSlot({ ...SLOT, outDir: out }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ApiError);
      expect((err as Error).message).toMatch(new RegExp(`^download failed 2 times, last: ${problem.source}$`));
      expect(bodies()).toHaveLength(2);
      await until(() => closedByClient === 2); // the client hung up each time (the server hears it a moment later)
      expect(await filesUnder(out)).toEqual([]);
    },
    20_000,
  );

  test('a small /v1/ answer that trickles is cut responseTimeoutMs after its headers, one line with the slot', async () => {
    let closedByClient = 0;
    const { client, out } = await serve((_req, res) => reply(res, 404, 'unused'), {
      video: (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        const answer = `${JSON.stringify({ filename: 'a.bag' })}${' '.repeat(100_000)}`;
        let at = 0;
        const dripping = setInterval(() => res.write(answer[at++] as string), 50);
        res.on('close', () => {
          clearInterval(dripping);
          closedByClient++;
        });
      },
      limits: { responseTimeoutMs: 300 },
    });
    const err = await client.fetchSlot({ ...SLOT, outDir: out }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({
      message: expect.stringMatching(/^answer still arriving 0\.3 s after its headers \(\d+ bytes so far\): cut$/),
      context: { vehicle: 'mav', camera: 'front-center', slot: '2025-11-17T08:30:00Z' },
    });
    await until(() => closedByClient === 1);
  }, 20_000);

  test('a body slower than expected but above the minimum rate is not cut: the deadline grows with the bytes received', async () => {
    const { client, out } = await serve(
      (_req, res) => {
        // 100 kB at ~40 kB/s, 8 times the minimum rate: ~2.5 s, past the 1 s + 5 kB / 5 kB/s = 2 s a fixed deadline
        // for the expected size would allow (and would cut every time)
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(BAG.length) });
        let at = 0;
        const drip = setInterval(() => {
          res.write(BAG.subarray(at, at + 4_000));
          at += 4_000;
          if (at >= BAG.length) {
            clearInterval(drip);
            res.end();
          }
        }, 100);
        res.on('close', () => clearInterval(drip));
      },
      { limits: { downloadAllowanceMs: 1000, minDownloadBytesPerSec: 5_000, expectedClipBytes: 5_000, downloadAttempts: 2 } },
    );
    expect(await client.fetchSlot({ ...SLOT, outDir: out })).toMatchObject({ kind: 'ok', bytes: BAG.length });
  }, 20_000);
});

describe('Retry-After from the presigned host', () => {
  test.each([{ retryAfter: '2000000' }, { retryAfter: new Date(Date.now() + 30 * 86_400_000).toUTCString() }])(
    'a 429 with Retry-After $retryAfter waits maxRetryAfterMs, not weeks',
    async ({ retryAfter }) => {
      let calls = 0;
      const { client, out, logs, base } = await serve(
        (_req, res) =>
          ++calls === 1
            ? reply(res, 429, 'slow down', { 'retry-after': retryAfter })
            : reply(res, 200, BAG, { 'content-type': 'application/octet-stream' }),
        { limits: { maxRetryAfterMs: 100 } },
      );
      expect(await client.fetchSlot({ ...SLOT, outDir: out })).toMatchObject({ kind: 'ok', bytes: BAG.length });
      expect(logs).toContain(`download retry in 100 ms after HTTP 429 from ${base}/…`);
    },
    20_000,
  );
});
