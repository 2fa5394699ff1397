import { afterEach, describe, expect, test } from '@jest/globals';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { CLI } from '../helpers/cli.js';
import { filesUnder, waitFor } from '../worker/campaign.js';

/**
 * A Batch API on loopback that answers one part slowly and never finishes it: the start of the body arrives, then a
 * few bytes every 20 ms. `trickled` counts the writes after the start.
 */
async function stallingApi(
  stallIn: 'request answer' | 'clip body',
): Promise<{ baseUrl: string; trickled: () => number; close(): Promise<void> }> {
  let trickled = 0;
  const trickle = (res: http.ServerResponse, total: number, first: Buffer): void => {
    res.writeHead(200, { 'content-type': stallIn === 'clip body' ? 'application/octet-stream' : 'text/plain', 'content-length': total });
    res.write(first);
    const timer = setInterval(() => res.write(Buffer.from('0'), () => trickled++), 20);
    res.on('close', () => clearInterval(timer));
  };
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (url.pathname === '/v1/video') {
      if (stallIn === 'request answer') trickle(res, 4096, Buffer.from('0123abcd'));
      else res.writeHead(200, { 'content-type': 'text/plain' }).end('0123abcd.bag');
    } else if (url.pathname === '/v1/download' && req.method === 'HEAD') {
      res.writeHead(200).end();
    } else if (url.pathname === '/v1/download') {
      trickle(res, 4_000_000, Buffer.alloc(256 * 1024, 7)); // never all of it: the stall comes first
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    trickled: () => trickled,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('Ctrl-C during fetch', () => {
  test.each([
    // the client is reading the body once the clip's bytes reach its temporary file
    { stallIn: 'clip body' as const, reading: async (out: string) => (await filesUnder(path.join(out, '.partial'))).length > 0 },
    // no file shows it: the answer's headers and first bytes have been out for 10 x 20 ms
    { stallIn: 'request answer' as const, reading: async () => true },
  ])(
    'while it reads the $stallIn: exit 10, one line, no file under the final name',
    async ({ stallIn, reading }) => {
      const api = await stallingApi(stallIn);
      const dir = await mkdtemp(path.join(os.tmpdir(), 'fc-fetch-signal-'));
      cleanups.push(
        () => api.close(),
        () => rm(dir, { recursive: true, force: true }),
      );
      const tokenFile = path.join(dir, 'token');
      await writeFile(tokenFile, 'opaque-test-token\n', { mode: 0o600 });
      const out = path.join(dir, 'out');
      const child = spawn(
        process.execPath,
        [
          ...[CLI, 'fetch', '--api-base', api.baseUrl, '--token-file', tokenFile],
          ...['--vehicle', 'mav', '--camera', 'front-center', '--at', '2025-11-17T16:00:00Z', '--out', out],
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (t: string) => (stdout += t));
      child.stderr.setEncoding('utf8').on('data', (t: string) => (stderr += t));
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));

      await waitFor(async () => api.trickled() >= 10 && (await reading(out)), 20_000, `fetch reading the ${stallIn}`);
      child.kill('SIGINT');
      expect(await exited).toBe(10);
      expect(stderr).toBe('fleetclip: stopped by SIGINT; nothing was saved\n');
      expect(stdout).toBe('');
      expect(await filesUnder(out)).toEqual([]); // neither a clip nor a temporary
    },
    30_000,
  );
});
