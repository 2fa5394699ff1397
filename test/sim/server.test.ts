import { afterAll, afterEach, beforeAll, describe, expect, test } from '@jest/globals';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Bag } from '@foxglove/rosbag';
import {
  DOWNLOAD_SHAPES,
  NEVER_READY_STATUSES,
  VIDEO_SHAPES,
  mintToken,
  startSimulator,
  writeTokenFile,
  type RunningSimulator,
  type SimConfigInput,
  type TruthSlot,
} from '../../src/sim/index.js';
import { bearer, clipBytesOf, filenameOf, readyDownload, request, sha256, videoUrl, type RawResponse } from './http.js';

const DAY = '2025-11-17';
const TOKEN = mintToken({ expiresAtSec: Date.now() / 1000 + 3600 });
const FAST: SimConfigInput = { clipBytes: 64 * 1024, timeScale: 0.01, tokens: [TOKEN], seed: 11 };

const running: RunningSimulator[] = [];
async function sim(extra: SimConfigInput = {}): Promise<RunningSimulator> {
  const s = await startSimulator({ ...FAST, ...extra, faults: { ...extra.faults } });
  running.push(s);
  return s;
}
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.close()));
});

/** Resolves once `reached()` holds, checked every 20 ms: waits for an instant without guessing a sleep. */
async function waitUntil(reached: () => boolean): Promise<void> {
  while (!reached()) await new Promise((r) => setTimeout(r, 20));
}

/** The first n slots with data of one vehicle's front camera within some ten minutes (a narrow, cheap truth query). */
function someSlots(s: RunningSimulator, n = 3, camera = 'front-center'): TruthSlot[] {
  for (let h = 6; h < 24; h++)
    for (const vehicle of s.config.vehicles) {
      const slots = s.truth({
        day: DAY,
        vehicle,
        camera,
        from: `${String(h).padStart(2, '0')}:00`,
        to: `${String(h).padStart(2, '0')}:10`,
      });
      if (slots.length >= n) return slots.slice(0, n);
    }
  throw new Error('no data at all on the test day');
}

async function requestClip(s: RunningSimulator, slot: TruthSlot, token = TOKEN): Promise<string> {
  const res = await request(videoUrl(s, slot.vehicle, slot.camera, slot.start), { headers: bearer(token) });
  expect(res.status).toBe(200);
  return filenameOf(res);
}

async function fetchClip(s: RunningSimulator, slot: TruthSlot): Promise<RawResponse> {
  return clipBytesOf(await readyDownload(s, await requestClip(s, slot), TOKEN));
}

describe('GET /v1/video', () => {
  test.each(VIDEO_SHAPES.map((shape) => ({ shape })))('answers 200 with an opaque filename in the $shape shape', async ({ shape }) => {
    const s = await sim({ videoShapes: [shape] });
    const [slot] = someSlots(s, 1) as [TruthSlot];
    const res = await request(videoUrl(s, slot.vehicle, slot.camera, slot.start), { headers: bearer(TOKEN) });
    expect(res.status).toBe(200);
    const text = res.body.toString();
    if (shape === 'text') {
      expect(res.headers['content-type']).toMatch(/^text\/plain/);
      expect(text).toMatch(/^[0-9a-f]{32}\.bag$/);
    } else {
      expect(res.headers['content-type']).toMatch(/^application\/json/);
      expect(JSON.parse(text)).toEqual(
        shape === 'json-object' ? { filename: expect.stringMatching(/\.bag$/) } : expect.stringMatching(/\.bag$/),
      );
    }
    const name = filenameOf(res);
    expect(name).not.toContain(slot.vehicle);
    expect(name).not.toContain(String(slot.start));
    // a new server-side id per request, even for the same window
    expect(await requestClip(s, slot)).not.toBe(name);
  });

  test('all three shapes occur by default', async () => {
    const s = await sim();
    const types = new Set<string>();
    for (const slot of someSlots(s, 15)) {
      const body = (await request(videoUrl(s, slot.vehicle, slot.camera, slot.start), { headers: bearer(TOKEN) })).body.toString();
      types.add(body.startsWith('{') ? 'json-object' : body.startsWith('"') ? 'json-string' : 'text');
    }
    expect([...types].sort()).toEqual([...VIDEO_SHAPES].sort());
  });

  test('404 with a text body when the window has no video', async () => {
    const s = await sim();
    const slot = someSlots(s, 1)[0] as TruthSlot;
    const start = Date.UTC(2025, 10, 17, 3) / 1000;
    const empty = Array.from({ length: 120 }, (_, i) => start + 30 * i).find((t) =>
      s.truth({ day: DAY, vehicle: slot.vehicle, camera: slot.camera, from: '03:00', to: '04:00' }).every((x) => x.start !== t),
    ) as number;
    const res = await request(videoUrl(s, slot.vehicle, slot.camera, empty), { headers: bearer(TOKEN) });
    expect(res.status).toBe(404);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    expect(res.body.toString()).toContain('no video');
  });

  const t0 = Date.UTC(2025, 10, 17, 10) / 1000;
  const today = Math.floor(Date.now() / 86_400_000) * 86_400;
  test.each([
    { what: 'a missing parameter', query: `vehicle=mav&camera=front-center&startTime=${t0}`, says: 'missing parameter endTime' },
    { what: 'a non-integer time', query: `vehicle=mav&camera=front-center&startTime=${t0}.5&endTime=${t0 + 30}`, says: 'integer' },
    { what: 'an ISO time', query: `vehicle=mav&camera=front-center&startTime=2025-11-17T10:00:00Z&endTime=${t0 + 30}`, says: 'integer' },
    { what: 'end <= start', query: `vehicle=mav&camera=front-center&startTime=${t0}&endTime=${t0}`, says: 'after' },
    { what: 'an unknown vehicle', query: `vehicle=nope&camera=front-center&startTime=${t0}&endTime=${t0 + 30}`, says: 'unknown vehicle' },
    { what: 'an unknown camera', query: `vehicle=mav&camera=rear&startTime=${t0}&endTime=${t0 + 30}`, says: 'unknown camera' },
    { what: 'a window over an hour', query: `vehicle=mav&camera=front-center&startTime=${t0}&endTime=${t0 + 3601}`, says: 'at most' },
    {
      what: 'the current UTC day',
      query: `vehicle=mav&camera=front-center&startTime=${today + 60}&endTime=${today + 90}`,
      says: 'requires the realtime API for the current day',
    },
    {
      what: 'a window reaching into today',
      query: `vehicle=mav&camera=front-center&startTime=${today - 15}&endTime=${today + 15}`,
      says: 'realtime API',
    },
    {
      what: 'the future',
      query: `vehicle=mav&camera=front-center&startTime=${today + 86_400 * 3}&endTime=${today + 86_400 * 3 + 30}`,
      says: 'realtime API',
    },
  ])('400 with a text body for $what', async ({ query, says }) => {
    const s = await sim();
    const res = await request(`${s.baseUrl}/v1/video?${query}`, { headers: bearer(TOKEN) });
    expect(res.status).toBe(400);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    expect(res.body.toString()).toContain(says);
  });
});

describe('authorization', () => {
  test('401 for a missing, a malformed, an unknown and an expired token, on both /v1/ endpoints', async () => {
    const expired = mintToken({ expiresAtSec: Date.now() / 1000 - 5 });
    const s = await sim({ tokens: [TOKEN, expired] });
    const [slot] = someSlots(s, 1) as [TruthSlot];
    const url = videoUrl(s, slot.vehicle, slot.camera, slot.start);
    const cases: [Record<string, string>, string][] = [
      [{}, 'missing bearer token'],
      [{ Authorization: TOKEN }, 'missing bearer token'],
      [bearer(mintToken({ expiresAtSec: Date.now() / 1000 + 60 })), 'unknown token'],
      [bearer(expired), 'token expired'],
    ];
    for (const [headers, says] of cases) {
      for (const u of [url, `${s.baseUrl}/v1/download?filename=x.bag`]) {
        const res = await request(u, { headers });
        expect([res.status, res.body.toString().trim()]).toEqual([401, says]);
        expect(res.headers['www-authenticate']).toMatch(/^Bearer/);
      }
    }
    expect((await request(url, { headers: bearer(TOKEN) })).status).toBe(200);
  });

  test('the token file is re-read on change: a token that then expires, a renewal, then revocation', async () => {
    const file = path.join(await mkdtemp(path.join(tmpdir(), 'fc-sim-auth-')), 'token');
    const s = await sim({ tokens: undefined, tokenFile: file });
    const [slot] = someSlots(s, 1) as [TruthSlot];
    const url = videoUrl(s, slot.vehicle, slot.camera, slot.start);
    expect((await request(url, { headers: bearer(TOKEN) })).status).toBe(401);
    // a JWT's exp is whole seconds: from the next whole second on, 2 more, it lives at least 2 s
    const expiresAtSec = Math.ceil(Date.now() / 1000) + 2;
    const old = mintToken({ expiresAtSec });
    writeTokenFile(file, old);
    expect((await request(url, { headers: bearer(old) })).status).toBe(200);
    await waitUntil(() => Date.now() / 1000 >= expiresAtSec);
    const stale = await request(url, { headers: bearer(old) });
    expect([stale.status, stale.body.toString().trim()]).toEqual([401, 'token expired']);
    const renewed = mintToken({ expiresAtSec: Date.now() / 1000 + 3600 });
    writeTokenFile(file, renewed);
    expect((await request(url, { headers: bearer(renewed) })).status).toBe(200);
    await writeFile(file, '');
    expect((await request(url, { headers: bearer(renewed) })).status).toBe(401);
  });
});

describe('GET|HEAD /v1/download', () => {
  test('is not ready at once: it answers 404, 503 or 500 while processing, a mix of them', async () => {
    const s = await sim({ timeScale: 1, processingDelayMs: { min: 600_000, max: 600_000 } }); // far longer than this test
    const [slot] = someSlots(s, 1) as [TruthSlot];
    const filename = await requestClip(s, slot);
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++)
      for (const method of ['GET', 'HEAD'])
        statuses.push((await request(`${s.baseUrl}/v1/download?filename=${filename}`, { method, headers: bearer(TOKEN) })).status);
    for (const st of statuses) expect([404, 500, 503]).toContain(st);
    expect(new Set(statuses).size).toBeGreaterThan(1);
  });

  test('becomes ready once the processing delay has passed, not before, and stays ready', async () => {
    const s = await sim({ timeScale: 1, processingDelayMs: { min: 400, max: 400 } });
    const [slot] = someSlots(s, 1) as [TruthSlot];
    const requestedMs = Date.now(); // the job's clock starts when the server takes the request, no earlier
    const filename = await requestClip(s, slot);
    const polls: { status: number; answeredMs: number }[] = [];
    const poll = async (method: string) => {
      const res = await request(`${s.baseUrl}/v1/download?filename=${filename}`, { method, headers: bearer(TOKEN) });
      polls.push({ status: res.status, answeredMs: Date.now() });
      return res.status;
    };
    while ((await poll('HEAD')) !== 200) await new Promise((r) => setTimeout(r, 10));
    const ready = polls.at(-1)!;
    expect(ready.answeredMs - requestedMs).toBeGreaterThanOrEqual(400);
    for (const p of polls.slice(0, -1)) expect([404, 500, 503]).toContain(p.status);
    expect([200, 302, 307]).toContain(await poll('GET'));
    expect(await poll('HEAD')).toBe(200);
  });

  test('an unknown filename is 404; a missing one 400', async () => {
    const s = await sim();
    expect((await request(`${s.baseUrl}/v1/download?filename=0000.bag`, { headers: bearer(TOKEN) })).status).toBe(404);
    expect((await request(`${s.baseUrl}/v1/download`, { headers: bearer(TOKEN) })).status).toBe(400);
  });

  test.each(DOWNLOAD_SHAPES.map((shape) => ({ shape })))('the $shape shape leads to the exact bytes of the truth', async ({ shape }) => {
    const s = await sim({ downloadShapes: [shape] });
    const [slot] = someSlots(s, 1) as [TruthSlot];
    const ready = await readyDownload(s, await requestClip(s, slot), TOKEN);
    const expected = {
      'redirect-302': [302, 'text/plain'],
      'redirect-307': [307, 'text/plain'],
      'octet-url': [200, 'application/octet-stream'],
      'text-url': [200, 'text/plain'],
      'json-url': [200, 'application/json'],
      bytes: [200, 'application/octet-stream'],
    }[shape];
    expect([ready.status, String(ready.headers['content-type']).split(';')[0]]).toEqual(expected);
    if (shape.startsWith('redirect')) expect(ready.headers.location).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/presigned\/[\w-]+\?expires=\d+$/);
    const clip = await clipBytesOf(ready);
    expect(clip.status).toBe(200);
    expect(clip.complete).toBe(true);
    expect(sha256(clip.body)).toBe(slot.sha256);
    expect(clip.body.length).toBe(slot.bytes);
    expect(s.stats().tokenLeaks).toBe(0);
  });

  test('HEAD may answer 405 with Allow: GET, and GET still works', async () => {
    const s = await sim({ faults: { headNotAllowedRate: 1 } });
    const [slot] = someSlots(s, 1) as [TruthSlot];
    const filename = await requestClip(s, slot);
    const head = await request(`${s.baseUrl}/v1/download?filename=${filename}`, { method: 'HEAD', headers: bearer(TOKEN) });
    expect([head.status, head.headers.allow]).toEqual([405, 'GET']);
    expect(sha256((await clipBytesOf(await readyDownload(s, filename, TOKEN))).body)).toBe(slot.sha256);
    expect(s.stats().faults['head-405']).toBe(1);
  });
});

describe('GET /presigned', () => {
  async function presignedUrl(s: RunningSimulator, slot: TruthSlot): Promise<string> {
    const ready = await readyDownload(s, await requestClip(s, slot), TOKEN);
    return String(ready.headers.location);
  }

  test('supports Range: 206 with Content-Range, suffix ranges, 416 past the end', async () => {
    const s = await sim({ downloadShapes: ['redirect-302'] });
    const [slot] = someSlots(s, 1) as [TruthSlot];
    const url = await presignedUrl(s, slot);
    const whole = await request(url);
    expect(whole.headers['accept-ranges']).toBe('bytes');
    const part = await request(url, { headers: { Range: 'bytes=100-199' } });
    expect([part.status, part.headers['content-range'], part.body.length]).toEqual([206, `bytes 100-199/${slot.bytes}`, 100]);
    expect(part.body).toEqual(whole.body.subarray(100, 200));
    const tail = await request(url, { headers: { Range: `bytes=${slot.bytes - 10}-` } });
    expect(tail.body).toEqual(whole.body.subarray(slot.bytes - 10));
    const suffix = await request(url, { headers: { Range: 'bytes=-5' } });
    expect([suffix.status, suffix.body]).toEqual([206, whole.body.subarray(slot.bytes - 5)]);
    const beyond = await request(url, { headers: { Range: `bytes=${slot.bytes}-` } });
    expect([beyond.status, beyond.headers['content-range']]).toEqual([416, `bytes */${slot.bytes}`]);
    // resume: the two halves make the clip
    const first = await request(url, { headers: { Range: 'bytes=0-999' } });
    const rest = await request(url, { headers: { Range: 'bytes=1000-' } });
    expect(sha256(Buffer.concat([first.body, rest.body]))).toBe(slot.sha256);
  });

  test('403 when the URL is expired, its signature wrong or its expires edited; no Authorization needed', async () => {
    const s = await sim({ downloadShapes: ['redirect-307'], faults: { presignExpiredRate: 1 } });
    const [slot] = someSlots(s, 1) as [TruthSlot];
    const expired = await request(await presignedUrl(s, slot));
    expect([expired.status, expired.body.toString()]).toEqual([403, expect.stringContaining('Request has expired')]);
    s.setFaults({ presignExpiredRate: 0 });
    const good = new URL(await presignedUrl(s, slot));
    expect((await request(good.href)).status).toBe(200);
    const edited = new URL(good.href);
    edited.searchParams.set('expires', String(Number(good.searchParams.get('expires')) + 3600));
    expect((await request(edited.href)).status).toBe(403);
    expect((await request(`${s.baseUrl}/presigned/not-a-signature?expires=${good.searchParams.get('expires')}`)).status).toBe(403);
    expect(s.stats().requests.presigned).toEqual({ 200: 1, 403: 3 });
  });

  test('a presigned URL lives presignTtlSec', async () => {
    const ttlSec = 3;
    const s = await sim({ downloadShapes: ['json-url'], presignTtlSec: ttlSec });
    const [slot] = someSlots(s, 1) as [TruthSlot];
    const filename = await requestClip(s, slot);
    const issuedFromSec = Math.floor(Date.now() / 1000);
    const ready = await readyDownload(s, filename, TOKEN);
    const issuedToSec = Math.floor(Date.now() / 1000);
    const url = (JSON.parse(ready.body.toString()) as { url: string }).url;
    // `expires` is whole seconds: the second it was issued in plus the TTL; it is valid through that second
    const expiresSec = Number(new URL(url).searchParams.get('expires'));
    expect(expiresSec).toBeGreaterThanOrEqual(issuedFromSec + ttlSec);
    expect(expiresSec).toBeLessThanOrEqual(issuedToSec + ttlSec);
    expect((await request(url)).status).toBe(200);
    await waitUntil(() => Date.now() / 1000 > expiresSec);
    expect((await request(url)).status).toBe(403);
  });

  test('a request that reaches it with an Authorization header is counted as a token leak (and still served)', async () => {
    const s = await sim({ downloadShapes: ['redirect-302'] });
    const [slot] = someSlots(s, 1) as [TruthSlot];
    const url = await presignedUrl(s, slot);
    expect((await request(url)).status).toBe(200);
    expect(s.stats().tokenLeaks).toBe(0);
    expect((await request(url, { headers: bearer(TOKEN) })).status).toBe(200);
    expect(s.stats().tokenLeaks).toBe(1);
    const viaHttp = JSON.parse((await request(`${s.baseUrl}/_sim/stats`)).body.toString()) as { tokenLeaks: number };
    expect(viaHttp.tokenLeaks).toBe(1);
  });
});

describe('faults', () => {
  test('429 with Retry-After (scaled by timeScale) on /v1/ endpoints', async () => {
    const s = await sim({ timeScale: 0.5, faults: { rate429: 1, retryAfterSec: 4 } });
    const [slot] = someSlots(s, 1) as [TruthSlot];
    const res = await request(videoUrl(s, slot.vehicle, slot.camera, slot.start), { headers: bearer(TOKEN) });
    expect([res.status, res.headers['retry-after']]).toEqual([429, '2']);
    expect((await request(`${s.baseUrl}/v1/download?filename=x.bag`, { headers: bearer(TOKEN) })).status).toBe(429);
    expect(s.stats().faults['429']).toBe(2);
  });

  test('500/503 on every endpoint; transient, so retries get through; setFaults ends the storm', async () => {
    const s = await sim({ downloadShapes: ['redirect-302'], faults: { rate5xx: 0.5 } });
    const [slot] = someSlots(s, 1) as [TruthSlot];
    const url = videoUrl(s, slot.vehicle, slot.camera, slot.start);
    const statuses: number[] = [];
    let filename: string | undefined;
    for (let i = 0; i < 40 && !filename; i++) {
      const res = await request(url, { headers: bearer(TOKEN) });
      statuses.push(res.status);
      if (res.status === 200) filename = filenameOf(res);
    }
    expect(filename).toBeDefined();
    expect(statuses.every((st) => [200, 500, 503].includes(st))).toBe(true);
    s.setFaults({ rate5xx: 1 });
    await new Promise((r) => setTimeout(r, 30));
    const during = await request(`${s.baseUrl}/v1/download?filename=${filename}`, { headers: bearer(TOKEN) });
    expect([500, 503]).toContain(during.status);
    s.setFaults({ rate5xx: 0 });
    const location = String((await readyDownload(s, filename as string, TOKEN)).headers.location);
    s.setFaults({ rate5xx: 1 });
    expect([500, 503]).toContain((await request(location)).status);
    s.setFaults({ rate5xx: 0 });
    expect(sha256((await request(location)).body)).toBe(slot.sha256);
    expect(() => s.setFaults({ rate5xx: 2 })).toThrow('faults.rate5xx must be a number 0..1, got 2');
  });

  test('slow responses are delayed by slowMs × timeScale; latency is added to every response', async () => {
    const s = await sim({ timeScale: 0.5, faults: { slowRate: 1, slowMs: 400 } });
    const [slot] = someSlots(s, 1) as [TruthSlot];
    let began = Date.now();
    expect((await request(videoUrl(s, slot.vehicle, slot.camera, slot.start), { headers: bearer(TOKEN) })).status).toBe(200);
    expect(Date.now() - began).toBeGreaterThanOrEqual(190);
    const l = await sim({ timeScale: 1, latencyMs: 150 });
    began = Date.now();
    await request(`${l.baseUrl}/v1/video`, { headers: bearer(TOKEN) });
    expect(Date.now() - began).toBeGreaterThanOrEqual(140);
  });

  test.each([
    { fault: 'dropRate', counted: 'drop' },
    { fault: 'shortBodyRate', counted: 'short-body' },
  ])('$fault: the clip body stops short of its Content-Length, and a retry gets it whole', async ({ fault, counted }) => {
    const s = await sim({ downloadShapes: ['bytes'], faults: { [fault]: 1 } });
    const [slot] = someSlots(s, 1) as [TruthSlot];
    const filename = await requestClip(s, slot);
    const cut = await readyDownload(s, filename, TOKEN);
    expect(cut.status).toBe(200);
    expect(Number(cut.headers['content-length'])).toBe(slot.bytes);
    expect(cut.complete).toBe(false);
    expect(cut.body.length).toBeGreaterThan(0);
    expect(cut.body.length).toBeLessThan(slot.bytes);
    expect(s.stats().faults[counted]).toBe(1);
    s.setFaults({ [fault]: 0 });
    const whole = await readyDownload(s, filename, TOKEN);
    expect(whole.complete).toBe(true);
    expect(sha256(whole.body)).toBe(slot.sha256);
  });

  test('dropRate also cuts presigned bodies', async () => {
    const s = await sim({ downloadShapes: ['text-url'], faults: { dropRate: 1 } });
    const [slot] = someSlots(s, 1) as [TruthSlot];
    const clip = await fetchClip(s, slot);
    expect(clip.complete).toBe(false);
  });

  test('tiny clips: < 1 MB invalid files per download, so re-requesting can get the good clip', async () => {
    const s = await sim({ clipBytes: 2_000_000, downloadShapes: ['bytes'], faults: { tinyRate: 0.5 } });
    const [slot] = someSlots(s, 1) as [TruthSlot];
    const filename = await requestClip(s, slot);
    const sizes: number[] = [];
    for (let i = 0; i < 12; i++) {
      const res = await readyDownload(s, filename, TOKEN);
      expect(res.complete).toBe(true);
      if (res.body.length < 1_000_000) sizes.push(res.body.length);
      else expect(sha256(res.body)).toBe(slot.sha256);
    }
    expect(sizes.length).toBeGreaterThan(0);
    expect(sizes.length).toBeLessThan(12);
    expect(s.stats().clipsServed.tiny).toBe(sizes.length);
  });

  test('corrupt clips: full-size broken bags (unindexed or cut), per download', async () => {
    const s = await sim({ downloadShapes: ['bytes'], faults: { corruptRate: 1 } });
    const slots = someSlots(s, 3);
    for (const slot of slots) {
      const res = await fetchClip(s, slot);
      expect(res.complete).toBe(true);
      expect(res.body.length).toBeGreaterThan(slot.bytes * 0.85);
      expect(sha256(res.body)).not.toBe(slot.sha256);
      const bag = new Bag({ read: async (o: number, l: number) => res.body.subarray(o, o + l), size: () => res.body.length });
      const readable = await bag
        .open()
        .then(() => bag.chunkInfos.length > 0)
        .catch(() => false);
      expect(readable).toBe(false);
    }
    const served = s.stats().clipsServed;
    expect(served.unindexed + served.cut).toBe(3);
  });

  test('the global rate limit answers 429 beyond N requests/s', async () => {
    const s = await sim({ rateLimitPerSec: 5 });
    const statuses = await Promise.all(
      Array.from({ length: 15 }, () => request(`${s.baseUrl}/v1/download?filename=x.bag`, { headers: bearer(TOKEN) })),
    );
    const limited = statuses.filter((r) => r.status === 429);
    expect(limited.length).toBeGreaterThanOrEqual(8);
    expect(limited[0]?.headers['retry-after']).toBe('1');
    expect(statuses.filter((r) => r.status === 404).length).toBeGreaterThanOrEqual(1);
    expect(s.stats().faults['rate-limit']).toBe(limited.length);
    await new Promise((r) => setTimeout(r, 450));
    expect((await request(`${s.baseUrl}/v1/download?filename=x.bag`, { headers: bearer(TOKEN) })).status).toBe(404);
  });

  test('faults are reproducible from the seed', async () => {
    const run = async () => {
      const s = await sim({ faults: { rate5xx: 0.5 } });
      const [slot] = someSlots(s, 1) as [TruthSlot];
      const out: number[] = [];
      for (let i = 0; i < 12; i++)
        out.push((await request(videoUrl(s, slot.vehicle, slot.camera, slot.start), { headers: bearer(TOKEN) })).status);
      return out;
    };
    const first = await run();
    expect(new Set(first).size).toBeGreaterThan(1);
    expect(await run()).toEqual(first);
  });
});

describe('job faults: long jobs and jobs that never become ready', () => {
  const poll = async (s: RunningSimulator, filename: string, method = 'GET') =>
    (await request(`${s.baseUrl}/v1/download?filename=${filename}`, { method, headers: bearer(TOKEN) })).status;

  test.each(NEVER_READY_STATUSES.map((status) => ({ status })))(
    'a never-ready job answers $status forever on GET and HEAD; a new request for the slot is a new job, ready with the same bytes',
    async ({ status }) => {
      // timeScale 0.001: every processing delay (2.5 s at most) and long job (225 s) is over within 0.25 s
      const s = await sim({ timeScale: 0.001, downloadShapes: ['bytes'], faults: { neverReadyRate: 1, neverReadyStatus: status } });
      const [slot] = someSlots(s, 1) as [TruthSlot];
      const stuck = await requestClip(s, slot);
      s.setFaults({ neverReadyRate: 0, neverReadyStatus: status === 404 ? 500 : 404 }); // neither changes a job already started
      const fresh = await requestClip(s, slot);
      expect(fresh).not.toBe(stuck);
      const clip = await readyDownload(s, fresh, TOKEN);
      expect([clip.status, clip.complete, sha256(clip.body)]).toEqual([200, true, slot.sha256]);
      const statuses: number[] = [];
      const until = Date.now() + 400;
      while (Date.now() < until) statuses.push(await poll(s, stuck, 'GET'), await poll(s, stuck, 'HEAD'));
      expect(new Set(statuses)).toEqual(new Set([status]));
      expect(s.stats().faults).toEqual({ 'never-ready': 1 });
    },
  );

  test('a long job is ready only after its long duration × timeScale, while a normal job requested after it is ready at once', async () => {
    // the default long range, 150-225 s, is 1.5-2.25 s here; a normal job takes 3-25 ms
    const s = await sim({ timeScale: 0.01, downloadShapes: ['bytes'], faults: { longJobRate: 1 } });
    const [slow, quick] = someSlots(s, 2) as [TruthSlot, TruthSlot];
    const began = Date.now();
    const long = await requestClip(s, slow);
    s.setFaults({ longJobRate: 0 });
    const normal = await readyDownload(s, await requestClip(s, quick), TOKEN);
    expect(sha256(normal.body)).toBe(quick.sha256);
    const polls: { status: number; afterMs: number }[] = [];
    while (polls.at(-1)?.status !== 200 && Date.now() - began < 15_000) {
      if (polls.length > 0) await new Promise((r) => setTimeout(r, 100));
      polls.push({ status: await poll(s, long, 'HEAD'), afterMs: Date.now() - began });
    }
    // the first poll comes ~1.5 s before the earliest possible ready time: not ready then
    expect([404, 500, 503]).toContain(polls[0]?.status);
    // an answer received before 1.5 s after the request was sent cannot be ready, however slow the machine
    const ready = polls.at(-1);
    expect(ready?.status).toBe(200);
    expect(ready?.afterMs).toBeGreaterThanOrEqual(1500);
    expect(sha256((await readyDownload(s, long, TOKEN)).body)).toBe(slow.sha256);
    expect(s.stats().faults).toEqual({ 'long-job': 1 });
  });

  test('which jobs are long or never ready is reproducible from the seed, and each new request for a slot rolls again', async () => {
    const fatesOf = async (seed: number): Promise<string[]> => {
      const s = await sim({ seed, faults: { longJobRate: 0.3, neverReadyRate: 0.3 } });
      const [slot] = someSlots(s, 1) as [TruthSlot];
      const fates: string[] = [];
      for (let i = 0; i < 20; i++) {
        s.resetStats();
        await requestClip(s, slot);
        fates.push(Object.keys(s.stats().faults).join() || 'normal');
      }
      return fates;
    };
    const first = await fatesOf(11);
    expect(new Set(first)).toEqual(new Set(['normal', 'long-job', 'never-ready']));
    expect(await fatesOf(11)).toEqual(first);
    expect(await fatesOf(12)).not.toEqual(first);
  });

  test('setFaults checks the new fields like the config does', async () => {
    const s = await sim();
    s.setFaults({ longJobRate: 0.5, longJobMs: { min: 1000, max: 2000 }, neverReadyStatus: 503 });
    expect(s.config.faults).toMatchObject({ longJobRate: 0.5, longJobMs: { min: 1000, max: 2000 }, neverReadyStatus: 503 });
    expect(() => s.setFaults({ longJobMs: { min: 5, max: 1 } })).toThrow('faults.longJobMs: max 1 is below min 5');
    expect(() => s.setFaults({ neverReadyStatus: 200 as never })).toThrow('faults.neverReadyStatus must be one of 404, 500, 503, got 200');
    expect(s.config.faults.neverReadyStatus).toBe(503);
  });
});

describe('truth and stats', () => {
  let s: RunningSimulator;
  beforeAll(async () => {
    s = await startSimulator({ ...FAST, downloadShapes: ['redirect-302', 'octet-url', 'json-url', 'bytes'] });
  });
  afterAll(() => s.close());

  test('every clip downloaded for an hour of one camera matches the truth byte for byte, and nothing else is served', async () => {
    s.resetStats();
    const [first] = someSlots(s, 1, 'right-center') as [TruthSlot];
    const hour = first.startIso.slice(11, 13);
    const truth = s.truth({ day: DAY, vehicle: first.vehicle, camera: 'right-center', from: `${hour}:00`, to: `${hour}:30` });
    const have = new Map(truth.map((t) => [t.start, t]));
    const from = Date.parse(`${DAY}T${hour}:00:00Z`) / 1000;
    for (let start = from; start < from + 1800; start += 30) {
      const res = await request(videoUrl(s, first.vehicle, 'right-center', start), { headers: bearer(TOKEN) });
      expect(res.status).toBe(have.has(start) ? 200 : 404);
      if (res.status !== 200) continue;
      const clip = await clipBytesOf(await readyDownload(s, filenameOf(res), TOKEN));
      const slot = have.get(start) as TruthSlot;
      expect({ sha: sha256(clip.body), bytes: clip.body.length }).toEqual({ sha: slot.sha256, bytes: slot.bytes });
    }
    expect(s.stats().clipsServed.good).toBe(truth.length);
  });

  test('GET /_sim/truth equals truth(), honours its filters and rejects a bad query with 400', async () => {
    const [first] = someSlots(s, 1) as [TruthSlot];
    const q = { day: DAY, vehicle: first.vehicle, from: first.startIso.slice(11, 16), to: `${first.startIso.slice(11, 13)}:20` };
    const res = await request(`${s.baseUrl}/_sim/truth?day=${q.day}&vehicle=${q.vehicle}&from=${q.from}&to=${q.to}`);
    const body = JSON.parse(res.body.toString()) as { count: number; slots: TruthSlot[] };
    const slots = s.truth(q);
    expect(body.slots).toEqual(slots);
    expect(body.count).toBe(slots.length);
    for (const t of slots) {
      expect(t.vehicle).toBe(q.vehicle);
      expect(t.startIso.slice(11, 16) >= q.from && t.startIso.slice(11, 16) < q.to).toBe(true);
      expect(t.start % 30).toBe(0);
    }
    expect(new Set(slots.map((t) => t.camera)).size).toBeGreaterThan(1);
    expect(new Set(slots.map((t) => t.sha256)).size).toBe(slots.length);
    for (const bad of ['day=2025-13-01', 'day=2025-11-17&vehicle=nope', 'day=2025-11-17&from=9:00', ''])
      expect((await request(`${s.baseUrl}/_sim/truth?${bad}`)).status).toBe(400);
  });

  test('the truth is the same for the same seed and differs for another', async () => {
    const q = { day: DAY, camera: 'front-center', from: '00:00', to: '02:00' };
    const other = await sim({ seed: 12 });
    const again = await sim({ seed: 11 });
    expect(again.truth(q)).toEqual(s.truth(q));
    expect(other.truth(q).map((t) => `${t.vehicle}${t.start}`)).not.toEqual(s.truth(q).map((t) => `${t.vehicle}${t.start}`));
  });

  test('stats count requests per endpoint and status; resetStats clears them', async () => {
    s.resetStats();
    const [slot] = someSlots(s, 1) as [TruthSlot];
    await request(videoUrl(s, slot.vehicle, slot.camera, slot.start));
    await request(videoUrl(s, slot.vehicle, slot.camera, slot.start), { headers: bearer(TOKEN) });
    await request(`${s.baseUrl}/v1/download?filename=x.bag`, { headers: bearer(TOKEN) });
    await request(`${s.baseUrl}/nowhere`);
    await request(`${s.baseUrl}/v1/video`, { method: 'POST', headers: bearer(TOKEN) });
    const stats = s.stats();
    expect(stats.requests).toEqual({ video: { 200: 1, 401: 1, 405: 1 }, download: { 404: 1 }, other: { 404: 1 } });
    expect(stats.clipsRequested).toBe(1);
    s.resetStats();
    expect(s.stats().requests).toEqual({});
  });
});
