import { createHash } from 'node:crypto';
import { open, stat, type FileHandle } from 'node:fs/promises';
import { Bag } from '@foxglove/rosbag';
import { FileReader } from '@foxglove/rosbag/node.js';
import type { BagSummary } from './types.js';
import { storageErrorFrom } from './files.js';

export interface ClipCheckOptions {
  /** smaller files are refused before parsing (the notebook's 1 MB rule) */
  minBytes: number;
}

export type ClipCheck = { ok: true; bytes: number; sha256: string; bag: BagSummary } | { ok: false; bytes: number; reason: string };

const seconds = (t: { sec: number; nsec: number }): number => t.sec + t.nsec / 1e9;

/**
 * Accepts a file only if it is a complete ROS1 bag: header, index and chunk infos (read by @foxglove/rosbag) agree,
 * and every chunk's records are intact and hold the messages its chunk info counts. The reader opens an unindexed bag (index_pos = 0, what an
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
    const reason = await findBagDefect(new Bag(reader, { parse: false }), filePath, bytes);
    if (typeof reason === 'string') return { ok: false, bytes, reason };
    return { ok: true, bytes, sha256: await sha256Of(filePath), bag: reason };
  } finally {
    await reader.close();
  }
}

/**
 * The most the check reads in one piece. A 30 s clip's index section (its connection records and one chunk info per
 * chunk) takes a few KiB, and a chunk with its index data about a MiB (rosbag closes a chunk past 768 KiB; one large
 * message makes it bigger). A header or chunk info that points further is a crafted or garbled file, and reading
 * what it points at costs that much memory (a 300 MB index section took a worker from 53 to 354 MB).
 */
const MAX_INDEX_BYTES = 4 * 2 ** 20;
const MAX_CHUNK_REGION_BYTES = 32 * 2 ** 20;

async function findBagDefect(bag: Bag, filePath: string, bytes: number): Promise<string | BagSummary> {
  const unreadable = (err: unknown): string => `not a readable ROS1 bag: ${(err as Error).message}`;
  // the reader reads everything from index_pos to the end of the file in one buffer: how much is checked first
  const header = await bag.reader.readHeader().catch((err: unknown) => unreadable(err));
  if (typeof header === 'string') return header;
  if (header.indexPosition === 0) return 'unindexed bag (header index_pos = 0): not closed or cut short';
  if (header.indexPosition >= bytes) return `index_pos ${header.indexPosition} lies beyond the end of the file (${bytes} bytes)`;
  const indexBytes = bytes - header.indexPosition;
  if (indexBytes > MAX_INDEX_BYTES) return `index section of ${indexBytes} bytes is larger than ${MAX_INDEX_BYTES} bytes`;
  try {
    await bag.open();
  } catch (err) {
    return unreadable(err);
  }
  if (bag.connections.size === 0 || bag.connections.size !== header.connectionCount)
    return `index lists ${bag.connections.size} connections, header says ${header.connectionCount}`;
  if (bag.chunkInfos.length === 0 || bag.chunkInfos.length !== header.chunkCount)
    return `index lists ${bag.chunkInfos.length} chunk infos, header says ${header.chunkCount}`;
  if (bag.chunkInfos.some((c) => c.chunkPosition >= header.indexPosition)) return 'a chunk info points into the index section';
  const indexed = bag.chunkInfos.reduce((n, c) => n + c.connections.reduce((m, k) => m + k.count, 0), 0);
  if (indexed === 0 || !bag.startTime || !bag.endTime) return 'the bag holds no messages';
  const chunkDefect = await findChunkDefect(filePath, bag.chunkInfos, header.indexPosition);
  if (chunkDefect) return chunkDefect;
  const topics = [...new Set([...bag.connections.values()].map((c) => c.topic))].sort();
  return { topics, messageCount: indexed, firstMessageTime: seconds(bag.startTime), lastMessageTime: seconds(bag.endTime) };
}

type ChunkInfo = Bag['chunkInfos'][number];

const OP_MESSAGE_DATA = 0x02;
const OP_CHUNK = 0x05;
const OP_INDEX_DATA = 0x04;

/**
 * Walks every chunk's records: the chunk record, each record inside it (message data, connections) and the index data
 * records after it must tile the space up to the next chunk exactly, and the chunk must hold as many messages as its
 * chunk info says. This catches a cut or garbled chunk section that an intact index hides.
 *
 * Why not the reader's messageIterator: @foxglove/rosbag copies every record's data (BagReader.readRecordFromBuffer
 * slices the ArrayBuffer), so iterating a 20 MB clip allocated ~40 MB that V8 frees only once external memory has
 * grown by tens of MB, and a worker's peak RSS stayed above 150 MB. Here one buffer per check is reused for all chunks.
 * Compressed chunks (bz2/lz4: no codec shipped) are checked as records, not opened; their index checks still hold.
 */
async function findChunkDefect(filePath: string, chunkInfos: readonly ChunkInfo[], indexPosition: number): Promise<string | undefined> {
  const ordered = [...chunkInfos].sort((a, b) => a.chunkPosition - b.chunkPosition);
  let file: FileHandle | undefined;
  try {
    file = await open(filePath, 'r');
    let buffer = Buffer.alloc(0);
    for (const [i, info] of ordered.entries()) {
      const end = ordered[i + 1]?.chunkPosition ?? indexPosition;
      const length = end - info.chunkPosition;
      if (length <= 8) return `chunk at ${info.chunkPosition} is empty`;
      if (length > MAX_CHUNK_REGION_BYTES)
        return `chunk at ${info.chunkPosition} spans ${length} bytes, more than ${MAX_CHUNK_REGION_BYTES}`;
      if (buffer.length < length) buffer = Buffer.allocUnsafe(length);
      const region = buffer.subarray(0, length);
      const { bytesRead } = await file.read(region, 0, length, info.chunkPosition);
      if (bytesRead < length) return `chunk at ${info.chunkPosition} is cut short`;
      const defect = chunkRegionDefect(region, info);
      if (defect) return `chunk at ${info.chunkPosition}: ${defect}`;
    }
    return undefined;
  } catch (err) {
    throw storageErrorFrom(err, filePath, 'read');
  } finally {
    await file?.close();
  }
}

/** A chunk record, then its index data records, filling `region` exactly; undefined when sound. */
function chunkRegionDefect(region: Buffer, info: ChunkInfo): string | undefined {
  const chunk = recordAt(region, 0);
  if (typeof chunk === 'string') return chunk;
  if (chunk.op !== OP_CHUNK) return `expected a chunk record, found op ${chunk.op}`;
  if (chunk.fields.get('compression') === 'none') {
    let messages = 0;
    for (let pos = chunk.dataStart; pos < chunk.end;) {
      const record = recordAt(region, pos, chunk.end);
      if (typeof record === 'string') return record;
      if (record.op === OP_MESSAGE_DATA) messages++;
      pos = record.end;
    }
    const indexed = info.connections.reduce((n, c) => n + c.count, 0);
    if (messages !== indexed) return `holds ${messages} messages, its chunk info says ${indexed}`;
  }
  for (let pos = chunk.end; pos < region.length;) {
    const record = recordAt(region, pos);
    if (typeof record === 'string') return record;
    if (record.op !== OP_INDEX_DATA) return `expected index data after the chunk, found op ${record.op}`;
    pos = record.end;
  }
  return undefined;
}

/** The record at `pos` (`<header_len><header><data_len><data>`), or why it cannot be one within `limit`. */
function recordAt(
  buf: Buffer,
  pos: number,
  limit = buf.length,
): string | { op: number; fields: Map<string, string>; dataStart: number; end: number } {
  if (pos + 4 > limit) return `record header cut at ${pos}`;
  const headerLength = buf.readUInt32LE(pos);
  const headerEnd = pos + 4 + headerLength;
  if (headerEnd + 4 > limit) return `record at ${pos} overruns its space`;
  const dataStart = headerEnd + 4;
  const end = dataStart + buf.readUInt32LE(headerEnd);
  if (end > limit) return `record data at ${pos} overruns its space`;
  const fields = new Map<string, string>();
  let op: number | undefined;
  for (let f = pos + 4; f < headerEnd;) {
    if (f + 4 > headerEnd) return `record header at ${pos} is garbled`;
    const fieldEnd = f + 4 + buf.readUInt32LE(f);
    if (fieldEnd > headerEnd) return `record header at ${pos} is garbled`;
    const eq = buf.indexOf(0x3d, f + 4); // '='
    if (eq < 0 || eq >= fieldEnd) return `record header at ${pos} is garbled`;
    const name = buf.toString('latin1', f + 4, eq);
    if (name === 'op' && fieldEnd - eq === 2) op = buf[eq + 1];
    else if (name === 'compression') fields.set(name, buf.toString('latin1', eq + 1, fieldEnd));
    f = fieldEnd;
  }
  if (op === undefined) return `record at ${pos} has no op`;
  return { op, fields, dataStart, end };
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
