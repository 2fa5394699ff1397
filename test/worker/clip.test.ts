import { afterEach, describe, expect, test } from '@jest/globals';
import { getEventListeners } from 'node:events';
import path from 'node:path';
import { ApiHttpError } from '../../src/errors.js';
import { OWNER_ONLY } from '../../src/file-modes.js';
import { DOWNLOAD_SHAPES, type DownloadShape, type SimConfigInput, VIDEO_SHAPES } from '../../src/sim/index.js';
import type { TruthSlot } from '../../src/sim/index.js';
import { placeClip } from '../../src/storage/index.js';
import { type ClipDestination, createClipFetcher } from '../../src/worker/index.js';
import { DAY, type Rig, filesUnder, rigClient, sha256File, startRig } from '../helpers/api-rig.js';

const SILENT = { info() {}, warn() {}, debug() {} };

let rig: Rig | undefined;
afterEach(async () => {
  if (rig) expect(rig.sim.stats().tokenLeaks).toBe(0);
  await rig?.close();
  rig = undefined;
});

async function open(config: SimConfigInput = {}): Promise<Rig> {
  rig = await startRig(config);
  return rig;
}

/**
 * `count` slots with data, spread over vehicles and cameras. Each truth query is kept to a few minutes
 * of one camera: the simulator builds and hashes every clip it reports.
 */
function slotsOf(r: Rig, count: number, from = '08:00'): TruthSlot[] {
  const picked: TruthSlot[] = [];
  const to = `${from.slice(0, 3)}${String(Number(from.slice(3)) + 3).padStart(2, '0')}`;
  for (let round = 0; picked.length < count && round < 6; round++)
    for (const vehicle of r.sim.config.vehicles)
      for (const camera of r.sim.config.cameras) {
        const slot = r.sim.truth({ day: DAY, vehicle, camera, from, to })[round];
        if (slot && picked.length < count) picked.push(slot);
      }
  return picked;
}

/** Fetches every slot and checks each saved file against the simulator's truth, and that no temporary remains. */
async function fetchAllAndVerify(r: Rig, slots: TruthSlot[], limits = {}): Promise<void> {
  const client = r.client(limits);
  const outcomes = await Promise.all(
    slots.map((s) => client.fetchSlot({ vehicle: s.vehicle, camera: s.camera, start: s.start, outDir: r.out })),
  );
  for (const [i, o] of outcomes.entries()) {
    const s = slots[i] as TruthSlot;
    expect(o).toMatchObject({ kind: 'ok', sha256: s.sha256, bytes: s.bytes });
    if (o.kind !== 'ok') continue;
    expect(await sha256File(o.path)).toBe(s.sha256);
    expect(path.dirname(o.path)).toBe(r.out);
    expect(o.bag.messageCount).toBeGreaterThan(200);
    expect(o.bag.firstMessageTime).toBeGreaterThanOrEqual(s.start);
    expect(o.bag.lastMessageTime).toBeLessThan(s.start + 30);
  }
  expect(await filesUnder(path.join(r.out, '.partial'))).toEqual([]);
  expect(await filesUnder(r.out)).toHaveLength(new Set(slots.map((s) => `${s.vehicle}${s.camera}${s.start}`)).size);
}

describe('response shapes', () => {
  test.each(DOWNLOAD_SHAPES.map((shape, i) => ({ shape, video: VIDEO_SHAPES[i % VIDEO_SHAPES.length] as string })))(
    'download shape $shape (clip request as $video): every clip byte-identical to the truth',
    async ({ shape, video }) => {
      const r = await open({ downloadShapes: [shape as DownloadShape], videoShapes: [video as (typeof VIDEO_SHAPES)[number]] });
      await fetchAllAndVerify(r, slotsOf(r, 3));
      const stats = r.sim.stats();
      expect(stats.requests.video?.['200']).toBe(3);
      if (shape === 'bytes') expect(stats.requests.presigned).toBeUndefined();
      else expect(stats.requests.presigned?.['200']).toBe(3);
      if (shape.startsWith('redirect')) expect(stats.requests.download?.[shape.slice(-3)]).toBe(3);
    },
  );

  test('the file is named by us: <vehicle>_<camera>_<UTC stamp>_30s.bag', async () => {
    const r = await open();
    const [s] = slotsOf(r, 1) as [TruthSlot];
    const o = await r.client().fetchSlot({ vehicle: s.vehicle, camera: s.camera, start: s.start, outDir: r.out });
    const stamp = s.startIso.replace(/[-:]/g, '').replace('.000Z', 'Z');
    expect(o.kind === 'ok' && path.basename(o.path)).toBe(`${s.vehicle}_${s.camera}_${stamp}_30s.bag`);
  });
});

describe('faults', () => {
  test('429 with Retry-After pauses every request for that long and loses nothing', async () => {
    const r = await open({ timeScale: 1, processingDelayMs: { min: 20, max: 60 }, faults: { rate429: 0.3, retryAfterSec: 1 } });
    const client = r.client();
    const slots = slotsOf(r, 3);
    const t0 = Date.now();
    const outcomes = await Promise.all(
      slots.map((s) => client.fetchSlot({ vehicle: s.vehicle, camera: s.camera, start: s.start, outDir: r.out })),
    );
    expect(outcomes.map((o) => o.kind === 'ok' && o.sha256)).toEqual(slots.map((s) => s.sha256));
    const limited = r.sim.stats().faults['429'] ?? 0;
    expect(limited).toBeGreaterThan(0);
    expect(r.logs.filter((l) => l.message.startsWith('rate limited: holding requests for 1000 ms'))).toHaveLength(limited);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1000);
  });

  test('the budget hears every 429 pause and the global rate limit is ridden out', async () => {
    rig = await startRig({ rateLimitPerSec: 5, timeScale: 0.05 });
    const heard: number[] = [];
    const { openTokenSource } = await import('../../src/api/index.js');
    const client = rigClient({
      apiBase: rig.sim.baseUrl,
      token: openTokenSource({ tokenFile: rig.tokenFile }),
      readyFirstPollMs: 10,
      minClipBytes: 50_000,
      minTimeMs: 0,
      maxConcurrent: 8,
      budget: { acquire: async () => undefined, rateLimited: (ms) => heard.push(ms), struggled: () => undefined },
    });
    const slots = slotsOf(rig, 6);
    const outcomes = await Promise.all(
      slots.map((s) => client.fetchSlot({ vehicle: s.vehicle, camera: s.camera, start: s.start, outDir: rig!.out })),
    );
    expect(outcomes.every((o) => o.kind === 'ok')).toBe(true);
    expect(heard.length).toBe(rig.sim.stats().faults['rate-limit']);
    expect(heard.length).toBeGreaterThan(0);
    expect(heard.every((ms) => ms === 1000)).toBe(true);
  });

  test('a 5xx storm on every endpoint, then recovery: no clip lost', async () => {
    const r = await open({ faults: { rate5xx: 1 } });
    const slots = slotsOf(r, 4);
    setTimeout(() => r.sim.setFaults({ rate5xx: 0.2 }), 800);
    // a storm longer than the default retry budget would allow: the budget here is raised to ride it out
    await fetchAllAndVerify(r, slots, { maxAttempts: 40, downloadAttempts: 40 });
    expect(r.sim.stats().faults['5xx']).toBeGreaterThan(20);
  });

  test('dropped connections resume with Range at the presigned URL', async () => {
    const r = await open({ downloadShapes: ['redirect-302', 'json-url'], faults: { dropRate: 0.5 } });
    // a drop that comes before the temporary file is open leaves nothing to resume from (a restart, ~15 % of drops):
    // a dozen clips make sure some drops resume
    await fetchAllAndVerify(r, slotsOf(r, 12), { downloadAttempts: 20 });
    const stats = r.sim.stats();
    expect(stats.faults.drop).toBeGreaterThan(0);
    expect(stats.requests.presigned?.['206']).toBeGreaterThan(0);
  });

  test('a dropped clip body from /v1/download itself is fetched again', async () => {
    const r = await open({ downloadShapes: ['bytes'], faults: { dropRate: 0.5 } });
    await fetchAllAndVerify(r, slotsOf(r, 5), { downloadAttempts: 20 });
    expect(r.sim.stats().faults.drop).toBeGreaterThan(0);
  });

  test('a body shorter than its Content-Length is never kept', async () => {
    const r = await open({ downloadShapes: ['bytes', 'text-url'], faults: { shortBodyRate: 0.5 } });
    await fetchAllAndVerify(r, slotsOf(r, 6), { downloadAttempts: 20 });
    expect(r.sim.stats().faults['short-body']).toBeGreaterThan(0);
  });

  test('an expired presigned URL is renewed through /v1/download', async () => {
    const r = await open({ downloadShapes: ['redirect-307', 'octet-url'], faults: { presignExpiredRate: 0.5 } });
    await fetchAllAndVerify(r, slotsOf(r, 5), { presignRenewals: 20 });
    expect(r.sim.stats().requests.presigned?.['403']).toBeGreaterThan(0);
  });

  test('HEAD answered 405: readiness falls back to GET and keeps its answer', async () => {
    const r = await open({ downloadShapes: ['bytes'], faults: { headNotAllowedRate: 1 } });
    await fetchAllAndVerify(r, slotsOf(r, 3));
    const download = r.sim.stats().requests.download ?? {};
    expect(download['405']).toBeGreaterThan(0);
    // the ready GET delivered the clip itself: one 200 per clip, no second download
    expect(download['200']).toBe(3);
  });

  test('tiny and corrupt clips are requested again, and count as invalid when they stay bad', async () => {
    const r = await open({ faults: { tinyRate: 1 } });
    const [s] = slotsOf(r, 1) as [TruthSlot];
    const client = r.client({ invalidRetries: 2 });
    const o = await client.fetchSlot({ vehicle: s.vehicle, camera: s.camera, start: s.start, outDir: r.out });
    expect(o).toEqual({ kind: 'invalid', reason: expect.stringMatching(/^too small: \d+ bytes < 50000$/), attempts: 3, hedges: 0 });
    expect(r.sim.stats().requests.video?.['200']).toBe(3);
    expect(await filesUnder(r.out)).toEqual([]);

    r.sim.setFaults({ tinyRate: 0, corruptRate: 1 });
    const broken = await client.fetchSlot({ vehicle: s.vehicle, camera: s.camera, start: s.start, outDir: r.out });
    expect(broken).toMatchObject({ kind: 'invalid', attempts: 3 });
    expect(await filesUnder(r.out)).toEqual([]);
    expect(r.logs.filter((l) => l.level === 'warn' && l.message.startsWith('invalid clip'))).toHaveLength(6);
  });

  test('transient tiny and corrupt clips cost no clip', async () => {
    const r = await open({ faults: { tinyRate: 0.25, corruptRate: 0.25 } });
    await fetchAllAndVerify(r, slotsOf(r, 8), { invalidRetries: 10 });
    const served = r.sim.stats().clipsServed;
    expect(served.tiny + served.unindexed + served.cut).toBeGreaterThan(0);
  });

  test('every fault at once, 24 clips in parallel: all byte-identical, no temporaries, no leak', async () => {
    const r = await open({
      faults: {
        rate429: 0.05,
        retryAfterSec: 0,
        rate5xx: 0.15,
        dropRate: 0.15,
        shortBodyRate: 0.1,
        tinyRate: 0.1,
        corruptRate: 0.1,
        headNotAllowedRate: 0.1,
        presignExpiredRate: 0.15,
        slowRate: 0.05,
        slowMs: 200,
      },
    });
    await fetchAllAndVerify(r, slotsOf(r, 24), { invalidRetries: 8, downloadAttempts: 20, maxAttempts: 20, presignRenewals: 20 });
    expect(Object.keys(r.sim.stats().faults).length).toBeGreaterThanOrEqual(6);
  });
});

describe('requests', () => {
  test('a slot without video is `missing`; a 400 is reported, never retried', async () => {
    const r = await open();
    const client = r.client();
    const idle = r.sim.config.vehicles.find((v) => r.sim.truth({ day: DAY, vehicle: v }).length === 0) as string;
    const start = Date.parse(`${DAY}T08:00:00Z`) / 1000;
    expect(await client.fetchSlot({ vehicle: idle, camera: 'front-center', start, outDir: r.out })).toEqual({
      kind: 'missing',
      attempts: 1,
      hedges: 0,
    });

    const today = Math.floor(Date.now() / 1000 / 30) * 30 - 30;
    const err = await client.requestClip('mav', 'front-center', today).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiHttpError);
    expect((err as ApiHttpError).context.status).toBe(400);
    expect((err as Error).message).toMatch(/clip request refused: "the batch API requires the realtime API/);
    expect(r.sim.stats().requests.video?.['400']).toBe(1);
  });

  test('a known filename is polled and downloaded, not requested again; onRequested reports new requests', async () => {
    const r = await open();
    const client = r.client();
    const [s] = slotsOf(r, 1) as [TruthSlot];
    const requested = await client.requestClip(s.vehicle, s.camera, s.start);
    expect(requested.kind).toBe('requested');
    const seen: string[] = [];
    const o = await client.fetchSlot({
      vehicle: s.vehicle,
      camera: s.camera,
      start: s.start,
      outDir: r.out,
      knownFilename: requested.kind === 'requested' ? requested.filename : '',
      onRequested: (f: string) => void seen.push(f),
    });
    expect(o).toMatchObject({ kind: 'ok', sha256: s.sha256, attempts: 1 });
    expect(seen).toEqual([]);
    expect(r.sim.stats().requests.video?.['200']).toBe(1);

    const [t] = slotsOf(r, 1, '10:00') as [TruthSlot];
    const t0 = Date.now();
    await client.fetchSlot({
      vehicle: t.vehicle,
      camera: t.camera,
      start: t.start,
      outDir: r.out,
      onRequested: (f: string, at: number) => void seen.push(`${f}@${at >= t0}`),
    });
    expect(seen).toEqual([expect.stringMatching(/^[0-9a-f]{32}\.bag@true$/)]);
  });

  test('a known filename the server has forgotten is requested afresh after rememberedReadyMaxWaitMs, not polled for readyMaxWaitMs', async () => {
    const r = await open();
    const [s] = slotsOf(r, 1) as [TruthSlot];
    const seen: string[] = [];
    const t0 = Date.now();
    const o = await r.client({ rememberedReadyMaxWaitMs: 300, readyMaxWaitMs: 15_000 }).fetchSlot({
      vehicle: s.vehicle,
      camera: s.camera,
      start: s.start,
      outDir: r.out,
      knownFilename: '0123456789abcdef0123456789abcdef.bag',
      onRequested: (f: string) => void seen.push(f),
    });
    expect(o).toMatchObject({ kind: 'ok', sha256: s.sha256, attempts: 1 });
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(seen).toHaveLength(1);
    expect(r.sim.stats().requests.video?.['200']).toBe(1);
    // the wait is reported in whole seconds it took: 0 here, 1 or more on a loaded machine
    expect(r.logs.map((l) => l.message)).toContainEqual(
      expect.stringMatching(
        /^a clip requested earlier is still not ready \(clip not ready after \d+ s \(last HTTP 404\)\): requesting it again$/,
      ),
    );
  });

  test('a destination gets a complete, validated temporary beside the output and chooses the final place', async () => {
    const r = await open();
    const [s] = slotsOf(r, 1) as [TruthSlot];
    let seenTmp = '';
    const destination: ClipDestination = {
      outDir: r.out,
      modes: OWNER_ONLY,
      async place(tmp, clip) {
        seenTmp = tmp;
        expect(path.dirname(tmp)).toBe(path.join(r.out, '.partial'));
        expect(await sha256File(tmp)).toBe(s.sha256);
        expect(clip).toMatchObject({ vehicle: s.vehicle, camera: s.camera, start: s.start, sha256: s.sha256, bytes: s.bytes });
        return { path: await placeClip(tmp, r.out, clip.vehicle, 1, clip.fileName), bucket: 1 };
      },
    };
    const o = await createClipFetcher(r.client(), { minClipBytes: 50_000 }, SILENT).fetch(s, destination);
    expect(o).toMatchObject({ kind: 'ok', bucket: 1 });
    expect(o.kind === 'ok' && path.relative(r.out, o.path)).toMatch(new RegExp(`^${s.vehicle}/download1/.+_30s\\.bag$`));
    expect(seenTmp).toMatch(/\.part$/);
    expect(await filesUnder(r.out)).toEqual([path.relative(r.out, (o as { path: string }).path)]);
  });

  test('an abort mid-wait rejects with the reason and leaves no temporary', async () => {
    const r = await open({ timeScale: 1, processingDelayMs: { min: 5000, max: 5000 } });
    const [s] = slotsOf(r, 1) as [TruthSlot];
    const stop = new AbortController();
    setTimeout(() => stop.abort(new Error('second signal')), 150);
    const t0 = Date.now();
    await expect(
      r.client().fetchSlot({ vehicle: s.vehicle, camera: s.camera, start: s.start, outDir: r.out, signal: stop.signal }),
    ).rejects.toThrow('second signal');
    expect(Date.now() - t0).toBeLessThan(3000); // the clip takes 5 s to cut
    expect(await filesUnder(r.out)).toEqual([]);
  });

  test('readiness gives up after readyMaxWaitMs with an ApiError', async () => {
    const r = await open({ timeScale: 1, processingDelayMs: { min: 5000, max: 5000 } });
    const [s] = slotsOf(r, 1) as [TruthSlot];
    await expect(
      r.client({ readyMaxWaitMs: 300 }).fetchSlot({ vehicle: s.vehicle, camera: s.camera, start: s.start, outDir: r.out }),
    ).rejects.toThrow(/^clip not ready after \d+ s \(last HTTP (404|500|503)\)$/); // whole seconds waited: 0 unless the machine is busy
    const polls = Object.values(r.sim.stats().requests.download ?? {}).reduce((a, b) => a + b, 0);
    // fast first polls (10 ms, doubling to 80 ms) rather than a fixed 3 s sleep
    expect(polls).toBeGreaterThanOrEqual(4);
  });
});

describe('resources', () => {
  test("finished requests leave no listener on the caller's signal (a long-lived shard signal must not keep every request alive)", async () => {
    const r = await open({ downloadShapes: ['bytes', 'redirect-302', 'json-url'], faults: { headNotAllowedRate: 0.5 } });
    const shard = new AbortController();
    const client = r.client();
    const slots = slotsOf(r, 6);
    const outcomes = await Promise.all(
      slots.map((s) => client.fetchSlot({ vehicle: s.vehicle, camera: s.camera, start: s.start, outDir: r.out, signal: shard.signal })),
    );
    expect(outcomes.map((o) => o.kind)).toEqual(slots.map(() => 'ok'));
    expect(getEventListeners(shard.signal, 'abort')).toHaveLength(0);
  });
});
