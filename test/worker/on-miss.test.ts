import { describe, expect, test } from '@jest/globals';
import { Availability } from '../../src/sim/availability.js';
import { prng } from '../../src/sim/random.js';
import { parseOnMiss } from '../../src/plan/grammar.js';
import type { MissStrategy } from '../../src/plan/types.js';
import { SlotPlanner } from '../../src/worker/on-miss.js';

/** Runs a planner against a truth; in-flight probes resolve in a seeded random order (as concurrent HTTP does). */
function simulate(strategy: MissStrategy, truth: readonly boolean[], maxInflight: number, seed = 1) {
  const planner = new SlotPlanner(strategy, truth.length, { maxInflight });
  const random = prng(seed);
  const inflight: number[] = [];
  const found = new Set<number>();
  for (let guard = 0; !planner.done; guard++) {
    if (guard > 10_000) throw new Error('planner does not finish');
    for (let i = planner.next(); i !== undefined; i = planner.next()) inflight.push(i);
    if (inflight.length === 0) {
      if (planner.done) break; // the last decision skipped the rest
      throw new Error('planner waits with nothing in flight');
    }
    const [slot] = inflight.splice(Math.floor(random() * inflight.length), 1) as [number];
    if (truth[slot]) found.add(slot);
    planner.report(slot, truth[slot] ? 'data' : 'missing');
  }
  return { found, probes: planner.probes, skipped: planner.skipped() };
}

const bits = (pattern: string): boolean[] => [...pattern.replace(/ /g, '')].map((c) => c === '1');
const dataOf = (truth: readonly boolean[]) => new Set(truth.flatMap((d, i) => (d ? [i] : [])));

/**
 * Every vehicle-hour of a simulated day, for several seeds: a slot has data when any of the vehicle's cameras
 * recorded (the worker judges a slot by all cameras of the vehicle together).
 */
function simulatedHours(): boolean[][] {
  const hours: boolean[][] = [];
  for (const seed of [1, 2, 3, 4, 5, 6]) {
    const availability = new Availability(seed, ['mallory', 'mav', 'megalodon']);
    for (const vehicle of ['mallory', 'mav', 'megalodon']) {
      const front = availability.slotsOf(vehicle, 'front-center', '2025-11-17');
      const left = availability.slotsOf(vehicle, 'left-center', '2025-11-17');
      for (let h = 0; h < 24; h++) hours.push(Array.from({ length: 120 }, (_, i) => front[h * 120 + i] === 1 || left[h * 120 + i] === 1));
    }
  }
  return hours;
}

describe('SlotPlanner', () => {
  const gallop = parseOnMiss('gallop');

  test('probe-all asks for every slot once', () => {
    const truth = bits('1100 0000 0011 0100');
    const r = simulate({ kind: 'probe-all' }, truth, 3);
    expect(r.probes).toBe(16);
    expect(r.found).toEqual(dataOf(truth));
  });

  test("skip:SECS is the notebook's rule: after a 404 the next request is SECS later", () => {
    //            0123456789012345678901
    const truth = bits('1110 0011 1111 1111 1111 11');
    const r = simulate({ kind: 'skip', skipSeconds: 300 }, truth, 1);
    // miss at 3 → next request at 13; slots 6..12 are lost
    expect([...r.found].sort((a, b) => a - b)).toEqual([0, 1, 2, 13, 14, 15, 16, 17, 18, 19, 20, 21]);
    expect(r.skipped).toEqual([4, 5, 6, 7, 8, 9, 10, 11, 12]);
  });

  test('gallop finds the first clip after a long gap with fewer requests than probe-all', () => {
    const truth = [...bits('1111'), ...Array<boolean>(80).fill(false), ...Array<boolean>(36).fill(true)];
    const r = simulate(gallop, truth, 1);
    expect(r.found).toEqual(dataOf(truth));
    expect(r.probes).toBeLessThan(60);
  });

  test('gallop re-checks a stride that landed in a dropout just after the drive resumed', () => {
    // miss at 4, strides land on 5, 7, 11, 19, 27; 27 is in a dropout (26..28) of a drive that started at 23
    const truth = bits('1111 0000 0000 0000 0000 000 111 000 11111 11111');
    for (const maxInflight of [1, 4]) expect(simulate(gallop, truth, maxInflight).found).toEqual(dataOf(truth));
  });

  test('known results of a resumed shard are not asked for again', () => {
    const known = new Map([
      [0, 'data'],
      [1, 'missing'],
      [2, 'data'],
    ] as const);
    const planner = new SlotPlanner({ kind: 'probe-all' }, 4, { maxInflight: 4, known });
    expect(planner.next()).toBe(3);
    expect(planner.next()).toBeUndefined();
    planner.report(3, 'missing');
    expect(planner.done).toBe(true);
  });

  test('no more than maxInflight probes at once', () => {
    const planner = new SlotPlanner({ kind: 'probe-all' }, 10, { maxInflight: 2 });
    expect([planner.next(), planner.next(), planner.next()]).toEqual([0, 1, undefined]);
  });

  test.each([1, 3, 8])(
    'on simulated days (6 seeds x 3 vehicles), gallop with %i in flight recovers every clip, probe-all too; skip:300 loses some',
    (maxInflight) => {
      let truthClips = 0;
      let lostBySkip = 0;
      let gallopProbes = 0;
      let probeAllProbes = 0;
      simulatedHours().forEach((truth, i) => {
        const want = dataOf(truth);
        truthClips += want.size;
        const g = simulate(gallop, truth, maxInflight, i + 1);
        expect({ hour: i, found: [...g.found].sort((a, b) => a - b) }).toEqual({ hour: i, found: [...want].sort((a, b) => a - b) });
        gallopProbes += g.probes;
        const all = simulate({ kind: 'probe-all' }, truth, maxInflight, i + 1);
        expect(all.found.size).toBe(want.size);
        probeAllProbes += all.probes;
        lostBySkip += want.size - simulate({ kind: 'skip', skipSeconds: 300 }, truth, maxInflight, i + 1).found.size;
      });
      expect(truthClips).toBeGreaterThan(1000);
      expect(lostBySkip).toBeGreaterThan(0);
      // speculative probes past the end of a drive cost more the more are in flight
      expect(gallopProbes).toBeLessThan(probeAllProbes * (maxInflight === 1 ? 0.6 : 0.95));
    },
  );
});
