import { describe, expect, test } from '@jest/globals';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Bag } from '@foxglove/rosbag';
import { FileReader } from '@foxglove/rosbag/node.js';
import { brokenClipBag, indexPosOf, tinyClipBag } from '../../src/sim/bag.js';
import { COMPRESSED_IMAGE_MD5, SIM_DEFAULTS, clipBagBytes } from '../../src/sim/index.js';
import { sha256 } from './http.js';

const START = Date.UTC(2025, 10, 17, 10, 0, 30) / 1000;
const small = { ...SIM_DEFAULTS, clipBytes: 64 * 1024 };

function bufferReader(b: Buffer) {
  return { read: async (offset: number, length: number) => b.subarray(offset, offset + length), size: () => b.length };
}

async function summarize(bag: Bag) {
  await bag.open();
  const timestamps: number[] = [];
  for await (const m of bag.messageIterator({})) timestamps.push(m.timestamp.sec + m.timestamp.nsec / 1e9);
  return { connections: [...bag.connections.values()], chunks: bag.chunkInfos.length, timestamps };
}

describe('clip bags read back with @foxglove/rosbag', () => {
  test('a default-size clip (~2 MB) from a file: topic, type, md5sum, ~300 messages inside the 30 s window, several chunks', async () => {
    const bytes = clipBagBytes('mav', 'left-center', START, SIM_DEFAULTS);
    expect(Math.abs(bytes.length - SIM_DEFAULTS.clipBytes)).toBeLessThan(SIM_DEFAULTS.clipBytes * 0.03);
    expect(bytes.subarray(0, 13).toString('latin1')).toBe('#ROSBAG V2.0\n');
    const file = path.join(await mkdtemp(path.join(tmpdir(), 'fc-sim-bag-')), 'clip.bag');
    await writeFile(file, bytes);
    const reader = new FileReader(file);
    const bag = new Bag(reader);
    const { connections, chunks, timestamps } = await summarize(bag).finally(() => reader.close());
    expect(bag.header?.indexPosition).toBe(indexPosOf(bytes));
    expect(bag.header?.connectionCount).toBe(1);
    expect(chunks).toBeGreaterThan(1);
    expect(connections).toHaveLength(1);
    expect(connections[0]).toMatchObject({
      topic: '/camera/left-center/image/compressed',
      type: 'sensor_msgs/CompressedImage',
      md5sum: COMPRESSED_IMAGE_MD5,
    });
    expect(connections[0]?.messageDefinition).toContain('MSG: std_msgs/Header');
    expect(timestamps.length).toBeGreaterThanOrEqual(295);
    expect(timestamps.length).toBeLessThanOrEqual(300);
    expect(Math.min(...timestamps)).toBeGreaterThanOrEqual(START);
    expect(Math.max(...timestamps)).toBeLessThan(START + 30);
    expect(Math.max(...timestamps) - Math.min(...timestamps)).toBeGreaterThan(29);
  });

  test('messages deserialize as CompressedImage with a JPEG payload and rising seq', async () => {
    const bag = new Bag(bufferReader(clipBagBytes('mav', 'front-center', START, small)), { parse: true });
    await bag.open();
    const seqs: number[] = [];
    for await (const m of bag.messageIterator({})) {
      const msg = m.message as { header: { seq: number; stamp: { sec: number } }; format: string; data: Uint8Array };
      expect(msg.format).toBe('jpeg');
      expect([msg.data[0], msg.data[1], msg.data[msg.data.length - 1]]).toEqual([0xff, 0xd8, 0xd9]);
      expect(msg.header.stamp.sec).toBe(m.timestamp.sec);
      seqs.push(msg.header.seq);
    }
    expect(seqs).toEqual(seqs.map((_, i) => i));
  });

  test('content is a pure function of (vehicle, camera, start) and differs between clips', () => {
    const a = clipBagBytes('mav', 'front-center', START, small);
    expect(sha256(clipBagBytes('mav', 'front-center', START, small))).toBe(sha256(a));
    const others = [
      clipBagBytes('mav', 'front-center', START + 30, small),
      clipBagBytes('mav', 'left-center', START, small),
      clipBagBytes('morizo', 'front-center', START, small),
    ];
    expect(new Set([a, ...others].map(sha256)).size).toBe(4);
  });

  test('an unindexed bag is full-size with index_pos = 0: it opens empty and yields no message', async () => {
    const good = clipBagBytes('mav', 'front-center', START, small);
    const broken = brokenClipBag(good, 'unindexed');
    expect(broken.length).toBe(good.length);
    expect(indexPosOf(broken)).toBe(0);
    const bag = new Bag(bufferReader(broken));
    await bag.open();
    expect(bag.header?.indexPosition).toBe(0);
    expect(bag.chunkInfos).toHaveLength(0);
  });

  test('a cut bag stops inside its chunks: ~90 % of the size, index_pos past EOF, the reader fails', async () => {
    const good = clipBagBytes('mav', 'front-center', START, small);
    const cut = brokenClipBag(good, 'cut');
    expect(cut.length).toBeGreaterThan(good.length * 0.85);
    expect(indexPosOf(cut)).toBeGreaterThan(cut.length);
    await expect(summarize(new Bag(bufferReader(cut)))).rejects.toThrow();
  });

  test('a tiny clip is < 1 MB, even for a 2 MB clip, and does not read as a bag', async () => {
    const tiny = tinyClipBag(clipBagBytes('mav', 'front-center', START, SIM_DEFAULTS));
    expect(tiny.length).toBeLessThan(1_000_000);
    await expect(summarize(new Bag(bufferReader(tiny)))).rejects.toThrow();
  });
});
