import { afterEach, describe, expect, test } from '@jest/globals';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { openManifest } from '../../src/manifest/index.js';
import { CLI, runMain } from '../helpers/cli.js';
import { LONG_TOKEN, tokenPiecesIn } from '../helpers/secrets.js';
import { spawn } from 'node:child_process';
import { DAY, WORKER_FLAGS, exitOf, filesUnder } from './campaign.js';

let dir: string | undefined;
let server: http.Server | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
  server = undefined;
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

/** A Batch API on loopback that refuses every clip request with 400 and a body of `pad(n)` spaces and the token. */
async function hostileApi(pad: (n: number) => number): Promise<string> {
  let requests = 0;
  server = http.createServer((req, res) => {
    if (!req.url?.startsWith('/v1/video')) return void res.writeHead(404).end();
    res.writeHead(400, { 'content-type': 'text/plain' }).end(`${' '.repeat(pad(requests++))}${LONG_TOKEN}`);
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A planned campaign of one vehicle-hour and two cameras (240 slots) against `apiBase`, its token in a 0600 file. */
async function campaignAgainst(apiBase: string, plan: string[] = []) {
  dir = await mkdtemp(path.join(os.tmpdir(), 'fc-secrets-'));
  const tokenFile = path.join(dir, 'token');
  await writeFile(tokenFile, `${LONG_TOKEN}\n`, { mode: 0o600 });
  const run = path.join(dir, 'run');
  const c = { dir, run, manifest: path.join(run, 'manifest.sqlite'), out: path.join(run, 'clips'), tokenFile };
  const planned = await runMain([
    ...['plan', '--manifest', c.manifest, '--out', c.out, '--day', DAY, '--hours', '16-17', '--vehicles', 'mav'],
    ...['--cameras', 'front-center,left-center', '--api-base', apiBase, '--token-file', tokenFile, ...plan],
  ]);
  expect(planned).toMatchObject({ code: 0, stderr: '' });
  return c;
}

const work = (manifest: string, extra: string[] = []) =>
  spawn(process.execPath, [CLI, 'work', '--manifest', manifest, ...WORKER_FLAGS, ...extra], { stdio: ['ignore', 'ignore', 'pipe'] });

describe('the token in a hostile server answer', () => {
  test('fleetclip work: no piece of it (12+ characters) in slot errors, receipts, the log, any file of the run, or stderr', async () => {
    // 240 clip requests, each with the token at another offset: 200..439 spaces, across the 320-byte cut of a snippet
    const c = await campaignAgainst(await hostileApi((n) => 200 + (n % 240)));
    const worker = await exitOf(work(c.manifest));
    expect(worker.code).toBe(1); // every slot failed: the shard failed

    const m = openManifest(c.manifest, { readonly: true });
    const errors = m.plannedShards().flatMap((s) => m.slotResults(s.id).map((r) => r.error ?? ''));
    m.close();
    expect(errors).toHaveLength(240);
    expect(new Set(errors)).toEqual(new Set(['clip request refused: "[redacted]"']));

    const written = await filesUnder(c.run);
    expect(written).toEqual(
      expect.arrayContaining(['manifest.sqlite', 'campaign.json', expect.stringMatching(/^receipts\//), expect.stringMatching(/^logs\//)]),
    );
    for (const file of written)
      expect({ file, pieces: tokenPiecesIn(await readFile(path.join(c.run, file), 'latin1'), LONG_TOKEN, 12) }).toEqual({
        file,
        pieces: [],
      });
    expect(worker.stderr).toContain('clip failed: clip request refused: "[redacted]"');
    expect(tokenPiecesIn(worker.stderr, LONG_TOKEN, 12)).toEqual([]);
  }, 60_000);
});
