/**
 * End-to-end benchmark (`npm run bench:e2e`): one simulated day, 2 vehicles x 1 camera, against the simulator with
 * realistic delays scaled by TIME_SCALE (and its rate limit scaled up by the same factor), three ways:
 *  1. fleetclip: `fleetclip run` with one worker per core, campaign pacing scaled like the delays;
 *  2. notebook-style: one worker, 1 clip in flight, a fixed 3 s poll and a 0.2 s throttle (both scaled), measured on
 *     a sample of the day (SAMPLE_HOURS of one vehicle) and extrapolated to the whole day;
 *  3. memory: one `fleetclip work` process downloading three hours of one vehicle's clips of 20 MB; its peak RSS.
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
/** clips in flight per worker in the day phase: enough to cover a clip's latency at the API's rate */
const DAY_IN_FLIGHT = Number(process.env.BENCH_DAY_IN_FLIGHT ?? 32);
/** clips in flight in the memory phase; the campaign default (CAMPAIGN_DEFAULTS.maxConcurrent) is 4 */
const RSS_IN_FLIGHT = Number(process.env.BENCH_RSS_IN_FLIGHT ?? 4);
/** which measurements to make: any of day, notebook, memory (comma-separated); all by default */
const PHASES = new Set((process.env.BENCH_PHASES ?? 'day,notebook,memory').split(','));
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
function runCli(args: string[], nodeOptions = EXTRA_NODE_OPTIONS): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const env = nodeOptions === undefined ? process.env : { ...process.env, NODE_OPTIONS: nodeOptions };
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'ignore', 'pipe'], env });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (t: string) => (stderr += t));
    child.on('exit', (code) => resolve({ code, stderr }));
  });
}

const videoRequests = (sim: RunningSimulator): Record<string, number> => sim.stats().requests.video ?? {};
const sum = (r: Record<string, number>): number => Object.values(r).reduce((a, b) => a + b, 0);

async function fleetclipDay(sim: RunningSimulator) {
  const dir = await scratch();
  // DAY_IN_FLIGHT clips in flight, each stream paced like the notebook's 0.2 s (scaled): 200 ms x TIME_SCALE / DAY_IN_FLIGHT between requests
  const { manifest } = await plan(sim, dir, [
    '--vehicles',
    VEHICLES.join(','),
    '--cameras',
    CAMERA,
    '--api-rate',
    String(RATE_LIMIT * 0.95),
    '--max-concurrent',
    String(DAY_IN_FLIGHT),
    '--min-time-ms',
    String((200 * TIME_SCALE) / DAY_IN_FLIGHT),
    '--clip-size',
    '262144',
  ]);
  sim.resetStats();
  const started = Date.now();
  const r = await runCli([
    'run',
    '--manifest',
    manifest,
    '--workers',
    String(os.availableParallelism()),
    '--min-clip-bytes',
    '65536',
    '--progress',
    'off',
  ]);
  const wallMs = Date.now() - started;
  if (r.code !== 0) throw new Error(`run exited ${r.code}: ${r.stderr.slice(-2000)}`);
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
  if (PHASES.has('day') || PHASES.has('notebook')) {
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
        `fleetclip      ${day.clips} clips of ${day.slots} slots in ${s(day.wallMs)}: ${fcRate.toFixed(1)} clips/s (${day.v1Requests} /v1/ requests: ${day.statuses})`,
      );
      console.log(
        `lower bound    ${s(day.lowerBoundMs)} (3 requests per clip + 1 per empty slot at ${RATE_LIMIT}/s): fleetclip is ${(day.wallMs / day.lowerBoundMs).toFixed(2)}x the bound`,
      );
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
  if (PHASES.has('memory')) {
    const rss = await workerPeakRss();
    console.log(
      `memory         one worker, ${RSS_IN_FLIGHT} clips in flight, ${rss.clips} clips of 20 MB in ${s(rss.wallMs)}: peak RSS ${rss.peakRssMb} MB (target < 150 MB; NODE_OPTIONS ${workerNodeOptions(EXTRA_NODE_OPTIONS)})`,
    );
  }
}

await bench();
