import { describe, expect, test } from '@jest/globals';
import { ClipWindow } from '../../src/worker/window.js';

/** `n` clips of `ms` each, `requests` requests apiece, ended at `nowMs` */
function clipsEnded(w: ClipWindow, n: number, ms: number, requests: number, nowMs: number): void {
  for (let i = 0; i < n; i++) {
    w.started(1);
    for (let r = 0; r < requests; r++) w.countRequest();
    w.finished(ms, nowMs);
  }
}

describe("the clip window (Little's law)", () => {
  test('before any clip ends it is what the usual figures ask for at its share; then what it observes, up to the cap', () => {
    const w = new ClipWindow({ cap: 128 });
    expect(w.size).toBe(1);
    w.share(20, 0); // 20 requests/s, 3.5 requests and 12 s a clip: 68.6 in flight, +25 %
    expect(w.size).toBe(86);
    clipsEnded(w, 50, 2_000, 4, 0); // clips of 2 s, 4 requests each: 20 / 4 x 2 = 10, +25 %
    expect(w.target()).toBe(13);
    expect(w.size).toBe(13);
    w.share(400, 0);
    expect(w.target()).toBe(128);
  });

  test('a 429 halves it and holds it for a few seconds; then it doubles back toward the target, waking who waits for room', async () => {
    const w = new ClipWindow({ cap: 64 });
    w.share(20, 0);
    clipsEnded(w, 20, 2_000, 4, 0);
    expect(w.size).toBe(13);
    w.throttled(1_000);
    expect(w.size).toBe(6);
    clipsEnded(w, 1, 2_000, 4, 2_000); // held: no growth
    expect(w.size).toBe(6);
    let woken = false;
    void w.nextRoom().then(() => (woken = true));
    clipsEnded(w, 1, 2_000, 4, 7_000); // hold over: doubles, at most to the target
    expect(w.size).toBe(12);
    await Promise.resolve();
    expect(woken).toBe(true);
  });

  test('room: a slot of all cameras fits, or nothing at all is in flight', () => {
    const w = new ClipWindow({ cap: 3 });
    w.share(1_000, 0);
    expect(w.size).toBe(3);
    expect(w.hasRoomFor(2)).toBe(true);
    w.started(2);
    expect(w.hasRoomFor(2)).toBe(false);
    w.finished(1, 0);
    w.finished(1, 0);
    expect(w.inFlight).toBe(0);
    expect(new ClipWindow({ cap: 1 }).hasRoomFor(5)).toBe(true);
  });

  test('a clip that fails on its own changes nothing; 5xx and network errors take a tenth off each', () => {
    const w = new ClipWindow({ cap: 100 });
    w.share(1_000, 0);
    expect(w.size).toBe(100);
    w.struggled();
    w.struggled();
    expect(w.size).toBe(81);
  });
});
