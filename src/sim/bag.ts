/**
 * A minimal ROS1 bag v2.0 writer for the simulator's clips (no npm package writes ROS1 bags; see
 * docs/sim.md). Layout as rosbag writes it: magic, a 4096-byte bag header record, chunks (uncompressed)
 * each followed by its index data record, then the index section: the connection record and one chunk
 * info record per chunk. Content is a pure function of (vehicle, camera, start, clipBytes).
 */
import { fillPseudoRandom, hash32, prng } from './random.js';

export const CLIP_SECONDS = 30;
const BAG_MAGIC = '#ROSBAG V2.0\n';
const BAG_HEADER_RECORD_BYTES = 4096;
/** rosbag's default chunk threshold (rosbag_storage/src/bag.cpp) */
const CHUNK_THRESHOLD_BYTES = 768 * 1024;
const FRAMES_PER_SECOND = 10;

const OP = { messageData: 0x02, bagHeader: 0x03, indexData: 0x04, chunk: 0x05, chunkInfo: 0x06, connection: 0x07 } as const;

export const COMPRESSED_IMAGE_TYPE = 'sensor_msgs/CompressedImage';
export const COMPRESSED_IMAGE_MD5 = '8f7a12909da2c9d3332d540a0977563f';
/** The full definition as `gendeps --cat` prints it; its md5 is COMPRESSED_IMAGE_MD5. */
const COMPRESSED_IMAGE_DEFINITION = `# This message contains a compressed image

Header header        # Header timestamp should be acquisition time of image
                     # Header frame_id should be optical frame of camera
                     # origin of frame should be optical center of camera
                     # +x should point to the right in the image
                     # +y should point down in the image
                     # +z should point into to plane of the image

string format        # Specifies the format of the data
                     #   Acceptable values:
                     #     jpeg, png
uint8[] data         # Compressed image buffer

================================================================================
MSG: std_msgs/Header
# Standard metadata for higher-level stamped data types.
# This is generally used to communicate timestamped data 
# in a particular coordinate frame.
# 
# sequence ID: consecutively increasing ID 
uint32 seq
#Two-integer timestamp that is expressed as:
# * stamp.sec: seconds (stamp.secs) since epoch (in Python the variable is called 'secs')
# * stamp.nsec: nanoseconds since stamp_secs (in Python the variable is called 'nsecs')
# time-handling sugar is provided by the client library
time stamp
#Frame this data is associated with
string frame_id
`;

export function topicOf(camera: string): string {
  return `/camera/${camera}/image/compressed`;
}

type Field = [name: string, value: Buffer];

const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
};
const u64 = (n: number): Buffer => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
};
const time = (sec: number, nsec: number): Buffer => Buffer.concat([u32(sec), u32(nsec)]);
const op = (code: number): Buffer => Buffer.from([code]);

function encodeFields(fields: Field[]): Buffer {
  return Buffer.concat(
    fields.flatMap(([name, value]) => {
      const nameBytes = Buffer.from(`${name}=`, 'latin1');
      return [u32(nameBytes.length + value.length), nameBytes, value];
    }),
  );
}

/** `<header_len><header><data_len><data>`, with room left for `dataLength` bytes of data written later. */
function recordPrefix(fields: Field[], dataLength: number): Buffer {
  const header = encodeFields(fields);
  return Buffer.concat([u32(header.length), header, u32(dataLength)]);
}

function bagHeaderRecord(indexPos: number, connCount: number, chunkCount: number): Buffer {
  const header = encodeFields([
    ['op', op(OP.bagHeader)],
    ['index_pos', u64(indexPos)],
    ['conn_count', u32(connCount)],
    ['chunk_count', u32(chunkCount)],
  ]);
  // padded with spaces to 4096 bytes so a recorder can rewrite it in place on close
  const padding = BAG_HEADER_RECORD_BYTES - 8 - header.length;
  return Buffer.concat([u32(header.length), header, u32(padding), Buffer.alloc(padding, 0x20)]);
}

function connectionRecord(camera: string): Buffer {
  const topic = Buffer.from(topicOf(camera));
  const data = encodeFields([
    ['topic', topic],
    ['type', Buffer.from(COMPRESSED_IMAGE_TYPE)],
    ['md5sum', Buffer.from(COMPRESSED_IMAGE_MD5)],
    ['message_definition', Buffer.from(COMPRESSED_IMAGE_DEFINITION)],
    ['callerid', Buffer.from('/fleetclip_sim')],
    ['latching', Buffer.from('0')],
  ]);
  return Buffer.concat([
    recordPrefix(
      [
        ['op', op(OP.connection)],
        ['conn', u32(0)],
        ['topic', topic],
      ],
      data.length,
    ),
    data,
  ]);
}

interface Frame {
  sec: number;
  nsec: number;
  imageBytes: number;
}

/** ~10 frames/s stamped inside [start, start + 30 s), a few frames dropped, image sizes varying ±3 %. */
function planFrames(key: string, start: number, clipBytes: number, frameIdBytes: number): Frame[] {
  const next = prng(hash32(`frames|${key}`));
  const count = CLIP_SECONDS * FRAMES_PER_SECOND - Math.floor(next() * 4);
  const perMessageOverhead = 8 + 38 + (4 + 8 + 4 + frameIdBytes + 4 + 4 + 4) + 12;
  const fixedOverhead = 13 + BAG_HEADER_RECORD_BYTES + 2 * 1800 + 3 * 250;
  const meanImage = Math.max(64, Math.floor((clipBytes - fixedOverhead) / count) - perMessageOverhead);
  return Array.from({ length: count }, (_, i) => {
    const offsetNs = i * 100_000_000 + Math.floor(next() * 20_000_000);
    return {
      sec: start + Math.floor(offsetNs / 1e9),
      nsec: offsetNs % 1e9,
      imageBytes: Math.round(meanImage * (0.97 + next() * 0.06)),
    };
  });
}

function messageHeader(frame: Frame): Buffer {
  return encodeFields([
    ['op', op(OP.messageData)],
    ['conn', u32(0)],
    ['time', time(frame.sec, frame.nsec)],
  ]);
}

/** The exact bytes of the good clip for (vehicle, camera, start). */
export function buildClipBag(vehicle: string, camera: string, start: number, clipBytes: number): Buffer {
  const key = `${vehicle}|${camera}|${start}`;
  const clipSeed = hash32(`image|${key}`);
  const frameId = Buffer.from(`${camera}_optical_frame`);
  const frames = planFrames(key, start, clipBytes, frameId.length);
  const format = Buffer.from('jpeg');
  const conn = connectionRecord(camera);
  // one message header, its `time` field patched per frame (the last 8 bytes)
  const msgHeader = messageHeader({ sec: 0, nsec: 0, imageBytes: 0 });
  const msgHeaderBytes = msgHeader.length;
  const messageDataBytes = (f: Frame) => 4 + 4 + 4 + 4 + frameId.length + 4 + format.length + 4 + f.imageBytes;
  const messageRecordBytes = (f: Frame) => 8 + msgHeaderBytes + messageDataBytes(f);

  // chunks close once their data passes the threshold, as rosbag does
  const chunks: { frames: Frame[]; dataBytes: number }[] = [];
  let current = { frames: [] as Frame[], dataBytes: conn.length };
  for (const f of frames) {
    current.frames.push(f);
    current.dataBytes += messageRecordBytes(f);
    if (current.dataBytes >= CHUNK_THRESHOLD_BYTES) {
      chunks.push(current);
      current = { frames: [], dataBytes: 0 };
    }
  }
  if (current.frames.length > 0) chunks.push(current);

  const parts: Buffer[] = [Buffer.from(BAG_MAGIC, 'latin1'), Buffer.alloc(BAG_HEADER_RECORD_BYTES)];
  let pos = parts[0]!.length + BAG_HEADER_RECORD_BYTES;
  const chunkInfos: Buffer[] = [];
  let seq = 0;
  chunks.forEach((chunk, chunkIndex) => {
    const chunkPos = pos;
    const data = Buffer.allocUnsafe(chunk.dataBytes);
    const indexData = Buffer.allocUnsafe(12 * chunk.frames.length);
    // DataView and Uint8Array.set: Buffer's per-call methods are ~10x slower under jest's vm
    const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
    const iv = new DataView(indexData.buffer, indexData.byteOffset, indexData.byteLength);
    const put = (value: number) => {
      dv.setUint32(at, value, true);
      at += 4;
    };
    const copy = (bytes: Uint8Array) => {
      data.set(bytes, at);
      at += bytes.length;
    };
    let at = 0;
    if (chunkIndex === 0) copy(conn);
    chunk.frames.forEach((f, i) => {
      iv.setUint32(12 * i, f.sec, true);
      iv.setUint32(12 * i + 4, f.nsec, true);
      iv.setUint32(12 * i + 8, at, true);
      put(msgHeaderBytes);
      copy(msgHeader);
      dv.setUint32(at - 8, f.sec, true);
      dv.setUint32(at - 4, f.nsec, true);
      put(messageDataBytes(f));
      put(seq++);
      put(f.sec);
      put(f.nsec);
      put(frameId.length);
      copy(frameId);
      put(format.length);
      copy(format);
      put(f.imageBytes);
      // JPEG start/end markers around pseudo-random "entropy-coded" bytes
      fillPseudoRandom(data, at, f.imageBytes, (clipSeed ^ (seq * 0x9e3779b9)) >>> 0);
      data[at] = 0xff;
      data[at + 1] = 0xd8;
      data[at + f.imageBytes - 2] = 0xff;
      data[at + f.imageBytes - 1] = 0xd9;
      at += f.imageBytes;
    });
    const chunkPrefix = recordPrefix(
      [
        ['op', op(OP.chunk)],
        ['compression', Buffer.from('none')],
        ['size', u32(data.length)],
      ],
      data.length,
    );
    const indexPrefix = recordPrefix(
      [
        ['op', op(OP.indexData)],
        ['ver', u32(1)],
        ['conn', u32(0)],
        ['count', u32(chunk.frames.length)],
      ],
      indexData.length,
    );
    parts.push(chunkPrefix, data, indexPrefix, indexData);
    pos += chunkPrefix.length + data.length + indexPrefix.length + indexData.length;
    const first = chunk.frames[0] as Frame;
    const last = chunk.frames[chunk.frames.length - 1] as Frame;
    const infoData = Buffer.concat([u32(0), u32(chunk.frames.length)]);
    chunkInfos.push(
      recordPrefix(
        [
          ['op', op(OP.chunkInfo)],
          ['ver', u32(1)],
          ['chunk_pos', u64(chunkPos)],
          ['start_time', time(first.sec, first.nsec)],
          ['end_time', time(last.sec, last.nsec)],
          ['count', u32(1)],
        ],
        infoData.length,
      ),
      infoData,
    );
  });
  const indexPos = pos;
  parts[1] = bagHeaderRecord(indexPos, 1, chunks.length);
  parts.push(conn, ...chunkInfos);
  return Buffer.concat(parts);
}

/** index_pos of a bag this module wrote: after the magic, header_len, the `op` field and `index_pos=`'s length and name. */
export function indexPosOf(bag: Buffer): number {
  return Number(bag.readBigUInt64LE(BAG_MAGIC.length + 4 + (4 + 'op='.length + 1) + 4 + 'index_pos='.length));
}

export type BrokenKind = 'unindexed' | 'cut';

/**
 * A full-size broken bag. `unindexed`: index_pos = 0 (and no counts), as a recorder killed before
 * close leaves it; `cut`: the file stops at 90 % of its chunk section, index_pos points past EOF.
 */
export function brokenClipBag(good: Buffer, kind: BrokenKind): Buffer {
  if (kind === 'cut') {
    return Buffer.from(good.subarray(0, Math.floor(indexPosOf(good) * 0.9)));
  }
  const copy = Buffer.from(good);
  bagHeaderRecord(0, 0, 0).copy(copy, BAG_MAGIC.length);
  return copy;
}

/** A tiny invalid "clip": the real bag header and the first 2 KiB of its first chunk, nothing more. */
export function tinyClipBag(good: Buffer): Buffer {
  return Buffer.from(good.subarray(0, Math.min(good.length - 1, BAG_MAGIC.length + BAG_HEADER_RECORD_BYTES + 2048)));
}
