import Database from 'better-sqlite3';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openManifest } from '../../src/manifest/index.js';
import type { CampaignSettings, ShardSpec } from '../../src/plan/types.js';

export function tempRun(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'fleetclip-manifest-'));
}

/** A manifest in a new run folder (added to `runs`, for cleanup), planned with `hours` vehicle-hours per vehicle, closed. */
export function plannedManifest(
  runs: string[],
  hours: number,
  over: Partial<CampaignSettings> = {},
): { run: string; file: string; settings: CampaignSettings } {
  const run = tempRun();
  runs.push(run);
  const file = path.join(run, 'manifest.sqlite');
  const settings = settingsFor(run, over);
  const m = openManifest(file, { create: true });
  m.plan(settings, shardsFor(settings, hours));
  m.close();
  return { run, file, settings };
}

/**
 * A manifest in `run` (added to `runs`, for cleanup) with one vehicle-hour per vehicle, the first of them done (one
 * slot recorded, missing), closed: a campaign with some history in its receipts.
 */
export function plannedWithWork(runs: string[], run = tempRun()): string {
  runs.push(run);
  const file = path.join(run, 'manifest.sqlite');
  const settings = settingsFor(run);
  const m = openManifest(file, { create: true });
  m.plan(settings, shardsFor(settings, 1));
  const c = m.claimNextShard(owner('w'))!;
  m.recordSlots(c, [{ vehicle: c.vehicle, camera: 'front', start: c.hourStart, outcome: 'missing', attempts: 1, atMs: 1 }]);
  m.completeShard(c);
  m.close();
  return file;
}

export const HOUR0 = Date.UTC(2026, 5, 15) / 1000;

export function settingsFor(runDir: string, over: Partial<CampaignSettings> = {}): CampaignSettings {
  return {
    apiBase: 'http://127.0.0.1:9',
    tokenFile: path.join(runDir, 'token'),
    outDir: path.join(runDir, 'out'),
    vehicles: ['veh-1', 'veh-2'],
    cameras: ['front', 'rear'],
    days: ['2026-06-15'],
    timeZone: 'UTC',
    onMiss: { kind: 'probe-all' },
    apiRatePerSec: 10,
    maxConcurrent: 2,
    minTimeMs: 0,
    bucketCapBytes: 1_000_000,
    workspaceCapBytes: 1_000_000_000,
    clipBytesEstimate: 1000,
    journal: 'delete',
    ...over,
  };
}

/** `hours` vehicle-hours per vehicle, from HOUR0. */
export function shardsFor(settings: CampaignSettings, hours: number): ShardSpec[] {
  return settings.vehicles.flatMap((vehicle) =>
    Array.from({ length: hours }, (_, h) => ({ vehicle, hourStart: HOUR0 + h * 3600, cameras: settings.cameras })),
  );
}

export const owner = (workerId: string) => ({ workerId, host: 'test-host', pid: 4242 });

const CHILD = path.resolve('test/manifest/fixtures/claim-worker.mjs');

/** Starts the stand-in worker as a real process. */
export function startWorker(manifest: string, workerId: string, mode: 'drain' | 'hold'): ChildProcess {
  return spawn(process.execPath, [CHILD, manifest, workerId, mode], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NODE_OPTIONS: '' },
  });
}

export interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export function finished(child: ChildProcess): Promise<Finished> {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
}

export function firstLine(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let buffered = '';
    child.stdout?.on('data', (d: Buffer) => {
      buffered += d.toString();
      const nl = buffered.indexOf('\n');
      if (nl >= 0) resolve(buffered.slice(0, nl));
    });
    child.on('close', () => reject(new Error(`child ended before a line: ${buffered}`)));
  });
}

/**
 * The outcome counters as a full scan of slot_result finds them, per shard (what shardRows reports) and per shard,
 * camera and outcome (what slotCounts reports): the triggers must always agree with it.
 */
export function recount(file: string): { shards: Record<number, number[]>; cameras: string[] } {
  const db = new Database(file, { readonly: true });
  try {
    const shards = db
      .prepare(
        `SELECT shard_id, sum(outcome = 0), sum(outcome = 1), sum(outcome = 2), sum(outcome = 3), coalesce(sum(bytes), 0) FROM slot_result GROUP BY shard_id`,
      )
      .raw()
      .all() as number[][];
    const cameras = db
      .prepare(`SELECT shard_id, camera_no, outcome, count(*), coalesce(sum(bytes), 0) FROM slot_result GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`)
      .raw()
      .all() as number[][];
    return { shards: Object.fromEntries(shards.map(([id, ...counts]) => [id!, counts])), cameras: cameras.map((r) => r.join(' ')) };
  } finally {
    db.close();
  }
}

/** The counters as the triggers kept them, in the shape of `recount`. */
export function counters(file: string): { shards: Record<number, number[]>; cameras: string[] } {
  const db = new Database(file, { readonly: true });
  try {
    const shards = db
      .prepare(`SELECT shard_id, ok, missing, invalid, failed, bytes FROM shard_count WHERE ok + missing + invalid + failed > 0`)
      .raw()
      .all() as number[][];
    const cameras = db
      .prepare(`SELECT shard_id, camera_no, outcome, count, bytes FROM camera_count WHERE count > 0 ORDER BY 1, 2, 3`)
      .raw()
      .all() as number[][];
    return { shards: Object.fromEntries(shards.map(([id, ...counts]) => [id!, counts])), cameras: cameras.map((r) => r.join(' ')) };
  } finally {
    db.close();
  }
}
