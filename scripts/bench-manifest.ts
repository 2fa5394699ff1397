/**
 * Manifest benchmark (`npm run bench:manifest`; figures in docs/performance.md):
 *   1. plan time and file sizes for 31 days x 50 vehicles x 5 cameras (the real planner, src/plan);
 *   2. slot results per second recorded by 16 processes on one manifest file, each claiming shards,
 *      recording 600 results per shard in batches, heartbeating and completing;
 *   3. p50 / p99 claim latency with 16 processes claiming and completing as fast as they can.
 * Options: --dir DIR (where the manifest goes; default a temp folder: run it on the filesystem you care
 * about), --processes N (default 16), --batch N (results per transaction, default 60), --think MS (pause
 * between claims in the second latency run, default 200), --keep.
 * Each process is a real `node --import tsx` child of this same file (`--child ...`).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { openManifest, type SlotResult } from '../src/manifest/index.js';
import { planCampaign } from '../src/plan/index.js';

const BENCH_DEFAULTS = { processes: 16, batch: 60, shardsPerRecorder: 4, claimsPerClaimer: 100, thinkMs: 200 } as const;
const SELF = fileURLToPath(import.meta.url);

function flag(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

// ---- child processes

interface ChildReport {
  results: number;
  claimMs: number[];
  batchMs: number[];
  startMs: number;
  endMs: number;
}

function elapsedMs(since: bigint): number {
  return Number(process.hrtime.bigint() - since) / 1e6;
}

async function child(mode: string, manifestPath: string, workerId: string, count: number, batch: number, thinkMs: number): Promise<void> {
  const manifest = openManifest(manifestPath);
  const owner = { workerId, host: os.hostname(), pid: process.pid };
  const report: ChildReport = { results: 0, claimMs: [], batchMs: [], startMs: 0, endMs: 0 };
  process.stdout.write('ready\n');
  await new Promise((resolve) => process.stdin.once('data', resolve)); // the barrier: all processes start together
  report.startMs = Date.now();
  for (let n = 0; n < count; n++) {
    const t = process.hrtime.bigint();
    let claim = manifest.claimNextShard(owner);
    report.claimMs.push(elapsedMs(t));
    if (!claim) break;
    if (mode === 'record') {
      let pending: SlotResult[] = [];
      for (const camera of claim.cameras) {
        for (let i = 0; i < 120; i++) {
          const start = claim.hourStart + i * 30;
          pending.push({ vehicle: claim.vehicle, camera, start, outcome: 'ok', bytes: 2_000_000 + i, sha256: 'ab'.repeat(32),
            bucket: 1, attempts: 1, atMs: Date.now() });
          if (pending.length === batch) {
            const tb = process.hrtime.bigint();
            manifest.recordSlots(claim, pending);
            report.batchMs.push(elapsedMs(tb));
            report.results += pending.length;
            pending = [];
            if (report.batchMs.length % 5 === 0) claim = manifest.heartbeat(claim);
          }
        }
      }
      manifest.recordSlots(claim, pending);
      report.results += pending.length;
    }
    manifest.completeShard(claim);
    if (mode === 'claim' && thinkMs > 0) await sleep(Math.random() * thinkMs);
  }
  report.endMs = Date.now();
  manifest.close();
  process.stdout.write(`${JSON.stringify(report)}\n`);
  process.stdin.destroy();
}

// ---- the parent

async function runChildren(mode: string, manifestPath: string, processes: number, count: number, batch: number, thinkMs = 0): Promise<ChildReport[]> {
  const children = Array.from({ length: processes }, (_, i) =>
    spawn(process.execPath, ['--import', 'tsx', SELF, '--child', mode, manifestPath, `bench-${mode}-${i}`, String(count), String(batch), String(thinkMs)], {
      stdio: ['pipe', 'pipe', 'inherit'],
    }),
  );
  const outputs = children.map((c) => {
    let out = '';
    c.stdout.on('data', (d: Buffer) => (out += d.toString()));
    return { ready: new Promise<void>((resolve) => c.stdout.on('data', () => out.startsWith('ready\n') && resolve())), done: new Promise<string>((resolve) => c.on('close', () => resolve(out))) };
  });
  await Promise.all(outputs.map((o) => o.ready));
  for (const c of children) c.stdin.write('go\n');
  const texts = await Promise.all(outputs.map((o) => o.done));
  return texts.map((t) => JSON.parse(t.split('\n')[1]!) as ChildReport);
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

function mib(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}

async function main(): Promise<void> {
  const processes = Number(flag('processes') ?? BENCH_DEFAULTS.processes);
  const batch = Number(flag('batch') ?? BENCH_DEFAULTS.batch);
  const dir = fs.mkdtempSync(path.join(flag('dir') ?? os.tmpdir(), 'fleetclip-bench-'));
  const manifestPath = path.join(dir, 'manifest.sqlite');
  console.log(`manifest benchmark in ${dir} (${os.cpus().length} cores, node ${process.version})`);

  // 1. plan
  const vehicles = Array.from({ length: 50 }, (_, i) => `veh-${String(i + 1).padStart(3, '0')}`);
  const t0 = process.hrtime.bigint();
  const planned = planCampaign(
    { apiBase: 'http://127.0.0.1:9', out: path.join(dir, 'out'), day: '2026-05-01', days: 31, vehicles, cameras: ['front', 'rear', 'left', 'right', 'roof'] },
    { nowMs: Date.now(), cwd: dir, homeDir: os.homedir() },
  );
  const plannerMs = elapsedMs(t0);
  const manifest = openManifest(manifestPath, { create: true });
  const outcome = manifest.plan(planned.settings, planned.shards);
  manifest.close();
  const planMs = elapsedMs(t0);
  console.log(
    `plan: ${outcome.shardsTotal} shards (31 days x 50 vehicles x 5 cameras) in ${planMs.toFixed(0)} ms ` +
      `(planner ${plannerMs.toFixed(0)} ms); manifest ${mib(fs.statSync(manifestPath).size)}, campaign.json ${mib(fs.statSync(path.join(dir, 'campaign.json')).size)}`,
  );

  // 2. slot results per second
  const recorders = await runChildren('record', manifestPath, processes, BENCH_DEFAULTS.shardsPerRecorder, batch);
  const results = recorders.reduce((n, r) => n + r.results, 0);
  const seconds = (Math.max(...recorders.map((r) => r.endMs)) - Math.min(...recorders.map((r) => r.startMs))) / 1000;
  const batches = recorders.flatMap((r) => r.batchMs);
  console.log(
    `record: ${processes} processes recorded ${results} slot results in ${seconds.toFixed(1)} s = ${Math.round(results / seconds)} results/s ` +
      `(batches of ${batch}: p50 ${percentile(batches, 50).toFixed(1)} ms, p99 ${percentile(batches, 99).toFixed(1)} ms)`,
  );
  console.log(`       manifest now ${mib(fs.statSync(manifestPath).size)}, receipts ${mib(fs.readdirSync(path.join(dir, 'receipts')).reduce((n, f) => n + fs.statSync(path.join(dir, 'receipts', f)).size, 0))}`);

  // 3. claim latency: saturated (claim + complete back to back), then with a random 0..thinkMs pause between
  //    cycles, the least a real worker spends on the network between two manifest writes
  const thinkMs = Number(flag('think') ?? BENCH_DEFAULTS.thinkMs);
  for (const think of [0, thinkMs]) {
    const claimers = await runChildren('claim', manifestPath, processes, BENCH_DEFAULTS.claimsPerClaimer, batch, think);
    const claims = claimers.flatMap((r) => r.claimMs);
    const claimSeconds = (Math.max(...claimers.map((r) => r.endMs)) - Math.min(...claimers.map((r) => r.startMs))) / 1000;
    console.log(
      `claim: ${claims.length} claims (+ completes) by ${processes} processes in ${claimSeconds.toFixed(1)} s, ` +
        `${think === 0 ? 'back to back' : `0-${think} ms apart`}: ` +
        `p50 ${percentile(claims, 50).toFixed(1)} ms, p99 ${percentile(claims, 99).toFixed(1)} ms, max ${Math.max(...claims).toFixed(1)} ms`,
    );
  }
  const recordClaims = recorders.flatMap((r) => r.claimMs);
  console.log(`       while recording (phase 2): p50 ${percentile(recordClaims, 50).toFixed(1)} ms, p99 ${percentile(recordClaims, 99).toFixed(1)} ms (${recordClaims.length} claims)`);

  if (process.argv.includes('--keep')) console.log(`kept ${dir}`);
  else fs.rmSync(dir, { recursive: true, force: true });
}

if (process.argv[2] === '--child') {
  const [mode, manifestPath, workerId, count, batch, thinkMs] = process.argv.slice(3) as [string, string, string, string, string, string];
  await child(mode, manifestPath, workerId, Number(count), Number(batch), Number(thinkMs));
} else {
  await main();
}
