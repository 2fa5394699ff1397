import { createHash } from 'node:crypto';
import { open, stat, type FileHandle } from 'node:fs/promises';
import { Bag } from '@foxglove/rosbag';
import { FileReader } from '@foxglove/rosbag/node.js';
import type { BagSummary } from '../manifest/types.js';
import { storageErrorFrom } from './files.js';

export interface ClipCheckOptions {
  /** smaller files are refused before parsing (the notebook's 1 MB rule) */
  minBytes: number;
}

export type ClipCheck =
  | { ok: true; bytes: number; sha256: string; bag: BagSummary }
  | { ok: false; bytes: number; reason: string };

const seconds = (t: { sec: number; nsec: number }): number => t.sec + t.nsec / 1e9;

/**
 * Accepts a file only if it is a complete ROS1 bag: header, index and chunk infos agree, and every
 * indexed message can be read back. The reader opens an unindexed bag (index_pos = 0, what an
 * interrupted recorder or a cut download leaves) without complaint, so that is checked here.
 */
export async function checkClipFile(filePath: string, { minBytes }: ClipCheckOptions): Promise<ClipCheck> {
  let bytes: number;
  try {
    bytes = (await stat(filePath)).size;
  } catch (err) {
    throw storageErrorFrom(err, filePath, 'read');
  }
  if (bytes < minBytes) return { ok: false, bytes, reason: `too small: ${bytes} bytes < ${minBytes}` };
  const reader = new FileReader(filePath);
  try {
    const reason = await findBagDefect(new Bag(reader, { parse: false }), bytes);
    if (typeof reason === 'string') return { ok: false, bytes, reason };
    return { ok: true, bytes, sha256: await sha256Of(filePath), bag: reason };
  } finally {
    await reader.close();
  }
}

async function findBagDefect(bag: Bag, bytes: number): Promise<string | BagSummary> {
  try {
    await bag.open();
  } catch (err) {
    return `not a readable ROS1 bag: ${(err as Error).message}`;
  }
  const header = bag.header;
  if (!header || header.indexPosition === 0) return 'unindexed bag (header index_pos = 0): not closed or cut short';
  if (header.indexPosition >= bytes) return `index_pos ${header.indexPosition} lies beyond the end of the file (${bytes} bytes)`;
  if (bag.connections.size === 0 || bag.connections.size !== header.connectionCount)
    return `index lists ${bag.connections.size} connections, header says ${header.connectionCount}`;
  if (bag.chunkInfos.length === 0 || bag.chunkInfos.length !== header.chunkCount)
    return `index lists ${bag.chunkInfos.length} chunk infos, header says ${header.chunkCount}`;
  if (bag.chunkInfos.some((c) => c.chunkPosition >= header.indexPosition)) return 'a chunk info points into the index section';
  const indexed = bag.chunkInfos.reduce((n, c) => n + c.connections.reduce((m, k) => m + k.count, 0), 0);
  if (indexed === 0 || !bag.startTime || !bag.endTime) return 'the bag holds no messages';
  try {
    let read = 0;
    for await (const _ of bag.messageIterator()) read++;
    if (read !== indexed) return `index counts ${indexed} messages, ${read} could be read`;
  } catch (err) {
    // Compressed chunks need a codec we do not ship; the index checks above still hold.
    if (!/Unsupported compression/.test((err as Error).message)) return `a chunk cannot be read: ${(err as Error).message}`;
  }
  const topics = [...new Set([...bag.connections.values()].map((c) => c.topic))].sort();
  return { topics, messageCount: indexed, firstMessageTime: seconds(bag.startTime), lastMessageTime: seconds(bag.endTime) };
}

/**
 * One buffer for the whole file, not a stream: a read stream allocates a fresh 64 KiB buffer per read, and that
 * garbage (20 MB per 20 MB clip) is freed by V8 only once external memory has grown by tens of MB, which alone pushed
 * a worker's peak RSS up by ~30 MB (docs/performance.md).
 */
export async function sha256Of(filePath: string): Promise<string> {
  const hash = createHash('sha256');
  const buffer = Buffer.allocUnsafe(HASH_READ_BYTES);
  let file: FileHandle | undefined;
  try {
    file = await open(filePath, 'r');
    for (;;) {
      const { bytesRead } = await file.read(buffer, 0, HASH_READ_BYTES, null);
      if (bytesRead === 0) break;
      hash.update(buffer.subarray(0, bytesRead));
    }
  } catch (err) {
    throw storageErrorFrom(err, filePath, 'read');
  } finally {
    await file?.close();
  }
  return hash.digest('hex');
}

const HASH_READ_BYTES = 1 << 20;
