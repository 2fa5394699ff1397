import { describe, expect, test } from '@jest/globals';
import { Availability, SLOTS_PER_DAY, dayStartOf } from '../../src/sim/availability.js';
import { SIM_DEFAULTS } from '../../src/sim/index.js';

const FLEET = SIM_DEFAULTS.vehicles;
const DAYS = ['2025-11-17', '2025-11-18', '2025-11-19'];

/** [start, length] of each run of 1s or of 0s strictly inside the day (edges excluded) */
function runsOf(slots: Uint8Array, value: 0 | 1): number[] {
  const lengths: number[] = [];
  let i = 0;
  while (i < slots.length) {
    let j = i;
    while (j < slots.length && slots[j] === slots[i]) j++;
    if (slots[i] === value && i > 0 && j < slots.length) lengths.push(j - i);
    i = j;
  }
  return lengths;
}

describe('data availability', () => {
  test('dayStartOf accepts calendar days only', () => {
    expect(dayStartOf('2025-11-17')).toBe(Date.UTC(2025, 10, 17) / 1000);
    expect(dayStartOf('2025-02-30')).toBeUndefined();
    expect(dayStartOf('2025-11-7')).toBeUndefined();
  });

  test.each(DAYS.map((day) => ({ day })))('$day: exactly one vehicle is idle all day, the others have data', ({ day }) => {
    const a = new Availability(1, FLEET);
    const idle = a.idleVehicleOf(day);
    for (const vehicle of FLEET)
      for (const camera of SIM_DEFAULTS.cameras) {
        const count = a.slotsOf(vehicle, camera, day).reduce((n, x) => n + x, 0);
        if (vehicle === idle) expect(count).toBe(0);
        else expect(count).toBeGreaterThan(SLOTS_PER_DAY / 5);
      }
  });

  test('runs are minutes long, some gaps are shorter than 5 minutes, some hours are empty', () => {
    const a = new Availability(7, FLEET);
    const day = DAYS[0] as string;
    const active = FLEET.filter((v) => v !== a.idleVehicleOf(day));
    const runs = active.flatMap((v) => runsOf(a.slotsOf(v, 'front-center', day), 1));
    const gaps = active.flatMap((v) => runsOf(a.slotsOf(v, 'front-center', day), 0));
    expect(Math.max(...runs)).toBeGreaterThanOrEqual(20); // >= 10 minutes
    expect(gaps.some((g) => g < 10)).toBe(true); // < 5 minutes
    expect(gaps.some((g) => g >= 10)).toBe(true);
    for (const v of active) {
      const slots = a.slotsOf(v, 'front-center', day);
      const emptyHours = Array.from({ length: 24 }, (_, h) => slots.subarray(h * 120, (h + 1) * 120).every((x) => x === 0));
      expect(emptyHours.filter(Boolean).length).toBeGreaterThanOrEqual(1);
    }
  });

  test('cameras of one vehicle mostly agree but each has dropouts of its own', () => {
    const a = new Availability(1, FLEET);
    const day = DAYS[0] as string;
    const vehicle = FLEET.find((v) => v !== a.idleVehicleOf(day)) as string;
    const [x, y] = ['front-center', 'left-center'].map((c) => a.slotsOf(vehicle, c, day)) as [Uint8Array, Uint8Array];
    const differ = x.filter((v, i) => v !== y[i]).length;
    expect(differ).toBeGreaterThan(0);
    expect(differ).toBeLessThan(SLOTS_PER_DAY / 10);
  });

  test('deterministic from the seed: same seed same slots, another seed other slots', () => {
    const day = DAYS[1] as string;
    const slots = (seed: number) => FLEET.map((v) => Array.from(new Availability(seed, FLEET).slotsOf(v, 'front-center', day)).join(''));
    expect(slots(3)).toEqual(slots(3));
    expect(slots(3)).not.toEqual(slots(4));
  });

  test('firstClipIn finds the first slot with data overlapping a window, even an unaligned one', () => {
    const a = new Availability(1, FLEET);
    const day = DAYS[0] as string;
    const vehicle = FLEET.find((v) => v !== a.idleVehicleOf(day)) as string;
    const slots = a.slotsOf(vehicle, 'front-center', day);
    const i = slots.findIndex((x, k) => x === 1 && slots[k - 1] === 0);
    const start = (dayStartOf(day) as number) + i * 30;
    expect(a.hasClip(vehicle, 'front-center', start)).toBe(true);
    expect(a.hasClip(vehicle, 'front-center', start - 30)).toBe(false);
    expect(a.firstClipIn(vehicle, 'front-center', start - 30, start + 30)).toBe(start);
    expect(a.firstClipIn(vehicle, 'front-center', start - 15, start + 15)).toBe(start);
    expect(a.firstClipIn(vehicle, 'front-center', start - 30, start)).toBeUndefined();
  });
});
