import { afterEach, beforeEach, describe, expect, test } from '@jest/globals';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { QuotaError, StorageError, UsageError } from '../../src/errors.js';
import { clipBagBytes } from '../../src/sim/index.js';
import {
  checkClipFile,
  clipFileName,
  moveIntoPlace,
  newPartialPath,
  parseSlotInstant,
  partialDirOf,
  storageErrorFrom,
} from '../../src/storage/index.js';

let dir = '';
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'fc-storage-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

const START = Date.parse('2025-11-17T08:30:00Z') / 1000;

describe('clip names and slots', () => {
  test('our name: vehicle, camera, UTC start, 30s', () => {
    expect(clipFileName('mav', 'front-center', START)).toBe('mav_front-center_20251117T083000Z_30s.bag');
  });

  test.each([
    { vehicle: '../x', camera: 'front' },
    { vehicle: 'a/b', camera: 'front' },
    { vehicle: 'mav', camera: '.hidden' },
    { vehicle: 'mav', camera: '' },
  ])('unsafe names are refused: $vehicle $camera', ({ vehicle, camera }) => {
    expect(() => clipFileName(vehicle, camera, START)).toThrow(UsageError);
  });

  test('a start off the 30 s grid is refused', () => {
    expect(() => clipFileName('mav', 'front', START + 1)).toThrow('slot start 1763368201 is not on the 30 s grid (epoch seconds)');
  });

  test.each([
    { at: '2025-11-17T08:30:00Z', start: START },
    { at: '2025-11-17T08:30:29.9Z', start: START },
    { at: '2025-11-17T00:30:45-08:00', start: START + 30 },
    { at: String(START + 17), start: START },
    { at: `${START}.5`, start: START },
  ])('--at $at floors to the grid', ({ at, start }) => {
    expect(parseSlotInstant(at)).toBe(start);
  });

  test.each(['2025-11-17T08:30:00', 'yesterday', '-5', ''])('--at "%s" is refused', (at) => {
    expect(() => parseSlotInstant(at)).toThrow(UsageError);
  });
});

describe('files', () => {
  test('temporaries live in <out>/.partial and move atomically into place', async () => {
    const out = path.join(dir, 'out');
    const tmp = await newPartialPath(partialDirOf(out), 'a.bag');
    expect(path.dirname(tmp)).toBe(path.join(out, '.partial'));
    expect(path.basename(tmp)).toMatch(/^a\.bag\.\d+-[0-9a-f]{8}\.part$/);
    await writeFile(tmp, 'x');
    const final = await moveIntoPlace(tmp, path.join(out, 'download1', 'a.bag'));
    expect(final).toBe(path.join(out, 'download1', 'a.bag'));
    expect(await readdir(path.join(out, '.partial'))).toEqual([]);
  });

  test('a full disk is a QuotaError, other failures a StorageError, both naming the path', async () => {
    const full = storageErrorFrom(Object.assign(new Error('x'), { code: 'ENOSPC' }), '/data/a.bag', 'write');
    expect(full).toBeInstanceOf(QuotaError);
    expect(full.message).toBe('cannot write /data/a.bag: ENOSPC');
    const tmp = path.join(dir, 'missing', 'a.part');
    const err = await moveIntoPlace(tmp, path.join(dir, 'a.bag')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StorageError);
    expect(err).toMatchObject({
      message: `cannot rename into ${path.join(dir, 'a.bag')}: ENOENT`,
      context: { path: path.join(dir, 'a.bag') },
    });
  });
});

describe('checkClipFile', () => {
  const good = clipBagBytes('mav', 'front-center', START, { clipBytes: 120_000 });
  const write = async (bytes: Buffer | string) => {
    const file = path.join(dir, 'clip.bag');
    await writeFile(file, bytes);
    return file;
  };

  test('a complete bag is accepted with its topics, message count, time range and sha256', async () => {
    const check = await checkClipFile(await write(good), { minBytes: 100_000 });
    expect(check).toEqual({
      ok: true,
      bytes: good.length,
      sha256: createHash('sha256').update(good).digest('hex'),
      bag: {
        topics: ['/camera/front-center/image/compressed'],
        messageCount: expect.any(Number),
        firstMessageTime: expect.any(Number),
        lastMessageTime: expect.any(Number),
      },
    });
    if (!check.ok) return;
    expect(check.bag.messageCount).toBeGreaterThan(250);
    expect(check.bag.firstMessageTime).toBeGreaterThanOrEqual(START);
    expect(check.bag.lastMessageTime).toBeLessThan(START + 30);
  });

  /** What a recorder leaves when interrupted: the bag header still says index_pos = conn_count = chunk_count = 0. */
  function unindexed(bytes: Buffer): Buffer {
    const copy = Buffer.from(bytes);
    for (const [field, size] of [
      ['index_pos=', 8],
      ['conn_count=', 4],
      ['chunk_count=', 4],
    ] as const) {
      const at = copy.indexOf(field) + field.length;
      copy.fill(0, at, at + size);
    }
    return copy;
  }

  /** A message record inside a chunk turned into another kind of record: header and index still look intact. */
  function garbledChunk(bytes: Buffer): Buffer {
    const copy = Buffer.from(bytes);
    const marker = Buffer.from('op=\x02', 'latin1');
    const at = copy.indexOf(marker, copy.indexOf(marker) + 1); // the second message record
    copy[at + 3] = 0x07;
    return copy;
  }

  test.each([
    {
      name: 'a chunk with a garbled record (index intact)',
      bytes: () => garbledChunk(good),
      minBytes: 0,
      reason: /^chunk at \d+: holds \d+ messages, its chunk info says \d+$/,
    },
    { name: 'smaller than the minimum', bytes: () => good.subarray(0, 5000), minBytes: 10_000, reason: /^too small: 5000 bytes < 10000$/ },
    { name: 'unindexed (index_pos = 0)', bytes: () => unindexed(good), minBytes: 0, reason: /^unindexed bag/ },
    { name: 'cut short', bytes: () => good.subarray(0, Math.floor(good.length * 0.8)), minBytes: 0, reason: /./ },
    { name: 'cut inside the index', bytes: () => good.subarray(0, good.length - 10), minBytes: 0, reason: /./ },
    {
      name: 'an HTML error page',
      bytes: () => Buffer.from('<html>503 Service Unavailable</html>'),
      minBytes: 0,
      reason: /^not a readable ROS1 bag: Cannot identify bag format/,
    },
  ])('$name is refused', async ({ bytes, minBytes, reason }) => {
    const check = await checkClipFile(await write(bytes()), { minBytes });
    expect(check.ok).toBe(false);
    expect(check.ok ? '' : check.reason).toMatch(reason);
  });
});
