/**
 * End-to-end benchmark (`npm run bench:e2e`): one simulated day, 2 vehicles x 1 camera, against the simulator with
 * realistic delays scaled by TIME_SCALE (and its rate limit scaled up by the same factor), several ways:
 *  1. day: `fleetclip run` with one worker per core, the campaign's default window, pacing floor scaled like the delays;
 *  2. tail: the same day with the vendor's tail: 1 % of jobs take 150-225 s, 0.5 % never become ready (scaled);
 *  3. notebook-style: one worker, 1 clip in flight, a fixed 3 s poll and a 0.2 s throttle (both scaled), measured on
 *     a sample of the day (SAMPLE_HOURS of one vehicle) and extrapolated to the whole day;
 *  4. latency: one worker at the vendor's real latencies (processing 1-20 s, time scale 1, 20 requests/s), one hour of
 *     one vehicle: clips per core-hour with today's defaults against the defaults before the window (4 clips, 0.2 s);
 *  5. memory: one `fleetclip work` process downloading three hours of one vehicle's clips of 20 MB; its peak RSS.
 * Prints clips/s, wall times, the ratio, and the lower bound the simulator's rate limit sets.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { main } from '../src/cli/main.js';
import { mintToken, startSimulator, type RunningSimulator } from '../src/sim/index.js';
import { workerNodeOptions } from '../src/executor/index.js';
import { StopController, runWorker } from '../src/worker/index.js';

const TIME_SCALE = Number(process.env.BENCH_TIME_SCALE ?? 0.05);
const REAL_RATE_LIMIT = 20; // requests/s the simulated API allows, in real time
const RATE_LIMIT = REAL_RATE_LIMIT / TIME_SCALE;
const DAY = '2025-11-17';
const VEHICLES = ['metatron', 'morizo'];
const CAMERA = 'front-center';
const SAMPLE_HOURS = '13-14';
/** clips in flight in the memory phase (the cap: the window follows the budget below it) */
const RSS_IN_FLIGHT = Number(process.env.BENCH_RSS_IN_FLIGHT ?? 4);
/** which measurements to make: any of day, tail, notebook, latency, memory (comma-separated); all by default */
const PHASES = new Set((process.env.BENCH_PHASES ?? 'day,tail,notebook,latency,memory').split(','));
/** the vendor's tail as users have seen it: 1 % of jobs take 150-225 s, 0.5 % never become ready */
const TAIL_FAULTS = { longJobRate: 0.01, neverReadyRate: 0.005, neverReadyStatus: 500 as const };
/** the hedge floor, 20 s in real time, scaled like every other delay */
const HEDGE_FLOOR_S = 20 * TIME_SCALE;
const CLI = path.resolve('dist/cli.js');
const silentIo = { stdout: { write: () => true }, stderr: { write: () => true }, exitCode: 0 };

async function plan(sim: RunningSimulator, dir: string, args: string[]): Promise<{ manifest: string; out: string }> {
  const manifest = path.join(dir, 'run', 'manifest.sqlite');
  const out = path.join(dir, 'clips');
  const code = await main(
    ['plan', '--manifest', manifest, '--out', out, '--day', DAY, '--api-base', sim.baseUrl, '--token-file', sim.config.tokenFile!, ...args],
    silentIo,
  );
  if (code !== 0) throw new Error(`plan exited ${code}`);
  return { manifest, out };
}

async function scratch(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'fc-bench-'));
  await writeFile(path.join(dir, 'token'), `${mintToken({ expiresAtSec: Math.floor(Date.now() / 1000) + 86_400 })}\n`);
  return dir;
}

/** extra node options for every worker, after (so overriding) the product's own, e.g. `--max-semi-space-size=16` */
const EXTRA_NODE_OPTIONS = process.env.BENCH_WORKER_NODE_OPTIONS || undefined;

/** Runs the CLI with `nodeOptions` as NODE_OPTIONS (`run` adds the workers' own in front). */
function runCliOut(args: string[], nodeOptions = EXTRA_NODE_OPTIONS): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const env = nodeOptions === undefined ? process.env : { ...process.env, NODE_OPTIONS: nodeOptions };
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (t: string) => (stdout += t));
    child.stderr.setEncoding('utf8').on('data', (t: string) => (stderr += t));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}
const runCli = runCliOut;

const videoRequests = (sim: RunningSimulator): Record<string, number> => sim.stats().requests.video ?? {};
const sum = (r: Record<string, number>): number => Object.values(r).reduce((a, b) => a + b, 0);

async function fleetclipDay(sim: RunningSimulator) {
  const dir = await scratch();
  // the campaign's default window (up to 128 clips a worker); the per-worker floor between requests, 10 ms at the
  // real budget, scaled like the budget so it does not bind here either
  const { manifest } = await plan(sim, dir, [
    ...['--vehicles', VEHICLES.join(','), '--cameras', CAMERA, '--api-rate', String(RATE_LIMIT * 0.95)],
    ...['--min-time-ms', String(10 * TIME_SCALE), '--clip-size', '262144'],
  ]);
  sim.resetStats();
  const started = Date.now();
  const r = await runCli([
    ...['run', '--manifest', manifest, '--workers', String(os.availableParallelism())],
    ...['--min-clip-bytes', '65536', '--hedge-floor', String(HEDGE_FLOOR_S), '--progress', 'off'],
  ]);
  const wallMs = Date.now() - started;
  if (r.code !== 0) throw new Error(`run exited ${r.code}: ${r.stderr.slice(-2000)}`);
  const status = JSON.parse((await runCliOut(['status', '--manifest', manifest, '--json'])).stdout) as {
    total: { clips: { ok: number } };
    workers: { hedges: number; clipRequests: number };
  };
  const stats = sim.stats();
  const clips = stats.clipsServed.good;
  const data = VEHICLES.reduce((n, v) => n + sim.truth({ day: DAY, vehicle: v, camera: CAMERA }).length, 0);
  const slots = VEHICLES.length * 2880;
  // the least /v1/ traffic a day needs: data slot = request + one readiness check + download; empty slot = request
  const minRequests = 3 * data + (slots - data);
  const v1 = Object.entries(stats.requests)
    .filter(([e]) => e === 'video' || e === 'download')
    .reduce((n, [, r]) => n + sum(r), 0);
  await rm(dir, { recursive: true, force: true });
  const byStatus = (e: string) =>
    Object.entries(stats.requests[e] ?? {})
      .map(([code, n]) => `${code}:${n}`)
      .join(' ');
  return {
    wallMs,
    clips: data,
    fetched: status.total.clips.ok,
    hedges: status.workers.hedges,
    clipRequests: status.workers.clipRequests,
    faults: stats.faults,
    served: clips,
    slots,
    v1Requests: v1,
    lowerBoundMs: (minRequests / RATE_LIMIT) * 1000,
    video: sum(videoRequests(sim)),
    statuses: `video ${byStatus('video')}; download ${byStatus('download')}`,
  };
}

async function notebookSample(sim: RunningSimulator) {
  const dir = await scratch();
  const { manifest } = await plan(sim, dir, [
    '--vehicles',
    VEHICLES[0]!,
    '--cameras',
    CAMERA,
    '--hours',
    SAMPLE_HOURS,
    '--api-rate',
    String(RATE_LIMIT * 0.95),
    '--max-concurrent',
    '1',
    '--min-time-ms',
    String(200 * TIME_SCALE),
    '--clip-size',
    '262144',
  ]);
  const started = Date.now();
  const poll = 3000 * TIME_SCALE;
  const r = await runWorker(
    {
      manifestPath: manifest,
      progress: 'off',
      clipOptions: { minClipBytes: 65536 },
      apiLimits: { readyFirstPollMs: poll, readyPollCapMs: poll, jitter: 0 },
    },
    { stderr: { write: () => true } },
    { stop: new StopController(1000) },
  );
  const wallMs = Date.now() - started;
  if (r.exitCode !== 0) throw new Error(`notebook-style worker: ${r.summary}`);
  const slots = r.shards.reduce((n, s) => n + s.ok + s.missing + s.invalid + s.failed, 0);
  const clips = r.shards.reduce((n, s) => n + s.ok, 0);
  await rm(dir, { recursive: true, force: true });
  return { wallMs, slots, clips };
}

/**
 * One worker at the vendor's real latencies (processing 1-20 s, no time scale, 20 requests/s, the budget at 19): one
 * hour of one vehicle and camera, with `pacing` flags for `plan`; wall time, clips and clips per core-hour.
 */
async function realLatencyHour(pacing: string[]): Promise<{ wallMs: number; clips: number; perCoreHour: number; requests: number }> {
  const dir = await scratch();
  const sim = await startSimulator({
    clipBytes: 262_144,
    processingDelayMs: { min: 1_000, max: 20_000 },
    rateLimitPerSec: REAL_RATE_LIMIT,
    tokenFile: path.join(dir, 'token'),
  });
  try {
    const { manifest } = await plan(sim, dir, [
      ...['--vehicles', VEHICLES[0]!, '--cameras', CAMERA, '--hours', SAMPLE_HOURS, '--clip-size', '262144'],
      ...['--api-rate', String(REAL_RATE_LIMIT * 0.95), ...pacing],
    ]);
    const started = Date.now();
    const r = await runCli(['work', '--manifest', manifest, '--progress', 'off', '--min-clip-bytes', '65536']);
    const wallMs = Date.now() - started;
    if (r.code !== 0) throw new Error(`work exited ${r.code}: ${r.stderr.slice(-1000)}`);
    const clips = sim.stats().clipsServed.good;
    const requests = Object.entries(sim.stats().requests)
      .filter(([e]) => e === 'video' || e === 'download')
      .reduce((n, [, r]) => n + sum(r), 0);
    return { wallMs, clips, perCoreHour: clips / (wallMs / 3_600_000), requests };
  } finally {
    await sim.close();
    await rm(dir, { recursive: true, force: true });
  }
}

async function workerPeakRss(): Promise<{ clips: number; peakRssMb: number; wallMs: number }> {
  const dir = await scratch();
  const tokenSim = await startSimulator({
    clipBytes: 20_000_000,
    timeScale: TIME_SCALE,
    rateLimitPerSec: RATE_LIMIT,
    tokenFile: path.join(dir, 'token'),
  });
  try {
    // 07:00-10:00 of metatron: ~330 slots with data
    const { manifest } = await plan(tokenSim, dir, [
      '--vehicles',
      'metatron',
      '--cameras',
      CAMERA,
      '--hours',
      '7-10',
      '--api-rate',
      String(RATE_LIMIT * 0.95),
      '--max-concurrent',
      String(RSS_IN_FLIGHT),
      '--min-time-ms',
      String(200 * TIME_SCALE),
      '--clip-size',
      '20MB',
      '--workspace-cap',
      '100GiB',
    ]);
    const started = Date.now();
    // started the way `fleetclip run` starts its workers
    const r = await runCli(['work', '--manifest', manifest, '--progress', 'off'], workerNodeOptions(EXTRA_NODE_OPTIONS));
    const wallMs = Date.now() - started;
    if (r.code !== 0) throw new Error(`work exited ${r.code}: ${r.stderr.slice(-1000)}`);
    const peak = /peakRssMb=(\d+)/.exec(r.stderr);
    const clips = tokenSim.stats().clipsServed.good;
    return { clips, peakRssMb: Number(peak?.[1] ?? NaN), wallMs };
  } finally {
    await tokenSim.close();
    await rm(dir, { recursive: true, force: true });
  }
}

const s = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

async function bench(): Promise<void> {
  console.log(
    `bench:e2e  one simulated day ${DAY}, ${VEHICLES.join(' + ')} x ${CAMERA}; delays x${TIME_SCALE}, API rate limit ${RATE_LIMIT}/s (${REAL_RATE_LIMIT}/s real), ${os.availableParallelism()} cores`,
  );
  if (PHASES.has('day') || PHASES.has('notebook') || PHASES.has('tail')) {
    const dir = await scratch();
    const sim = await startSimulator({
      vehicles: ['mallory', 'mav', 'megalodon', 'metatron', 'morizo'],
      clipBytes: 262_144,
      timeScale: TIME_SCALE,
      rateLimitPerSec: RATE_LIMIT,
      tokenFile: path.join(dir, 'token'),
    });
    try {
      const day = await fleetclipDay(sim);
      const fcRate = day.clips / (day.wallMs / 1000);
      console.log(
        `fleetclip      ${day.fetched} of ${day.clips} clips of ${day.slots} slots in ${s(day.wallMs)}: ${fcRate.toFixed(1)} clips/s (${day.v1Requests} /v1/ requests: ${day.statuses})`,
      );
      console.log(
        `lower bound    ${s(day.lowerBoundMs)} (3 requests per clip + 1 per empty slot at ${RATE_LIMIT}/s): fleetclip is ${(day.wallMs / day.lowerBoundMs).toFixed(2)}x the bound`,
      );
      if (PHASES.has('tail')) {
        sim.setFaults(TAIL_FAULTS);
        const tail = await fleetclipDay(sim);
        sim.setFaults({ longJobRate: 0, neverReadyRate: 0 });
        console.log(
          `tail           ${tail.fetched} of ${tail.clips} clips in ${s(tail.wallMs)} with ${tail.faults['long-job'] ?? 0} long and ${tail.faults['never-ready'] ?? 0} never-ready jobs: ` +
            `${(tail.wallMs / day.wallMs).toFixed(2)}x the day without them, ${(tail.wallMs / day.lowerBoundMs).toFixed(2)}x the bound; ` +
            `${tail.hedges} hedges = ${((100 * tail.hedges) / tail.clipRequests).toFixed(2)} % of ${tail.clipRequests} clip requests`,
        );
      }
      if (PHASES.has('notebook')) {
        const nb = await notebookSample(sim);
        const nbDayMs = (nb.wallMs / nb.slots) * day.slots;
        const nbRate = day.clips / (nbDayMs / 1000);
        console.log(
          `notebook-style ${nb.clips} clips of ${nb.slots} slots (sample ${VEHICLES[0]} ${SAMPLE_HOURS} h) in ${s(nb.wallMs)}; extrapolated to the day: ${s(nbDayMs)}, ${nbRate.toFixed(2)} clips/s`,
        );
        console.log(
          `speed-up       ${(nbDayMs / day.wallMs).toFixed(1)}x (target >= 10x); vs lower bound ${(day.wallMs / day.lowerBoundMs).toFixed(2)}x (target <= 1.3x)`,
        );
      }
    } finally {
      await sim.close();
      await rm(dir, { recursive: true, force: true });
    }
  }
  if (PHASES.has('latency')) {
    const now = await realLatencyHour([]);
    const before = await realLatencyHour(['--max-concurrent', '4', '--min-time-ms', '200']);
    const line = (what: string, r: typeof now) =>
      `${what} ${r.clips} clips in ${s(r.wallMs)}: ${Math.round(r.perCoreHour)} clips per core-hour (${r.requests} /v1/ requests)`;
    console.log(`real latency   ${VEHICLES[0]} ${SAMPLE_HOURS} h x ${CAMERA}, processing 1-20 s, ${REAL_RATE_LIMIT}/s; one worker`);
    console.log(line('  defaults    ', now));
    console.log(line('  4 / 0.2 s   ', before));
    console.log(
      `  ratio        ${(now.perCoreHour / before.perCoreHour).toFixed(2)}x the clips per core-hour of the defaults before the window`,
    );
  }
  if (PHASES.has('memory')) {
    const rss = await workerPeakRss();
    console.log(
      `memory         one worker, ${RSS_IN_FLIGHT} clips in flight, ${rss.clips} clips of 20 MB in ${s(rss.wallMs)}: peak RSS ${rss.peakRssMb} MB (target < 150 MB; NODE_OPTIONS ${workerNodeOptions(EXTRA_NODE_OPTIONS)})`,
    );
  }
}

await bench();
