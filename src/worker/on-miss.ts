import { SLOT_SECONDS, type MissStrategy } from '../plan/types.js';

/**
 * `gallop` re-examines this many skipped slots before a miss that turns out to precede data: a camera's own dropouts
 * (a few slots inside a drive) can make a stride probe land in a hole just after the drive resumed.
 */
const GALLOP_RECHECK_SLOTS = 6;

type SlotState = 'unknown' | 'inflight' | 'data' | 'missing' | 'skipped' | 'recheck';
export type ProbeResult = 'data' | 'missing';

export interface SlotPlannerOptions {
  /** at most this many probes of this stream in flight at once (asked anew each time: the worker's window moves) */
  maxInflight: number | (() => number);
  /** results already known (a resumed shard): index → outcome */
  known?: ReadonlyMap<number, ProbeResult>;
}

/**
 * Decides, for one stream of consecutive slots, which slot to ask for next. The worker runs one planner per shard
 * (vehicle-hour): a slot is probed for every camera at once and counts as data when any camera has it, so one
 * camera's short dropout never looks like the vehicle being parked. Pure: the caller
 * probes and reports back. Several probes may be in flight; a strategy that must see a result first returns undefined.
 *
 * Each maximal run of unknown slots is judged by its resolved neighbours L (left) and R (right):
 * L is data or the start → scan (probe the run's first slot, speculatively while L is still in flight).
 * L is a miss: `skip` marks the next slots skipped; `gallop` bisects when R is data, skips the run when R is a miss
 * (both ends missing means the whole gap is), else probes a stride ahead (never past the end, so the last slot is seen).
 */
export class SlotPlanner {
  private readonly state: SlotState[];
  private inflight = 0;
  /** probes handed out */
  probes = 0;

  constructor(
    readonly strategy: MissStrategy,
    count: number,
    private readonly opts: SlotPlannerOptions,
  ) {
    this.state = Array.from({ length: count }, (_, i) => opts.known?.get(i) ?? 'unknown');
  }

  /** every slot is settled or in flight: nothing is left to start (in flight ones may still re-open slots) */
  get exhausted(): boolean {
    return !this.state.some((s) => s === 'unknown' || s === 'recheck');
  }

  get done(): boolean {
    return this.inflight === 0 && !this.state.some((s) => s === 'unknown' || s === 'recheck');
  }

  /** indices that were settled without a request */
  skipped(): number[] {
    return this.state.flatMap((s, i) => (s === 'skipped' ? [i] : []));
  }

  report(index: number, result: ProbeResult): void {
    if (this.state[index] !== 'inflight') throw new Error(`slot ${index} was not in flight`);
    this.state[index] = result;
    this.inflight--;
    if (result === 'data' && this.strategy.kind === 'gallop') this.reopenBefore(index);
  }

  /** data at `index` after a miss L that has skipped slots before it: those next to L may hide the drive's start */
  private reopenBefore(index: number): void {
    let L = index - 1;
    while (L >= 0 && this.state[L] === 'unknown') L--;
    if (this.state[L] !== 'missing') return;
    for (let i = L - 1; i >= Math.max(0, L - GALLOP_RECHECK_SLOTS) && this.state[i] === 'skipped'; i--) this.state[i] = 'recheck';
  }

  /** The next slot to probe now, or undefined when nothing can be decided until a result arrives (or all is done). */
  next(): number | undefined {
    const { maxInflight } = this.opts;
    if (this.inflight >= (typeof maxInflight === 'number' ? maxInflight : maxInflight())) return undefined;
    for (let u = 0; u < this.state.length; u++) {
      const kind = this.state[u];
      if (kind !== 'unknown' && kind !== 'recheck') continue;
      let v = u;
      while (v + 1 < this.state.length && this.state[v + 1] === kind) v++;
      const pick = kind === 'unknown' ? this.decide(u, v) : this.recheck(u, v);
      if (pick === 'again') {
        u = -1; // slots were re-opened: judge again from the start
        continue;
      }
      if (pick !== undefined) {
        this.state[pick] = 'inflight';
        this.inflight++;
        this.probes++;
        return pick;
      }
      u = v; // this run waits (or was just skipped); look at the next one
    }
    return undefined;
  }

  /**
   * A run of re-opened slots, walked right to left from the miss after it: a miss → the next one to its left; data → the
   * run and the skipped slots before it become unknown again, a range between a miss and data that is bisected.
   */
  private recheck(u: number, v: number): number | 'again' | undefined {
    const right = this.state[v + 1];
    if (right === 'missing') return v;
    if (right !== 'data') return undefined;
    let from = u;
    while (from > 0 && this.state[from - 1] === 'skipped') from--;
    for (let i = from; i <= v; i++) this.state[i] = 'unknown';
    return 'again';
  }

  private decide(u: number, v: number): number | undefined {
    const left = this.state[u - 1];
    if (this.strategy.kind === 'probe-all') return u;
    if (this.strategy.kind === 'skip') {
      const settled = left === 'inflight' ? this.nearestSettledLeft(u - 1, false) : left;
      if (settled === 'missing' && left === 'inflight') return undefined;
      if (settled !== 'missing') return u;
      const skipSlots = this.strategy.skipSeconds / SLOT_SECONDS;
      this.markSkipped(u, Math.min(v, u - 1 + skipSlots - 1));
      return u - 1 + skipSlots <= v ? u - 1 + skipSlots : undefined;
    }
    const settledLeft = this.nearestSettledLeft(u - 1, true);
    if (settledLeft !== 'missing') return u;
    if (left === 'inflight') return undefined;
    const L = u - 1;
    const right = this.state[v + 1];
    if (right === 'inflight' || right === 'recheck') return undefined;
    if (right === 'data') return (L + v + 1) >> 1;
    if (right === 'missing' || right === 'skipped') {
      this.markSkipped(u, v);
      return undefined;
    }
    const previousMiss = this.lastProbedBefore(L);
    const stride = previousMiss >= 0 && this.state[previousMiss] === 'missing' ? 2 * (L - previousMiss) : 1;
    const maxStride = this.strategy.maxStrideSeconds / SLOT_SECONDS;
    return Math.min(L + Math.min(stride, maxStride), v);
  }

  /** state of the nearest slot left of `from` (inclusive) that is settled; inflight (and skipped, if asked) are see-through */
  private nearestSettledLeft(from: number, skippedIsTransparent: boolean): SlotState | undefined {
    for (let i = from; i >= 0; i--) {
      const s = this.state[i];
      if (s === 'inflight' || (skippedIsTransparent && s === 'skipped')) continue;
      return s;
    }
    return undefined;
  }

  /** index of the nearest probed (not skipped) slot before `index`, or -1 */
  private lastProbedBefore(index: number): number {
    let i = index - 1;
    while (i >= 0 && this.state[i] === 'skipped') i--;
    return i;
  }

  private markSkipped(from: number, to: number): void {
    for (let i = from; i <= to; i++) this.state[i] = 'skipped';
  }
}
