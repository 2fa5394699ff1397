import { ManifestError } from '../errors.js';
import { SHARD_SECONDS, SLOT_SECONDS } from '../plan/types.js';
import type { SlotOutcome, SlotResult } from './types.js';

export const SLOTS_PER_SHARD = SHARD_SECONDS / SLOT_SECONDS;

/**
 * Outcomes as stored in `slot_result.outcome` and `camera_count.outcome`. Part of the file format: never renumber.
 * ok and missing, nearly every row, are 0 and 1, which SQLite keeps in the record header at no byte of the row.
 */
export const OUTCOME_CODE = { ok: 0, missing: 1, invalid: 2, failed: 3 } as const satisfies Record<SlotOutcome, number>;
const OUTCOME_OF = Object.keys(OUTCOME_CODE) as SlotOutcome[];

/** A `slot_result` row: one slot of one camera of one shard. */
export interface SlotRow {
  shard_id: number;
  camera_no: number;
  /** 0..119: the slot starts at the shard's hour_start + 30 s * slot_no */
  slot_no: number;
  outcome: number;
  fence: number;
  attempts: number;
  at_ms: number;
  bytes: number | null;
  sha256: Buffer | null;
  bucket: number | null;
  topic_set: number | null;
  message_count: number | null;
  /** first and last message time, integer microseconds after the slot start */
  first_us: number | null;
  last_us: number | null;
  error: string | null;
}

/** The columns of slot_result in table order: positional parameters bind twice as fast as named ones. */
export const SLOT_COLUMNS = [
  'shard_id',
  'camera_no',
  'slot_no',
  'outcome',
  'fence',
  'attempts',
  'at_ms',
  'bytes',
  'sha256',
  'bucket',
  'topic_set',
  'message_count',
  'first_us',
  'last_us',
  'error',
] as const satisfies readonly (keyof SlotRow)[];

export function slotRowValues(row: SlotRow): unknown[] {
  return SLOT_COLUMNS.map((column) => row[column]);
}

/** The shard a row belongs to, as far as its rows need it. */
export interface ShardKey {
  id: number;
  vehicle: string;
  hourStart: number;
}

export function slotNoOf(shard: ShardKey, start: number): number {
  const slotNo = (start - shard.hourStart) / SLOT_SECONDS;
  if (!Number.isInteger(slotNo) || slotNo < 0 || slotNo >= SLOTS_PER_SHARD) {
    throw new ManifestError(`slot ${start} is not a slot of shard ${shard.id} (${shard.vehicle} ${shard.hourStart})`, {
      shardId: shard.id,
      vehicle: shard.vehicle,
    });
  }
  return slotNo;
}

export function startOf(shard: Pick<ShardKey, 'hourStart'>, slotNo: number): number {
  return shard.hourStart + slotNo * SLOT_SECONDS;
}

const SHA256_HEX = /^[0-9a-f]{64}$/;

/** `cameraNo` and `topicSet` come from the manifest's dictionaries; everything else from the result. */
export function encodeSlot(shard: ShardKey, fence: number, r: SlotResult, cameraNo: number, topicSet: number | null): SlotRow {
  if (r.sha256 !== undefined && !SHA256_HEX.test(r.sha256)) {
    throw new ManifestError(`slot ${r.vehicle} ${r.camera} ${r.start}: sha256 "${r.sha256}" is not 64 lowercase hex digits`, {
      shardId: shard.id,
      vehicle: r.vehicle,
      camera: r.camera,
    });
  }
  return {
    shard_id: shard.id,
    camera_no: cameraNo,
    slot_no: slotNoOf(shard, r.start),
    outcome: OUTCOME_CODE[r.outcome],
    fence,
    attempts: r.attempts,
    at_ms: r.atMs,
    bytes: r.bytes ?? null,
    sha256: r.sha256 === undefined ? null : Buffer.from(r.sha256, 'hex'),
    bucket: r.bucket ?? null,
    topic_set: topicSet,
    message_count: r.bag?.messageCount ?? null,
    first_us: r.bag ? microsAfter(r.bag.firstMessageTime, r.start) : null,
    last_us: r.bag ? microsAfter(r.bag.lastMessageTime, r.start) : null,
    error: r.error ?? null,
  };
}

/** `topics` is the row's topic set, already looked up. */
export function decodeSlot(row: SlotRow, shard: ShardKey, camera: string, topics: readonly string[] | undefined): SlotResult {
  const start = startOf(shard, row.slot_no);
  return {
    vehicle: shard.vehicle,
    camera,
    start,
    outcome: outcomeOf(row.outcome),
    ...(row.bytes !== null && { bytes: row.bytes }),
    ...(row.sha256 !== null && { sha256: row.sha256.toString('hex') }),
    ...(row.bucket !== null && { bucket: row.bucket }),
    ...(topics !== undefined && {
      bag: {
        topics: [...topics],
        messageCount: row.message_count ?? 0,
        firstMessageTime: start + (row.first_us ?? 0) / 1e6,
        lastMessageTime: start + (row.last_us ?? 0) / 1e6,
      },
    }),
    attempts: row.attempts,
    ...(row.error !== null && { error: row.error }),
    atMs: row.at_ms,
  };
}

/** A bag time (epoch seconds, fractional) as whole microseconds after the slot start: 4 bytes instead of a JSON number. */
export function microsAfter(epochSeconds: number, slotStart: number): number {
  return Math.round((epochSeconds - slotStart) * 1e6);
}

export function outcomeOf(code: number): SlotOutcome {
  return OUTCOME_OF[code]!;
}
