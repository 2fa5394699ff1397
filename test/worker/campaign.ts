import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { CLI, runMain } from '../helpers/cli.js';
import { openManifest } from '../../src/manifest/index.js';
import { clipFileName } from '../../src/storage/index.js';
import { mintToken, startSimulator, type RunningSimulator, type SimConfigInput } from '../../src/sim/index.js';
import { writeFile } from 'node:fs/promises';

export const DAY = '2025-11-17';

export interface Campaign {
  dir: string;
  manifest: string;
  out: string;
  tokenFile: string;
  sim: RunningSimulator;
}

/** A simulator (small clips, scaled delays) and a planned campaign in a fresh temp folder. */
export async function plannedCampaign(opts: {
  sim?: SimConfigInput;
  hours: string;
  vehicles: string;
  cameras: string;
  plan?: string[];
  token?: string;
  /** the output root inside the run folder (stored relative to it), instead of beside it */
  outInRun?: boolean;
  /** `plan`'s pacing flags; by default a generous budget and 8 clips in flight (`[]`: the campaign defaults) */
  pacing?: string[];
}): Promise<Campaign> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'fc-worker-'));
  const tokenFile = path.join(dir, 'token');
  await writeFile(tokenFile, `${opts.token ?? mintToken({ expiresAtSec: Math.floor(Date.now() / 1000) + 3600 })}\n`, { mode: 0o600 });
  const sim = await startSimulator({ clipBytes: 64 * 1024, timeScale: 0.05, tokenFile, ...opts.sim });
  const manifest = path.join(dir, 'run', 'manifest.sqlite');
  const out = opts.outInRun ? path.join(dir, 'run', 'clips') : path.join(dir, 'clips');
  const planned = await runMain(planArgs({ manifest, out, tokenFile, sim }, opts));
  if (planned.code !== 0) {
    await sim.close();
    throw new Error(`plan failed: ${planned.stderr}`);
  }
  return { dir, manifest, out, tokenFile, sim };
}

/** `fleetclip plan` of a test campaign: 64 KiB clips, a generous budget, 8 clips in flight (or `opts.pacing`), `opts.plan` last. */
export function planArgs(
  c: Pick<Campaign, 'manifest' | 'out' | 'tokenFile' | 'sim'>,
  opts: { hours: string; vehicles: string; cameras: string; plan?: string[]; pacing?: string[] },
): string[] {
  return [
    ...['plan', '--manifest', c.manifest, '--out', c.out, '--day', DAY, '--hours', opts.hours],
    ...['--vehicles', opts.vehicles, '--cameras', opts.cameras, '--api-base', c.sim.baseUrl, '--token-file', c.tokenFile],
    ...(opts.pacing ?? ['--api-rate', '500', '--max-concurrent', '8', '--min-time-ms', '5']),
    ...['--clip-size', '65536', ...(opts.plan ?? [])],
  ];
}

/** The campaign's first shard as `status` sees it (its state, release reason, attempts…). */
export function shardRow(c: Pick<Campaign, 'manifest'>) {
  const m = openManifest(c.manifest, { readonly: true });
  try {
    return m.shardRows()[0]!;
  } finally {
    m.close();
  }
}

/** Flags every test worker gets: 64 KiB clips are valid here; short leases so takeovers happen within a test. */
export const WORKER_FLAGS = ['--min-clip-bytes', '32768', '--progress', 'off'];

export function startWork(c: Campaign, extra: string[] = []): ChildProcess {
  return spawn(process.execPath, [CLI, 'work', '--manifest', c.manifest, ...WORKER_FLAGS, ...extra], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
}

export function exitOf(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (t: string) => (stderr += t));
  return new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal, stderr })));
}

/** every file under a folder, recursively, relative */
export async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isFile()).map((e) => path.relative(dir, path.join(e.parentPath, e.name)));
}

const sha256 = async (file: string): Promise<string> =>
  createHash('sha256')
    .update(await readFile(file))
    .digest('hex');

/**
 * Compares the clips on disk with the simulator's truth: which truth clips are missing, which are there more than
 * once, which differ in bytes, which sit outside a `<vehicle>/download<N>/` folder, and what else lies around.
 */
export async function compareWithTruth(c: Campaign, q: { vehicles: string[]; cameras: string[]; from: string; to: string }) {
  const files = await filesUnder(c.out);
  const byName = new Map<string, string[]>();
  const misplaced: string[] = [];
  const other: string[] = [];
  for (const f of files) {
    const parts = f.split(path.sep);
    if (!f.endsWith('_30s.bag') || parts.length !== 3) {
      other.push(f);
      continue;
    }
    if (!/^download\d+$/.test(parts[1]!) || !parts[2]!.startsWith(`${parts[0]}_`)) misplaced.push(f);
    byName.set(parts[2]!, [...(byName.get(parts[2]!) ?? []), f]);
  }
  const truth = q.vehicles.flatMap((vehicle) =>
    q.cameras.flatMap((camera) => c.sim.truth({ day: DAY, vehicle, camera, from: q.from, to: q.to })),
  );
  const missing: string[] = [];
  const differ: string[] = [];
  const duplicated: string[] = [];
  const want = new Set<string>();
  for (const t of truth) {
    const name = clipFileName(t.vehicle, t.camera, t.start);
    want.add(name);
    const copies = byName.get(name) ?? [];
    if (copies.length === 0) missing.push(name);
    if (copies.length > 1) duplicated.push(name);
    for (const copy of copies) if ((await sha256(path.join(c.out, copy))) !== t.sha256) differ.push(copy);
  }
  const extra = [...byName.keys()].filter((n) => !want.has(n));
  const outcomes = missing.length > 0 ? recordedOutcomes(c) : new Map<string, string>();
  const explained = missing.map((name) => `${name} (${outcomes.get(name) ?? 'no outcome recorded'})`);
  return { truth: truth.length, files: byName.size, missing: explained, duplicated, differ, misplaced, extra, other };
}

/** what the manifest says of each slot, by clip file name: tells a failed comparison why a clip is not on disk */
function recordedOutcomes(c: Campaign): Map<string, string> {
  const m = openManifest(c.manifest, { readonly: true });
  try {
    const results = m.plannedShards().flatMap((s) => m.slotResults(s.id));
    return new Map(
      results.map((r) => [
        clipFileName(r.vehicle, r.camera, r.start),
        `${r.outcome} after ${r.attempts} attempt(s)${r.error ? `: ${r.error}` : ''}`,
      ]),
    );
  } finally {
    m.close();
  }
}

export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
