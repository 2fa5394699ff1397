import { API_FLOW_ASSUMPTIONS, clipsInFlightFor, type ClipFlow } from '../plan/model.js';

export interface WindowOptions {
  /** the most clips in flight ever (`--max-concurrent`): memory and politeness */
  cap: number;
}

/** Room above Little's law: clip times vary, and an idle slot of the window costs nothing while one short costs rate. */
const HEADROOM = 1.25;
/** After a 429 the window does not grow for this long. */
const HOLD_AFTER_TROUBLE_MS = 5_000;
/** A 5xx or a network error takes this share off (a storm of them halves the window within a few). */
const ERROR_DECREASE = 0.9;
/** After an error the window looks at growing back this soon, whether or not a clip ends. */
const REGROW_CHECK_MS = 1_000;
/** Weight of the past in the running averages, per clip. */
const DECAY = 0.98;

/**
 * How many clips a worker keeps in flight: enough for its requests to flow at its share of the campaign's budget
 * (Little's law: in flight = requests/s / requests per clip x seconds per clip, from what it observes), never more
 * than the cap. It doubles toward that as clips end, halves on a 429 (then stays put for a few seconds) and takes
 * a tenth off for each 5xx or network error. A clip that fails on its own (a job that never becomes ready) says
 * nothing about load and changes nothing. Shared by every shard the worker runs at once.
 */
export class ClipWindow {
  private sizeNow: number;
  private inflight = 0;
  private requestsPerSec = 0;
  /** decayed sums: requests, clips and clip seconds */
  private requests = 0;
  private clips = 0;
  private seconds = 0;
  private requestsSinceClip = 0;
  private holdUntilMs = 0;
  private waiting: (() => void)[] = [];
  private regrowTimer: NodeJS.Timeout | undefined;

  /** Until the first share is known: one clip at a time. */
  constructor(private readonly opts: WindowOptions) {
    this.sizeNow = 1;
  }

  get size(): number {
    return this.sizeNow;
  }

  get inFlight(): number {
    return this.inflight;
  }

  /** A slot of `clips` clips (one per camera) may start: there is room, or nothing at all is in flight. */
  hasRoomFor(clips: number): boolean {
    return this.inflight === 0 || this.inflight + clips <= this.sizeNow;
  }

  started(clips: number): void {
    this.inflight += clips;
  }

  /** Resolves when room may have opened: a clip ended, or the window grew. */
  nextRoom(): Promise<void> {
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private wake(): void {
    for (const wake of this.waiting.splice(0)) wake();
  }

  /** One clip ended (any outcome) after `ms`. */
  finished(ms: number, nowMs: number): void {
    this.inflight = Math.max(0, this.inflight - 1);
    this.wake();
    this.requests = this.requests * DECAY + this.requestsSinceClip;
    this.clips = this.clips * DECAY + 1;
    this.seconds = this.seconds * DECAY + ms / 1000;
    this.requestsSinceClip = 0;
    this.resize(nowMs);
  }

  /** Each /v1/ request this worker sends. */
  countRequest(): void {
    this.requestsSinceClip++;
  }

  /**
   * This worker's share of the campaign's request budget, requests/s (the campaign's rate / the workers running).
   * Before its first clip has ended, the window is what the vendor's usual figures ask for at that share (the budget
   * paces the requests anyway); the first clips' own figures then take over.
   */
  share(requestsPerSec: number, nowMs: number): void {
    this.requestsPerSec = requestsPerSec;
    if (this.clips === 0) this.sizeNow = this.windowFor({ requestsPerSec, ...API_FLOW_ASSUMPTIONS });
    else this.resize(nowMs);
  }

  /** A 429: the API is overloaded; ask half as much of it, and do not grow for a while (then grow at once). */
  throttled(nowMs: number): void {
    this.sizeNow = Math.max(1, Math.floor(this.sizeNow / 2));
    this.holdUntilMs = nowMs + HOLD_AFTER_TROUBLE_MS;
    this.regrowIn(HOLD_AFTER_TROUBLE_MS);
  }

  /** A request that failed on the server's side or on the way and is retried: ask a little less. */
  struggled(): void {
    this.sizeNow = Math.max(1, Math.floor(this.sizeNow * ERROR_DECREASE));
    this.regrowIn(REGROW_CHECK_MS);
  }

  /**
   * Grows back toward the target after `ms` even when no clip ends meanwhile: a window shrunk to its last, slow clip
   * would otherwise wait for that clip before it starts another.
   */
  private regrowIn(ms: number): void {
    clearTimeout(this.regrowTimer);
    this.regrowTimer = setTimeout(() => this.resize(Date.now()), ms).unref();
  }

  /** The window Little's law asks for, from what was observed; undefined before the first clip. */
  target(): number | undefined {
    if (this.clips === 0 || this.requestsPerSec <= 0) return undefined;
    return this.windowFor({
      requestsPerSec: this.requestsPerSec,
      requestsPerClip: Math.max(1, this.requests / this.clips),
      clipSeconds: this.seconds / this.clips,
    });
  }

  private windowFor(flow: ClipFlow): number {
    return Math.min(this.opts.cap, Math.max(1, Math.ceil(clipsInFlightFor(flow) * HEADROOM)));
  }

  private resize(nowMs: number): void {
    const target = this.target();
    if (target === undefined) return;
    if (target < this.sizeNow) this.sizeNow = target;
    else if (nowMs >= this.holdUntilMs && target > this.sizeNow) {
      this.sizeNow = Math.min(target, this.sizeNow * 2); // back to the target within a few clips, like a slow start
      this.wake();
    }
  }
}
