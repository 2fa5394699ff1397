/**
 * Which 30 s slots have data, per (vehicle, camera, UTC day): a pure function of the seed. A vehicle
 * drives in runs minutes long separated by gaps (some under 5 minutes); some hours are empty; each
 * camera has short dropouts of its own; one vehicle of the fleet has no data at all that day.
 */
import { CLIP_SECONDS } from './bag.js';
import { Lru } from './lru.js';
import { between, hash32, prng, roll } from './random.js';

export const SLOTS_PER_DAY = (24 * 3600) / CLIP_SECONDS;
const DAY_RE = /^(\d{4})-(\d{2})-(\d{2})$/;

/** Epoch seconds of 00:00 UTC of `day` (YYYY-MM-DD), or undefined when it is not a calendar day. */
export function dayStartOf(day: string): number | undefined {
  const m = DAY_RE.exec(day);
  if (!m) return undefined;
  const ms = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  return new Date(ms).toISOString().slice(0, 10) === day ? ms / 1000 : undefined;
}

export function dayOf(epochSec: number): string {
  return new Date(epochSec * 1000).toISOString().slice(0, 10);
}

export class Availability {
  private readonly cache = new Lru<string, Uint8Array>(512);

  constructor(
    private readonly seed: number,
    private readonly vehicles: readonly string[],
  ) {}

  /** The vehicle with no data at all on `day` (none when the fleet has a single vehicle). */
  idleVehicleOf(day: string): string | undefined {
    if (this.vehicles.length < 2) return undefined;
    return this.vehicles[hash32(`${this.seed}|idle|${day}`) % this.vehicles.length];
  }

  /** One byte per slot of the day, 1 where the camera recorded. */
  slotsOf(vehicle: string, camera: string, day: string): Uint8Array {
    return this.cache.getOrMake(`${vehicle}|${camera}|${day}`, () => {
      const slots = Uint8Array.from(this.drivingOf(vehicle, day));
      const next = prng(hash32(`${this.seed}|dropouts|${vehicle}|${camera}|${day}`));
      for (let i = 0; i < SLOTS_PER_DAY; i++) {
        if (slots[i] && next() < 0.01) slots.fill(0, i, i + between(next(), 1, 6));
      }
      return slots;
    });
  }

  hasClip(vehicle: string, camera: string, start: number): boolean {
    if (start % CLIP_SECONDS !== 0) return false;
    const day = dayOf(start);
    const index = (start - (dayStartOf(day) as number)) / CLIP_SECONDS;
    return this.slotsOf(vehicle, camera, day)[index] === 1;
  }

  /** Start of the first slot with data that overlaps [startTime, endTime), if any. */
  firstClipIn(vehicle: string, camera: string, startTime: number, endTime: number): number | undefined {
    for (let s = Math.floor(startTime / CLIP_SECONDS) * CLIP_SECONDS; s < endTime; s += CLIP_SECONDS)
      if (this.hasClip(vehicle, camera, s)) return s;
    return undefined;
  }

  private drivingOf(vehicle: string, day: string): Uint8Array {
    return this.cache.getOrMake(`${vehicle}|*|${day}`, () => {
      const slots = new Uint8Array(SLOTS_PER_DAY);
      if (vehicle === this.idleVehicleOf(day)) return slots;
      const next = prng(hash32(`${this.seed}|driving|${vehicle}|${day}`));
      let i = between(next(), 0, 240);
      while (i < SLOTS_PER_DAY) {
        const run = between(next(), 10, 240); // 5 min .. 2 h
        slots.fill(1, i, i + run);
        const shortGap = next() < 0.35;
        i += run + (shortGap ? between(next(), 2, 9) : between(next(), 10, 120)); // 1-4.5 min, or 5-60 min
      }
      // whole empty hours: at least one, ~15 % of the others
      const alwaysEmpty = between(roll(this.seed, 'empty-hour', vehicle, day), 0, 23);
      for (let h = 0; h < 24; h++) {
        if (h === alwaysEmpty || roll(this.seed, 'empty-hour', vehicle, day, h) < 0.15) slots.fill(0, h * 120, (h + 1) * 120);
      }
      return slots;
    });
  }
}
