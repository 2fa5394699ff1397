/**
 * Manifest benchmark (`npm run bench:manifest`; figures in docs/performance.md).
 *
 * Default scale, on a freshly planned manifest:
 *   1. plan time and file sizes for 31 days x 50 vehicles x 5 cameras (the real planner, src/plan);
 *   2. slot results per second recorded by 16 processes on one manifest file, each claiming shards,
 *      recording 600 results per shard in batches, heartbeating and completing;
 *   3. p50 / p99 claim latency with 16 processes claiming and completing as fast as they can.
 * `--scale month`: the same campaign with a month of results (22.3 M slot results, filled through the manifest's
 * own restore path), then: bytes per slot result; `fleetclip status` and `status --json` wall time (the built CLI);
 * `fleetclip report` wall time and the HTML file's size;
 * slot results per second with 16 writers (realistic results, then the default scale's plain ones); claim + complete
 * latency with 16 processes while `status --watch 1` runs, paced and back to back.
 *
 * Options: --scale default|month, --dir DIR (where the manifest goes; default a temp folder: run it on the
 * filesystem you care about), --processes N (default 16), --batch N (results per transaction, default 60),
 * --think MS (pause between claims in the paced latency run, default 200), --keep.
 * Each process is a real `node --import tsx` child of this same file (`--child ...`).
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { openManifest, type SlotResult } from '../src/manifest/index.js';
import { openWholeManifest } from '../src/manifest/manifest.js';
import type { ShardRecord } from '../src/manifest/replay.js';
import { planCampaign, type CampaignSettings, type ShardSpec } from '../src/plan/index.js';

const BENCH_DEFAULTS = { scale: 'default', processes: 16, batch: 60, shardsPerRecorder: 4, claimsPerClaimer: 100, thinkMs: 200 } as const;
const SELF = fileURLToPath(import.meta.url);
const CLI = path.resolve(path.dirname(SELF), '..', 'dist', 'cli.js');
const SLOTS = 120;
const MINUTE_MS = 60_000;

function flag(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

// ---- slot results

/** 50 vehicles x 5 cameras over 31 days, planned by the real planner. */
function planMonth(dir: string): { settings: CampaignSettings; shards: ShardSpec[]; plannerMs: number } {
  const vehicles = Array.from({ length: 50 }, (_, i) => `veh-${String(i + 1).padStart(3, '0')}`);
  const t = process.hrtime.bigint();
  const planned = planCampaign(
    {
      apiBase: 'http://127.0.0.1:9',
      out: path.join(dir, 'out'),
      day: '2026-05-01',
      days: 31,
      vehicles,
      cameras: ['front', 'rear', 'left', 'right', 'roof'],
    },
    { nowMs: Date.now(), cwd: dir, homeDir: os.homedir() },
  );
  return { ...planned, plannerMs: elapsedMs(t) };
}

/** What the default scale always recorded: every slot ok, one bucket, no bag summary. */
function plainResults(shard: Pick<ShardSpec, 'vehicle' | 'hourStart' | 'cameras'>): SlotResult[] {
  return shard.cameras.flatMap((camera) =>
    Array.from({ length: SLOTS }, (_, i): SlotResult => {
      const start = shard.hourStart + i * 30;
      return {
        vehicle: shard.vehicle,
        camera,
        start,
        outcome: 'ok',
        bytes: 2_000_000 + i,
        sha256: 'ab'.repeat(32),
        bucket: 1,
        attempts: 1,
        atMs: Date.now(),
      };
    }),
  );
}

/** A deterministic generator per shard, so a fill is the same every run. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/**
 * A month's worth of what workers record: the vehicle drives for a stretch of each hour (about 60 % of the slots
 * have clips, every camera alike, now and then one camera silent), clips of ~2 MB with a random sha256, numbered
 * buckets filling up over the month at the planned 10 GiB cap, bag summaries with per-camera topics; a few failed
 * and invalid slots. `firstHour` is the campaign's first hour (bucket numbers grow from it).
 */
function realisticResults(
  shard: Pick<ShardRecord, 'id' | 'vehicle' | 'hourStart' | 'cameras'>,
  firstHour: number,
  atMs: number,
): SlotResult[] {
  const rnd = random(shard.id);
  const from = Math.floor(rnd() * 48);
  const to = Math.min(SLOTS, from + 24 + Math.floor(rnd() * 96));
  const hashes = randomBytes(32 * SLOTS * shard.cameras.length).toString('hex');
  const bucket = 1 + Math.floor((((shard.hourStart - firstHour) / 3600) * 0.6 * SLOTS * shard.cameras.length * 2e6) / 2 ** 33);
  return shard.cameras.flatMap((camera, c) =>
    Array.from({ length: SLOTS }, (_, i): SlotResult => {
      const start = shard.hourStart + i * 30;
      const base = { vehicle: shard.vehicle, camera, start, attempts: 1, atMs: atMs + i * 50 };
      const roll = rnd();
      if (roll < 0.0005) return { ...base, outcome: 'failed', attempts: 5, error: 'HTTP 503 after 5 attempts' };
      if (roll < 0.001) return { ...base, outcome: 'invalid', attempts: 3, error: 'clip of 12 bytes is not a ROS1 bag' };
      if (i < from || i >= to || roll > 0.99) return { ...base, outcome: 'missing' };
      return {
        ...base,
        outcome: 'ok',
        bytes: 1_500_000 + Math.floor(rnd() * 1_000_000),
        sha256: hashes.slice((c * SLOTS + i) * 64, (c * SLOTS + i + 1) * 64),
        bucket,
        bag: {
          topics: [`/${camera}/image_raw/compressed`, `/${camera}/camera_info`, '/tf', '/gps/fix'],
          messageCount: 290 + Math.floor(rnd() * 20),
          firstMessageTime: start + rnd() * 0.1,
          lastMessageTime: start + 29.9 + rnd() * 0.099,
        },
        ...(roll > 0.98 && { attempts: 2 }),
      };
    }),
  );
}

// ---- child processes

interface ChildReport {
  results: number;
  claimMs: number[];
  completeMs: number[];
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
  const report: ChildReport = { results: 0, claimMs: [], completeMs: [], batchMs: [], startMs: 0, endMs: 0 };
  const firstHour = mode === 'record-realistic' ? manifest.plannedShards()[0]!.hourStart : 0;
  process.stdout.write('ready\n');
  await new Promise((resolve) => process.stdin.once('data', resolve)); // the barrier: all processes start together
  report.startMs = Date.now();
  for (let n = 0; n < count; n++) {
    const t = process.hrtime.bigint();
    let claim = manifest.claimNextShard(owner);
    report.claimMs.push(elapsedMs(t));
    if (!claim) break;
    if (mode !== 'claim') {
      const results = mode === 'record' ? plainResults(claim) : realisticResults({ ...claim, id: claim.shardId }, firstHour, Date.now());
      for (let i = 0; i < results.length; i += batch) {
        const tb = process.hrtime.bigint();
        manifest.recordSlots(claim, results.slice(i, i + batch));
        report.batchMs.push(elapsedMs(tb));
        report.results += Math.min(batch, results.length - i);
        if (report.batchMs.length % 5 === 0) claim = manifest.heartbeat(claim);
      }
    }
    const tc = process.hrtime.bigint();
    manifest.completeShard(claim);
    report.completeMs.push(elapsedMs(tc));
    if (mode === 'claim' && thinkMs > 0) await sleep(Math.random() * thinkMs);
  }
  report.endMs = Date.now();
  manifest.close();
  process.stdout.write(`${JSON.stringify(report)}\n`);
  process.stdin.destroy();
}

// ---- the parent

async function runChildren(
  mode: string,
  manifestPath: string,
  processes: number,
  count: number,
  batch: number,
  thinkMs = 0,
): Promise<ChildReport[]> {
  const children = Array.from({ length: processes }, (_, i) =>
    spawn(
      process.execPath,
      ['--import', 'tsx', SELF, '--child', mode, manifestPath, `bench-${mode}-${i}`, String(count), String(batch), String(thinkMs)],
      {
        stdio: ['pipe', 'pipe', 'inherit'],
      },
    ),
  );
  const outputs = children.map((c) => {
    let out = '';
    c.stdout.on('data', (d: Buffer) => (out += d.toString()));
    return {
      ready: new Promise<void>((resolve) => c.stdout.on('data', () => out.startsWith('ready\n') && resolve())),
      done: new Promise<string>((resolve) => c.on('close', () => resolve(out))),
    };
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

const ms = (v: number): string => `${v.toFixed(1)} ms`;

function mib(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}

function spanSeconds(reports: ChildReport[]): number {
  return (Math.max(...reports.map((r) => r.endMs)) - Math.min(...reports.map((r) => r.startMs))) / 1000;
}

/** Phase 2 of both scales: 16 processes claim, record every slot of 4 shards each, complete. */
async function recordPhase(
  mode: 'record' | 'record-realistic',
  manifestPath: string,
  processes: number,
  batch: number,
): Promise<ChildReport[]> {
  const recorders = await runChildren(mode, manifestPath, processes, BENCH_DEFAULTS.shardsPerRecorder, batch);
  const results = recorders.reduce((n, r) => n + r.results, 0);
  const seconds = spanSeconds(recorders);
  const batches = recorders.flatMap((r) => r.batchMs);
  console.log(
    `record: ${processes} processes recorded ${results} slot results in ${seconds.toFixed(1)} s = ${Math.round(results / seconds)} results/s ` +
      `(batches of ${batch}: p50 ${ms(percentile(batches, 50))}, p99 ${ms(percentile(batches, 99))})`,
  );
  return recorders;
}

/** claim + complete cycles by 16 processes: back to back (`think` 0), or with a random 0..think ms pause between cycles */
async function claimPhase(manifestPath: string, processes: number, think: number, extra = ''): Promise<{ fromMs: number; toMs: number }> {
  const claimers = await runChildren('claim', manifestPath, processes, BENCH_DEFAULTS.claimsPerClaimer, 0, think);
  const claims = claimers.flatMap((r) => r.claimMs);
  const completes = claimers.flatMap((r) => r.completeMs);
  console.log(
    `claim: ${claims.length} claims (+ completes) by ${processes} processes in ${spanSeconds(claimers).toFixed(1)} s, ` +
      `${think === 0 ? 'back to back' : `0-${think} ms apart`}${extra}: ` +
      `p50 ${ms(percentile(claims, 50))}, p99 ${ms(percentile(claims, 99))}, max ${ms(Math.max(...claims))}; ` +
      `complete p50 ${ms(percentile(completes, 50))}, p99 ${ms(percentile(completes, 99))}`,
  );
  return { fromMs: Math.min(...claimers.map((r) => r.startMs)), toMs: Math.max(...claimers.map((r) => r.endMs)) };
}

async function defaultScale(dir: string, manifestPath: string, processes: number, batch: number, thinkMs: number): Promise<void> {
  // 1. plan
  const t0 = process.hrtime.bigint();
  const planned = planMonth(dir);
  const manifest = openManifest(manifestPath, { create: true });
  const outcome = manifest.plan(planned.settings, planned.shards);
  manifest.close();
  console.log(
    `plan: ${outcome.shardsTotal} shards (31 days x 50 vehicles x 5 cameras) in ${elapsedMs(t0).toFixed(0)} ms ` +
      `(planner ${planned.plannerMs.toFixed(0)} ms); manifest ${mib(fs.statSync(manifestPath).size)}, campaign.json ${mib(fs.statSync(path.join(dir, 'campaign.json')).size)}`,
  );

  // 2. slot results per second
  const recorders = await recordPhase('record', manifestPath, processes, batch);
  console.log(
    `       manifest now ${mib(fs.statSync(manifestPath).size)}, receipts ${mib(fs.readdirSync(path.join(dir, 'receipts')).reduce((n, f) => n + fs.statSync(path.join(dir, 'receipts', f)).size, 0))}`,
  );

  // 3. claim latency: saturated, then paced like the least a real worker spends on the network between two writes
  for (const think of [0, thinkMs]) await claimPhase(manifestPath, processes, think);
  const recordClaims = recorders.flatMap((r) => r.claimMs);
  console.log(
    `       while recording (phase 2): p50 ${ms(percentile(recordClaims, 50))}, p99 ${ms(percentile(recordClaims, 99))} (${recordClaims.length} claims)`,
  );
}

/** Wall time of one `fleetclip status` run (the built CLI, a fresh process, as a user runs it). */
function timeStatus(manifestPath: string, extra: string[]): number {
  const t = process.hrtime.bigint();
  const r = spawnSync(process.execPath, [CLI, 'status', '--manifest', manifestPath, ...extra], { encoding: 'utf8', maxBuffer: 1 << 30 });
  const took = elapsedMs(t);
  if (r.status !== 0) throw new Error(`fleetclip status ${extra.join(' ')} exited ${r.status}: ${r.stderr}`);
  return took;
}

/** `fleetclip report --json` in a fresh process: its wall time, the time the command itself measured (read, render, write) and the file's size. */
function timeReport(manifestPath: string, out: string): { wallMs: number; ms: number; bytes: number } {
  const t = process.hrtime.bigint();
  const r = spawnSync(process.execPath, [CLI, 'report', '--manifest', manifestPath, '--out', out, '--json'], { encoding: 'utf8' });
  const wallMs = elapsedMs(t);
  if (r.status !== 0) throw new Error(`fleetclip report exited ${r.status}: ${r.stderr}`);
  const { ms, bytes } = JSON.parse(r.stdout) as { ms: number; bytes: number };
  return { wallMs, ms, bytes };
}

/** `status --watch 1 --json` beside the workers: how many frames it printed while they ran, and how far apart. */
function watchStatus(manifestPath: string): { stop: (span: { fromMs: number; toMs: number }) => Promise<string> } {
  const watcher = spawn(process.execPath, [CLI, 'status', '--manifest', manifestPath, '--watch', '1', '--json'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const frames: number[] = [];
  let rest = '';
  watcher.stdout.on('data', (d: Buffer) => {
    rest += d.toString();
    for (let nl = rest.indexOf('\n'); nl >= 0; nl = rest.indexOf('\n')) {
      frames.push(Date.now());
      rest = rest.slice(nl + 1);
    }
  });
  const closed = new Promise<void>((resolve) => watcher.on('close', () => resolve()));
  return {
    stop: async ({ fromMs, toMs }) => {
      watcher.kill('SIGTERM');
      await closed;
      const during = frames.filter((f) => f >= fromMs && f <= toMs);
      const gaps = during.slice(1).map((f, i) => f - during[i]!);
      return `status --watch 1 printed ${during.length} frames meanwhile${gaps.length ? `, ${percentile(gaps, 50)} ms apart (median; max ${Math.max(...gaps)})` : ''}`;
    },
  };
}

async function monthScale(dir: string, manifestPath: string, processes: number, batch: number, thinkMs: number): Promise<void> {
  if (!fs.existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first (\`npm run bench:manifest\` does)`);
  const planned = planMonth(dir);
  const firstHour = Math.min(...planned.shards.map((s) => s.hourStart));
  // every shard but those the writers will claim (twice: realistic results, then today's plain ones) is done
  const writerShards = 2 * processes * BENCH_DEFAULTS.shardsPerRecorder;
  const filled = planned.shards.length - writerShards;
  const owner = { workerId: 'bench-fill', host: os.hostname(), pid: process.pid };
  const shards = planned.shards.map((s, i): ShardRecord =>
    i < filled
      ? { ...s, id: i + 1, state: 'done', fence: 1, attempts: 1, owner }
      : { ...s, id: i + 1, state: 'pending', fence: 0, attempts: 0 },
  );
  const total = filled * SLOTS * planned.settings.cameras.length;
  console.log(
    `fill: ${planned.shards.length} shards planned in ${planned.plannerMs.toFixed(0)} ms; filling ${filled} of them with ${total} slot results ...`,
  );
  const t0 = process.hrtime.bigint();
  let done = 0;
  let reported = 0;
  const manifest = openWholeManifest(manifestPath, { create: true });
  const written = manifest.restore({
    settings: planned.settings,
    shards,
    submissions: [],
    slotsOf: (id) => {
      if (id > filled) return [];
      const shard = shards[id - 1]!;
      // recorded over the month, the last shards in the last minutes (what status' clips/min sees)
      const atMs = Date.now() - (filled - id) * MINUTE_MS * 1.2;
      const records = realisticResults(shard, firstHour, atMs).map((result) => ({ shardId: id, fence: 1, result }));
      done += records.length;
      if (done - reported >= total / 10) {
        reported = done;
        console.log(`       ${done} slot results (${Math.round((100 * done) / total)} %) in ${(elapsedMs(t0) / 1000).toFixed(0)} s`);
      }
      return records;
    },
  });
  manifest.close();
  const fillSeconds = elapsedMs(t0) / 1000;
  const size = fs.statSync(manifestPath).size;
  const db = new Database(manifestPath, { readonly: true });
  const slotTable = db.prepare(`SELECT sum(pgsize) FROM dbstat WHERE name = 'slot_result'`).pluck().get() as number;
  db.close();
  console.log(
    `fill: ${written} slot results in ${fillSeconds.toFixed(0)} s (${Math.round(written / fillSeconds)}/s, one restore, 100 shards per transaction)`,
  );
  console.log(
    `size: manifest ${mib(size)} = ${(size / written).toFixed(1)} bytes per slot result ` +
      `(slot_result table ${mib(slotTable)} = ${(slotTable / written).toFixed(1)} bytes per row; the rest: counters, shards, indexes)`,
  );

  for (const extra of [[], ['--json']]) {
    const runs = [timeStatus(manifestPath, extra), timeStatus(manifestPath, extra), timeStatus(manifestPath, extra)];
    console.log(
      `status${extra.length ? ` ${extra.join(' ')}` : ''}: ${runs.map((r) => ms(r)).join(', ')}; median ${ms(percentile(runs, 50))} (node dist/cli.js, a fresh process each)`,
    );
  }

  const reports = [0, 1, 2].map(() => timeReport(manifestPath, path.join(dir, 'report.html')));
  console.log(
    `report: ${mib(reports[0]!.bytes)}; ${reports.map((r) => ms(r.wallMs)).join(', ')}; median ${ms(
      percentile(
        reports.map((r) => r.wallMs),
        50,
      ),
    )} ` + `(node dist/cli.js report, a fresh process each; reading and rendering ${reports.map((r) => ms(r.ms)).join(', ')})`,
  );

  await recordPhase('record-realistic', manifestPath, processes, batch);
  process.stdout.write("  the same with the default scale's plain results (all ok, no bag summary), like for like with its figure:\n  ");
  await recordPhase('record', manifestPath, processes, batch);
  console.log(
    `       manifest now ${mib(fs.statSync(manifestPath).size)} with ${written + writerShards * SLOTS * planned.settings.cameras.length} slot results`,
  );

  // claims need pending shards: an operator resubmits done ones (their results stay)
  const admin = openManifest(manifestPath);
  admin.resetShards(Array.from({ length: 2 * processes * BENCH_DEFAULTS.claimsPerClaimer }, (_, i) => i + 1));
  admin.close();
  for (const think of [thinkMs, 0]) {
    const watcher = watchStatus(manifestPath);
    await sleep(1500); // the watcher is up and reading
    const span = await claimPhase(manifestPath, processes, think, ', status --watch 1 beside them');
    console.log(`       ${await watcher.stop(span)}`);
  }
}

async function main(): Promise<void> {
  const scale = flag('scale') ?? BENCH_DEFAULTS.scale;
  if (scale !== 'default' && scale !== 'month') throw new Error(`--scale takes default or month, got ${scale}`);
  const processes = Number(flag('processes') ?? BENCH_DEFAULTS.processes);
  const batch = Number(flag('batch') ?? BENCH_DEFAULTS.batch);
  const thinkMs = Number(flag('think') ?? BENCH_DEFAULTS.thinkMs);
  const dir = fs.mkdtempSync(path.join(flag('dir') ?? os.tmpdir(), 'fleetclip-bench-'));
  const manifestPath = path.join(dir, 'manifest.sqlite');
  console.log(`manifest benchmark, ${scale} scale, in ${dir} (${os.cpus().length} cores, node ${process.version})`);
  try {
    await (scale === 'month' ? monthScale : defaultScale)(dir, manifestPath, processes, batch, thinkMs);
  } finally {
    if (process.argv.includes('--keep')) console.log(`kept ${dir}`);
    else fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--child') {
  const [mode, manifestPath, workerId, count, batch, thinkMs] = process.argv.slice(3) as [string, string, string, string, string, string];
  await child(mode, manifestPath, workerId, Number(count), Number(batch), Number(thinkMs));
} else {
  await main();
}
