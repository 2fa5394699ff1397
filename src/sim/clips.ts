/** Clip bytes, their fingerprints (cached) and the truth: every slot that has data, with its sha256. */
import { createHash } from 'node:crypto';
import { UsageError } from '../errors.js';
import { Availability, SLOTS_PER_DAY, dayStartOf } from './availability.js';
import { CLIP_SECONDS, brokenClipBag, buildClipBag, tinyClipBag } from './bag.js';
import type { SimConfig } from './config.js';
import { Lru } from './lru.js';

export interface TruthSlot {
  vehicle: string;
  camera: string;
  /** epoch s */
  start: number;
  startIso: string;
  sha256: string;
  bytes: number;
}

export interface TruthQuery {
  /** YYYY-MM-DD, UTC */
  day: string;
  vehicle?: string;
  camera?: string;
  /** HH:MM UTC, inclusive; default 00:00 */
  from?: string;
  /** HH:MM UTC, exclusive; default 24:00 */
  to?: string;
}

/** What a download hands out: the good clip, or one of the faults' broken files. */
export type ClipVariant = 'good' | 'tiny' | 'unindexed' | 'cut';

export interface ClipRef {
  vehicle: string;
  camera: string;
  start: number;
}

/** The exact bytes a good clip has: a pure function of (vehicle, camera, start, clipBytes). */
export function clipBagBytes(vehicle: string, camera: string, start: number, config: Pick<SimConfig, 'clipBytes'>): Buffer {
  return buildClipBag(vehicle, camera, start, config.clipBytes);
}

const HH_MM = /^(\d{2}):(\d{2})$/;

/** sha256 and size per (clipBytes, vehicle, camera, start), shared by every simulator in the process */
const FINGERPRINTS = new Lru<string, { sha256: string; bytes: number }>(200_000);

function minuteOf(name: string, hhmm: string): number {
  const m = HH_MM.exec(hhmm);
  const minutes = m ? Number(m[1]) * 60 + Number(m[2]) : NaN;
  if (!m || Number(m[2]) > 59 || !(minutes <= 24 * 60)) throw new UsageError(`truth: ${name} must be HH:MM (00:00..24:00), got "${hhmm}"`);
  return minutes;
}

export class ClipStore {
  readonly availability: Availability;
  private readonly bags: Lru<string, Buffer>;

  constructor(private readonly config: SimConfig) {
    this.availability = new Availability(config.seed, config.vehicles);
    // a few recent clips, so ranged and repeated downloads do not rebuild them (~64 MB at most)
    this.bags = new Lru(Math.max(2, Math.floor((64 * 1024 * 1024) / config.clipBytes)));
  }

  bytesOf(clip: ClipRef, variant: ClipVariant): Buffer {
    const good = this.bags.getOrMake(`${clip.vehicle}|${clip.camera}|${clip.start}`, () =>
      clipBagBytes(clip.vehicle, clip.camera, clip.start, this.config),
    );
    if (variant === 'good') return good;
    return variant === 'tiny' ? tinyClipBag(good) : brokenClipBag(good, variant);
  }

  fingerprintOf(clip: ClipRef): { sha256: string; bytes: number } {
    return FINGERPRINTS.getOrMake(`${this.config.clipBytes}|${clip.vehicle}|${clip.camera}|${clip.start}`, () => {
      const bytes = clipBagBytes(clip.vehicle, clip.camera, clip.start, this.config);
      return { sha256: createHash('sha256').update(bytes).digest('hex'), bytes: bytes.length };
    });
  }

  /** Every slot with data that matches the query, sorted by vehicle, camera, start. Hashes each clip once. */
  truth(q: TruthQuery): TruthSlot[] {
    const dayStart = dayStartOf(q.day);
    if (dayStart === undefined) throw new UsageError(`truth: day must be YYYY-MM-DD, got "${q.day}"`);
    for (const [name, value, known] of [
      ['vehicle', q.vehicle, this.config.vehicles],
      ['camera', q.camera, this.config.cameras],
    ] as const)
      if (value !== undefined && !known.includes(value)) throw new UsageError(`truth: unknown ${name} "${value}"`);
    const fromSlot = (minuteOf('from', q.from ?? '00:00') * 60) / CLIP_SECONDS;
    const toSlot = Math.min(SLOTS_PER_DAY, (minuteOf('to', q.to ?? '24:00') * 60) / CLIP_SECONDS);
    const slots: TruthSlot[] = [];
    for (const vehicle of [...this.config.vehicles].sort()) {
      if (q.vehicle !== undefined && vehicle !== q.vehicle) continue;
      for (const camera of [...this.config.cameras].sort()) {
        if (q.camera !== undefined && camera !== q.camera) continue;
        const has = this.availability.slotsOf(vehicle, camera, q.day);
        for (let i = fromSlot; i < toSlot; i++) {
          if (!has[i]) continue;
          const start = dayStart + i * CLIP_SECONDS;
          slots.push({
            vehicle,
            camera,
            start,
            startIso: new Date(start * 1000).toISOString(),
            ...this.fingerprintOf({ vehicle, camera, start }),
          });
        }
      }
    }
    return slots;
  }
}
