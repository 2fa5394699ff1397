import path from 'node:path';
import type { Claim, SlotResult } from '../../src/manifest/index.js';
import { runMain } from './cli.js';

/** `fleetclip plan` of one day (2025-11-17 unless told) against an API nobody serves (port 9): for tests that write outcomes themselves. */
export async function planOffline(
  manifestPath: string,
  dir: string,
  opts: { day?: string; hours: string; vehicles: string; cameras: string; extra?: string[] },
): Promise<void> {
  const planned = await runMain([
    ...['plan', '--manifest', manifestPath, '--out', path.join(dir, 'out'), '--day', opts.day ?? '2025-11-17', '--hours', opts.hours],
    ...['--vehicles', opts.vehicles, '--cameras', opts.cameras, '--api-base', 'http://127.0.0.1:9'],
    ...['--token-file', path.join(dir, 'token'), ...(opts.extra ?? [])],
  ]);
  if (planned.code !== 0) throw new Error(`plan failed: ${planned.stderr}`);
}

/** Outcomes of slots [from, to) of one camera of a claimed shard, recorded at `atMs` (ok ones: 1000 bytes in bucket 1). */
export function slotResults(
  claim: Claim,
  camera: string,
  range: { from: number; to: number },
  outcome: SlotResult['outcome'],
  atMs = Date.now(),
): SlotResult[] {
  return Array.from({ length: range.to - range.from }, (_, k) => ({
    vehicle: claim.vehicle,
    camera,
    start: claim.hourStart + 30 * (range.from + k),
    outcome,
    attempts: 1,
    atMs: atMs + k,
    ...(outcome === 'ok' && { bytes: 1000, sha256: 'ab'.repeat(32), bucket: 1 }),
  }));
}
