/**
 * Fast, seeded, non-cryptographic randomness. Every decision the simulator makes is a function of
 * (seed, what, key), so the same inputs give the same data, shapes and faults whatever the request order.
 */

/** 32-bit FNV-1a of a string, then a murmur3 finaliser so nearby keys spread. */
export function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A uniform number in [0, 1) for (seed, parts…). */
export function roll(seed: number, ...parts: (string | number)[]): number {
  return hash32(`${seed}|${parts.join('|')}`) / 2 ** 32;
}

/** mulberry32: a small PRNG stream, for when many numbers come from one key. */
export function prng(seed32: number): () => number {
  let a = seed32 >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** An integer in [min, max] from a [0, 1) draw. */
export function between(u: number, min: number, max: number): number {
  return min + Math.floor(u * (max - min + 1));
}

/** Picks one item from a non-empty list. */
export function pick<T>(u: number, list: readonly T[]): T {
  return list[Math.min(list.length - 1, Math.floor(u * list.length))] as T;
}

let scratch = new Uint32Array(1 << 16);

/** Fills buf[offset, offset + length) with xorshift32 output: fast, no crypto per byte. */
export function fillPseudoRandom(buf: Uint8Array, offset: number, length: number, seed32: number): void {
  const words = Math.ceil(length / 4);
  if (scratch.length < words) scratch = new Uint32Array(words);
  // an aligned Uint32Array keeps the loop on plain typed-array stores (Buffer methods per word are ~10x slower under jest's vm)
  let x = seed32 >>> 0 || 0x9e3779b9;
  for (let i = 0; i < words; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    scratch[i] = x;
  }
  buf.set(new Uint8Array(scratch.buffer, 0, length), offset);
}
