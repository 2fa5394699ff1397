import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFile } from 'node:child_process';
import { mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { clipBagBytes } from '../../src/sim/index.js';
import { checkClipFile } from '../../src/storage/index.js';

/**
 * Crafted bags whose header or chunk infos point the bag check at hundreds of MB: what it reads must stay bounded.
 * The files are sparse (a hole in the middle), so making them costs no disk; reading the hole costs memory.
 */
const START = Date.parse('2025-11-17T08:30:00Z') / 1000;
const GOOD = clipBagBytes('mav', 'front-center', START, { clipBytes: 120_000 });
const CRAFTED_BYTES = 300 * 2 ** 20;
const CHILD = path.resolve('test/storage/fixtures/check-clip.ts');

let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'fc-bag-bounds-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const INDEX_POS_FIELD = Buffer.from('index_pos=');

function indexPosOf(bag: Buffer): number {
  return Number(bag.readBigUInt64LE(bag.indexOf(INDEX_POS_FIELD) + INDEX_POS_FIELD.length));
}

function withIndexPos(bag: Buffer, indexPos: number): Buffer {
  const copy = Buffer.from(bag);
  copy.writeBigUInt64LE(BigInt(indexPos), copy.indexOf(INDEX_POS_FIELD) + INDEX_POS_FIELD.length);
  return copy;
}

/** `head` at the start and `tail` at the very end of a sparse file of CRAFTED_BYTES. */
async function sparseFile(name: string, head: Buffer, tail: Buffer = Buffer.alloc(0)): Promise<string> {
  const file = path.join(dir, name);
  const handle = await open(file, 'w');
  try {
    await handle.write(head, 0, head.length, 0);
    await handle.truncate(CRAFTED_BYTES);
    if (tail.length > 0) await handle.write(tail, 0, tail.length, CRAFTED_BYTES - tail.length);
  } finally {
    await handle.close();
  }
  return file;
}

const CRAFTED = [
  {
    name: 'an index section of 300 MB (index_pos just after the bag header)',
    make: () => sparseFile('long-index.bag', withIndexPos(GOOD, 5_000).subarray(0, indexPosOf(GOOD))),
    reason: /^index section of \d+ bytes is larger than 4194304 bytes$/,
  },
  {
    name: 'a chunk spanning 300 MB (a valid index moved to the end of the file)',
    make: () => {
      const indexPos = indexPosOf(GOOD);
      const index = GOOD.subarray(indexPos);
      return sparseFile('long-chunk.bag', withIndexPos(GOOD, CRAFTED_BYTES - index.length).subarray(0, indexPos), index);
    },
    reason: /^chunk at \d+ spans \d+ bytes, more than 33554432$/,
  },
];

describe('what the bag check reads is bounded', () => {
  test.each(CRAFTED)('$name is refused', async ({ make, reason }) => {
    const check = await checkClipFile(await make(), { minBytes: 0 });
    expect(check).toEqual({ ok: false, bytes: CRAFTED_BYTES, reason: expect.stringMatching(reason) });
  });

  test.each(CRAFTED)(
    '$name: a checking process stays far below the 300 MB it would take to read it',
    async ({ make, reason }) => {
      const file = await make();
      const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', CHILD, file], {
        env: { ...process.env, NODE_OPTIONS: '' },
      });
      const result = JSON.parse(stdout) as { ok: boolean; reason?: string; peakRssBytes: number };
      expect(result).toMatchObject({ ok: false, reason: expect.stringMatching(reason) });
      // node, tsx and the reader take ~100 MB here; reading the crafted span would add 300 MB
      expect(result.peakRssBytes).toBeLessThan(200 * 2 ** 20);
    },
    60_000,
  );

  test('a sound bag still passes, and so does one with several chunks', async () => {
    for (const clipBytes of [120_000, 3_000_000]) {
      const bag = clipBagBytes('mav', 'front-center', START, { clipBytes });
      const file = path.join(dir, `good-${clipBytes}.bag`);
      await writeFile(file, bag);
      expect(await checkClipFile(file, { minBytes: 0 })).toMatchObject({ ok: true, bytes: bag.length });
    }
  });
});
