/**
 * Slurm scale benchmark (`npm run bench:slurm`; root on Debian): the local one-node cluster advertises BENCH_SLURM_TASKS
 * CPUs (default 32) on the machine's real cores, and one campaign runs as an array of that many single-core workers:
 *  1. `SLURM_LOCAL_CPUS=<tasks> bash scripts/slurm-up.sh`; at the end (also on failure or Ctrl-C) the default again;
 *  2. the simulator in this process, delays x TIME_SCALE, its rate limit scaled up by the same factor, a light fault
 *     mix with the vendor's tail (1 % of jobs take 150-225 s scaled, 0.5 % never become ready);
 *  3. `plan` of 16 vehicles x N hours x 1 camera (two shards a task: 64 for 32 tasks), a token valid 24 h;
 *  4. `submit --profile local --workers <tasks> --time 30 --json --verbose`, then `status --wait --slurm --verbose`;
 *  5. checks that nothing was lost or duplicated: every planned slot recorded exactly once in the manifest, the ok
 *     slots exactly the simulator's truth, every clip on disk exactly once and byte for byte the truth
 *     (compareWithTruth of the worker tests), `manifest verify --checksums` OK;
 *  6. counts the scheduler commands: what submit and status say with --verbose, and what slurmctld (`sdiag`) and
 *     slurmdbd (`sacctmgr show stats`) served meanwhile, by RPC type: the workers' one squeue each at start shows
 *     as REQUEST_JOB_INFO_SINGLE; the workers' own logs say when each started and why it ended.
 * Prints wall times, clips/s and the scheduler figures; exits 1 when something was lost or duplicated.
 * Changing the node's CPU count restarts slurmctld and aborts (requeues) the jobs running then: the benchmark waits for
 * an empty queue before each change, and says so when another `slurm-up.sh` (e.g. `npm test` elsewhere) changed the
 * node under it, whose figures are then not the benchmark's.
 * Knobs: BENCH_SLURM_TASKS (32), BENCH_SLURM_SHARDS_PER_TASK (2), BENCH_SLURM_TIME (submit --time, 30 minutes),
 * BENCH_SLURM_WORKER_ARGS (more worker flags, space-separated), BENCH_SLURM_TIMEOUT_S (900, for status --wait),
 * BENCH_SLURM_QUEUE_WAIT_S (300), BENCH_TIME_SCALE (0.05), BENCH_KEEP=1 or --keep (keep the run folder, say where).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { main } from '../src/cli/main.js';
import { openManifest } from '../src/manifest/index.js';
import { mintToken, startSimulator, type RunningSimulator } from '../src/sim/index.js';
import { compareWithTruth, DAY } from '../test/worker/campaign.js';

const TASKS = Number(process.env.BENCH_SLURM_TASKS ?? 32);
const SHARDS_PER_TASK = Number(process.env.BENCH_SLURM_SHARDS_PER_TASK ?? 2);
const TIMEOUT_S = Number(process.env.BENCH_SLURM_TIMEOUT_S ?? 900);
/** `submit --time` (minutes, or any Slurm time) */
const TIME_LIMIT = process.env.BENCH_SLURM_TIME ?? '30';
/** more flags for every worker, space-separated (e.g. `--deadline=+1000h`) */
const EXTRA_WORKER_ARGS = (process.env.BENCH_SLURM_WORKER_ARGS ?? '').split(/\s+/).filter(Boolean);
/** how long to wait for an empty queue before reconfiguring the node (which aborts running jobs) */
const QUEUE_WAIT_S = Number(process.env.BENCH_SLURM_QUEUE_WAIT_S ?? 300);
const KEEP = process.argv.includes('--keep') || process.env.BENCH_KEEP === '1';
const TIME_SCALE = Number(process.env.BENCH_TIME_SCALE ?? 0.05);
const REAL_RATE_LIMIT = 20; // requests/s the simulated API allows, in real time
const RATE_LIMIT = REAL_RATE_LIMIT / TIME_SCALE;
const VEHICLES = Array.from({ length: 16 }, (_, i) => `car${String(i + 1).padStart(2, '0')}`);
const CAMERA = 'front-center';
const HOURS = Math.ceil((TASKS * SHARDS_PER_TASK) / VEHICLES.length);
const FROM_HOUR = Math.max(0, Math.min(12, 24 - HOURS));
const CLIP_BYTES = 262_144;
const MIN_CLIP_BYTES = 65_536;
/**
 * The demo's light mix with the vendor's tail, without its random 429s: each halves the campaign's request rate, which
 * recovers over 60 s of real time (not scaled like the delays), so at this time scale they would measure AIMD rather
 * than the cluster.
 */
const FAULTS = {
  rate5xx: 0.01,
  dropRate: 0.01,
  tinyRate: 0.01,
  longJobRate: 0.01,
  neverReadyRate: 0.005,
  neverReadyStatus: 500 as const,
};
/** the hedge floor, 20 s in real time, scaled like every other delay */
const HEDGE_FLOOR_S = 20 * TIME_SCALE;
const CLI = path.resolve('dist/cli.js');
const silentIo = { stdout: { write: () => true }, stderr: { write: () => true }, exitCode: 0 };

if (!Number.isInteger(TASKS) || TASKS < 1) throw new Error(`BENCH_SLURM_TASKS must be a positive integer, got ${TASKS}`);
if (!Number.isInteger(SHARDS_PER_TASK) || SHARDS_PER_TASK < 1) throw new Error(`BENCH_SLURM_SHARDS_PER_TASK must be a positive integer`);
if (HOURS > 24)
  throw new Error(`${TASKS} tasks x ${SHARDS_PER_TASK} shards need ${HOURS} hours of ${VEHICLES.length} vehicles: more than a day`);

// Ctrl-C or SIGTERM: end the child that runs, then the finally block cancels the jobs and restores the cluster; one
// more while it does only cuts its wait for an empty queue
let interrupted = false;
let current: ChildProcess | undefined;
/** set in the finally block: cancelling, closing and restoring go on whatever happens */
let cleaningUp = false;
let cutWait = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.on(signal, () => {
    if (cleaningUp) cutWait = true;
    interrupted = true;
    current?.kill('SIGINT');
  });
const checkInterrupted = (): void => {
  if (interrupted && !cleaningUp) throw new Error('interrupted');
};

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** `detached`: in a process group of its own, which a Ctrl-C in the terminal does not reach, and not stopped by one here */
function runProcess(
  file: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; detached?: boolean } = {},
): Promise<Ran> {
  checkInterrupted();
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'], env: opts.env ?? process.env, detached: opts.detached ?? false });
    if (!opts.detached) current = child;
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (t: string) => (stdout += t));
    child.stderr.setEncoding('utf8').on('data', (t: string) => (stderr += t));
    const timer = opts.timeoutMs === undefined ? undefined : setTimeout(() => child.kill('SIGINT'), opts.timeoutMs);
    const done = (code: number | null): void => {
      clearTimeout(timer);
      if (current === child) current = undefined;
      resolve({ code, stdout, stderr, ms: Date.now() - started });
    };
    child.on('error', (err) => {
      stderr += `${err.message}\n`;
      done(null);
    });
    child.on('exit', done);
  });
}

const runCli = (args: string[], timeoutMs?: number): Promise<Ran> =>
  runProcess(process.execPath, [CLI, ...args], timeoutMs === undefined ? {} : { timeoutMs });

/** `scripts/slurm-up.sh` with SLURM_LOCAL_CPUS=cpus, or without the knob (the default) */
async function slurmUp(cpus: number | undefined): Promise<number> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.SLURM_LOCAL_CPUS;
  if (cpus !== undefined) env.SLURM_LOCAL_CPUS = String(cpus);
  // never half done: a Ctrl-C does not reach it
  const r = await runProcess('bash', ['scripts/slurm-up.sh'], { env, detached: true });
  if (r.code !== 0) throw new Error(`slurm-up${cpus ? ` (SLURM_LOCAL_CPUS=${cpus})` : ''} exited ${r.code}:\n${r.stderr.trim()}`);
  return r.ms;
}

/** `name (id) count:N …` rows of an RPC statistics section, and when the statistics started */
function rpcCounts(text: string, section: string): { since: string; counts: Map<string, number> } {
  const since = /^Data since\s+(.*)$/m.exec(text)?.[1]?.trim() ?? '?';
  const start = text.indexOf(section);
  const end = text.indexOf('Remote Procedure Call statistics by user');
  const counts = new Map<string, number>();
  if (start < 0) return { since, counts };
  for (const m of text.slice(start, end < 0 ? undefined : end).matchAll(/^\s+([A-Z_0-9]+)\s+\(\s*\d+\)\s+count:(\d+)/gm))
    counts.set(m[1]!, Number(m[2]));
  return { since, counts };
}

async function schedulerStats(): Promise<{ ctld: ReturnType<typeof rpcCounts>; dbd: ReturnType<typeof rpcCounts> }> {
  const sdiag = await runProcess('sdiag', []);
  const dbd = await runProcess('sacctmgr', ['show', 'stats']);
  return {
    ctld: rpcCounts(sdiag.stdout, 'Remote Procedure Call statistics by message type'),
    dbd: rpcCounts(dbd.stdout, 'Remote Procedure Call statistics by message type'),
  };
}

/** RPC types whose count rose, without the statistics requests this benchmark makes itself */
function delta(before: Map<string, number>, after: Map<string, number>, ignore: string[]): Map<string, number> {
  const d = new Map<string, number>();
  for (const [name, n] of after) {
    const rise = n - (before.get(name) ?? 0);
    if (rise > 0 && !ignore.includes(name)) d.set(name, rise);
  }
  return new Map([...d].sort((a, b) => b[1] - a[1]));
}

const schedulerCalls = (stderr: string): number => Number(/(\d+) scheduler command\(s\) run/.exec(stderr)?.[1] ?? NaN);

interface WorkerLog {
  /** `<job>_<task>`, the same for every attempt of a requeued task */
  task: string;
  /** SLURM_RESTART_COUNT of this attempt (its log is `<job>_<task>-r<N>.log`) */
  restart: number;
  startedMs?: number;
  deadline?: string;
  exitCode?: number;
  summary?: string;
  shards?: number;
  peakRssMb?: number;
}

/** What each worker's JSON log (`<run>/logs/<job>_<task>[-r<N>].log`) says of its start and its end. */
async function workerLogs(runDir: string): Promise<WorkerLog[]> {
  const dir = path.join(runDir, 'logs');
  const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => /^\d+_\d+(-r\d+)?\.log$/.test(n));
  const logs: WorkerLog[] = [];
  for (const name of names) {
    const [, task, restart] = /^(\d+_\d+)(?:-r(\d+))?\.log$/.exec(name)!;
    const w: WorkerLog = { task: task!, restart: Number(restart ?? 0) };
    for (const line of (await readFile(path.join(dir, name), 'utf8')).split('\n')) {
      if (!line.startsWith('{')) continue;
      let entry: Record<string, unknown>;
      try {
        entry = JSON.parse(line) as Record<string, unknown>;
      } catch {
        continue;
      }
      if (typeof entry.message === 'string' && entry.message.startsWith('worker started')) {
        w.startedMs = Date.parse(String(entry.timestamp));
        if (typeof entry.deadline === 'string') w.deadline = entry.deadline;
      }
      if (typeof entry.exitCode === 'number') {
        w.exitCode = entry.exitCode;
        w.summary = String(entry.message);
        w.shards = Number(entry.shards);
        w.peakRssMb = Number(entry.peakRssMb);
      }
    }
    logs.push(w);
  }
  return logs;
}

/** the last attempt of each task */
function lastAttempts(logs: WorkerLog[]): Map<string, WorkerLog> {
  const last = new Map<string, WorkerLog>();
  for (const l of logs) if ((last.get(l.task)?.restart ?? -1) < l.restart) last.set(l.task, l);
  return last;
}

/** Waits (reading files only: no scheduler call) until the last attempt of every task has logged its end. */
async function allWorkersEnded(runDir: string, jobId: string, tasks: number, timeoutMs: number): Promise<WorkerLog[]> {
  const giveUpAt = Date.now() + timeoutMs;
  for (;;) {
    const logs = await workerLogs(runDir);
    const last = lastAttempts(logs);
    const ended = Array.from({ length: tasks }, (_, i) => last.get(`${jobId}_${i}`)).filter((l) => l?.exitCode !== undefined);
    if (ended.length >= tasks || Date.now() > giveUpAt) return logs;
    checkInterrupted();
    await sleep(500);
  }
}

/** Waits until the queue is empty (false after `timeoutMs`): changing the node's CPU count aborts the jobs running on it. */
async function queueIdle(timeoutMs: number, why: string): Promise<boolean> {
  const giveUpAt = Date.now() + timeoutMs;
  let said = false;
  for (;;) {
    const jobs = (await runProcess('squeue', ['-h', '-o', '%i %j %T'])).stdout.trim().split('\n').filter(Boolean);
    if (jobs.length === 0) return true;
    if (Date.now() > giveUpAt || (cleaningUp ? cutWait : interrupted)) return false;
    if (!said)
      console.log(`waiting        for the queue to empty before ${why} (it aborts running jobs): ${jobs.length} job(s), e.g. ${jobs[0]}`);
    said = true;
    await sleep(2000);
  }
}

interface SlotCheck {
  shards: number;
  shardsDone: number;
  shardsFailed: number;
  slots: number;
  results: number;
  duplicates: number;
  unplanned: number;
  unrecorded: number;
  counterMismatch: number;
  outcomes: Record<string, number>;
  okNotTruth: number;
  truthNotOk: number;
  firstSlotMs: number;
  lastSlotMs: number;
  /** when 99 % of the slots had their outcome */
  p99SlotMs: number;
  /** clip and hedge requests of every worker, from their reports */
  clipRequests: number;
  hedges: number;
  progress: { total: number; done: number; ok: number };
}

/** Every planned slot recorded exactly once; the ok slots exactly the truth; the shard counters agree with the rows. */
function checkSlots(manifestPath: string, truth: Set<string>): SlotCheck {
  const m = openManifest(manifestPath, { readonly: true });
  try {
    const progress = m.progress();
    const rows = m.shardRows();
    const planned = new Set<string>();
    for (const s of m.plannedShards())
      for (const camera of s.cameras) for (let i = 0; i < 120; i++) planned.add(`${s.vehicle}|${camera}|${s.hourStart + i * 30}`);
    const seen = new Set<string>();
    const outcomes: Record<string, number> = {};
    let results = 0;
    let duplicates = 0;
    let unplanned = 0;
    let counterMismatch = 0;
    let okNotTruth = 0;
    const atMs: number[] = [];
    const okSeen = new Set<string>();
    for (const row of rows) {
      const rs = m.slotResults(row.id);
      const counted = { ok: 0, missing: 0, invalid: 0, failed: 0 };
      for (const r of rs) {
        results++;
        const key = `${r.vehicle}|${r.camera}|${r.start}`;
        if (seen.has(key)) duplicates++;
        seen.add(key);
        if (!planned.has(key)) unplanned++;
        outcomes[r.outcome] = (outcomes[r.outcome] ?? 0) + 1;
        counted[r.outcome]++;
        if (r.outcome === 'ok') {
          okSeen.add(key);
          if (!truth.has(key)) okNotTruth++;
        }
        atMs.push(r.atMs);
      }
      if (
        counted.ok !== row.ok ||
        counted.missing !== row.missing ||
        counted.invalid !== row.invalid ||
        counted.failed !== row.failed ||
        rs.length !== row.slotsTotal
      )
        counterMismatch++;
    }
    atMs.sort((x, y) => x - y);
    const activity = m.activity(Date.now(), 86_400_000, 60);
    return {
      shards: rows.length,
      shardsDone: rows.filter((r) => r.state === 'done').length,
      shardsFailed: rows.filter((r) => r.state === 'failed').length,
      slots: planned.size,
      results,
      duplicates,
      unplanned,
      unrecorded: [...planned].filter((k) => !seen.has(k)).length,
      counterMismatch,
      outcomes,
      okNotTruth,
      truthNotOk: [...truth].filter((k) => !okSeen.has(k)).length,
      firstSlotMs: atMs[0]!,
      lastSlotMs: atMs[atMs.length - 1]!,
      p99SlotMs: atMs[Math.ceil(0.99 * atMs.length) - 1]!,
      clipRequests: activity.clipRequests,
      hedges: activity.hedges,
      progress: progress.slots,
    };
  } finally {
    m.close();
  }
}

const s = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
const sum = (r: Record<string, number>): number => Object.values(r).reduce((a, b) => a + b, 0);
const list = (d: Map<string, number>): string => [...d].map(([name, n]) => `${name} +${n}`).join(', ') || 'none';

async function bench(): Promise<boolean> {
  const hours = `${FROM_HOUR}-${FROM_HOUR + HOURS}`;
  const from = `${String(FROM_HOUR).padStart(2, '0')}:00`;
  const to = `${FROM_HOUR + HOURS}:00`;
  const dir = await mkdtemp(path.join(os.tmpdir(), 'fc-bench-slurm-'));
  const runDir = path.join(dir, 'run');
  const manifest = path.join(runDir, 'manifest.sqlite');
  const out = path.join(dir, 'clips');
  const tokenFile = path.join(dir, 'token');
  let sim: RunningSimulator | undefined;
  let submitted = false;
  let ok = false;
  let clusterTouched = false;
  try {
    if (!(await queueIdle(QUEUE_WAIT_S * 1000, `setting the node's CPUs to ${TASKS}`)))
      throw new Error(
        `the queue is still not empty after ${QUEUE_WAIT_S} s: run again when the cluster is idle (BENCH_SLURM_QUEUE_WAIT_S waits longer)`,
      );
    clusterTouched = true;
    const upMs = await slurmUp(TASKS);
    const cpus = (await runProcess('sinfo', ['-h', '-N', '-o', '%c'])).stdout.trim().split('\n')[0];
    console.log(
      `bench:slurm  ${VEHICLES.length} vehicles x ${HOURS} h (${hours} UTC of ${DAY}) x ${CAMERA}; ${TASKS} array tasks on a node advertising ${cpus} CPUs (${os.availableParallelism()} real cores); ` +
        `delays x${TIME_SCALE}, API rate limit ${RATE_LIMIT}/s (${REAL_RATE_LIMIT}/s real); faults ${Object.entries(FAULTS)
          .filter(([k]) => k.endsWith('Rate') || k.startsWith('rate'))
          .map(([k, v]) => `${k} ${v}`)
          .join(', ')}`,
    );
    console.log(`cluster        SLURM_LOCAL_CPUS=${TASKS} bash scripts/slurm-up.sh: ${s(upMs)}`);
    if (EXTRA_WORKER_ARGS.length > 0) console.log(`worker args    ${EXTRA_WORKER_ARGS.join(' ')} (BENCH_SLURM_WORKER_ARGS)`);

    await writeFile(tokenFile, `${mintToken({ expiresAtSec: Math.floor(Date.now() / 1000) + 86_400 })}\n`, { mode: 0o600 });
    sim = await startSimulator({
      vehicles: VEHICLES,
      cameras: [CAMERA],
      clipBytes: CLIP_BYTES,
      timeScale: TIME_SCALE,
      rateLimitPerSec: RATE_LIMIT,
      tokenFile,
      faults: FAULTS,
    });
    const planned = await main(
      [
        ...['plan', '--manifest', manifest, '--out', out, '--day', DAY, '--hours', hours, '--vehicles', VEHICLES.join(',')],
        ...['--cameras', CAMERA, '--api-base', sim.baseUrl, '--token-file', tokenFile, '--api-rate', String(RATE_LIMIT * 0.95)],
        ...['--min-time-ms', String(10 * TIME_SCALE), '--clip-size', String(CLIP_BYTES)],
      ],
      silentIo,
    );
    if (planned !== 0) throw new Error(`plan exited ${planned}`);
    const truthSlots = VEHICLES.flatMap((vehicle) => sim!.truth({ day: DAY, vehicle, camera: CAMERA, from, to }));
    const truth = new Set(truthSlots.map((t) => `${t.vehicle}|${t.camera}|${t.start}`));

    const loadStart = os.loadavg()[0]!;
    const before = await schedulerStats();
    sim.resetStats();
    const t0 = Date.now();
    const sub = await runCli([
      ...['submit', '--manifest', manifest, '--profile', 'local', '--workers', String(TASKS), '--time', TIME_LIMIT, '--json', '--verbose'],
      `--worker-arg=--min-clip-bytes=${MIN_CLIP_BYTES}`,
      `--worker-arg=--hedge-floor=${HEDGE_FLOOR_S}`,
      ...EXTRA_WORKER_ARGS.map((a) => `--worker-arg=${a}`),
    ]);
    if (sub.code !== 0) throw new Error(`submit exited ${sub.code}: ${sub.stderr.trim()}`);
    submitted = true;
    const outcome = JSON.parse(sub.stdout) as { submissions: { jobId: string; arrayRange: string }[]; tasks: number };
    const jobId = outcome.submissions[0]!.jobId;
    const waited = await runCli(['status', '--manifest', manifest, '--wait', '--slurm', '--verbose'], TIMEOUT_S * 1000);
    const waitedMs = Date.now() - t0;
    checkInterrupted();
    if (waited.code !== 0)
      throw new Error(`status --wait exited ${waited.code} after ${s(waitedMs)}: ${waited.stderr.trim()}\n${waited.stdout}`);
    const logs = await allWorkersEnded(runDir, jobId, outcome.tasks, 120_000);
    const after = await schedulerStats();
    const cpusAfter = (await runProcess('sinfo', ['-h', '-N', '-o', '%c'])).stdout.trim().split('\n')[0];
    const simStats = sim.stats();
    const loadEnd = os.loadavg()[0]!;

    const slots = checkSlots(manifest, truth);
    const files = await compareWithTruth({ dir, manifest, out, tokenFile, sim }, { vehicles: VEHICLES, cameras: [CAMERA], from, to });
    const verify = await runCli(['manifest', 'verify', '--manifest', manifest, '--checksums', '--json']);
    const verified = JSON.parse(verify.stdout) as { ok: boolean; problems: string[]; counts: { filesChecked: number } };

    // figures
    const jobs = outcome.submissions.map((x) => `${x.jobId} (array ${x.arrayRange})`).join(', ');
    const submitCalls = schedulerCalls(sub.stderr);
    const statusCalls = schedulerCalls(waited.stderr);
    const started = logs.filter((l) => l.startedMs !== undefined);
    const startsAfter = started.map((l) => l.startedMs! - t0);
    const ended = logs.filter((l) => l.exitCode !== undefined);
    const requeued = new Set(logs.filter((l) => l.restart > 0).map((l) => l.task)).size;
    const exits = new Map<string, number>();
    for (const l of ended) {
      const why = l.exitCode === 0 ? 'exit 0' : `exit ${l.exitCode} (${(l.summary ?? '').replace(/\s*\(.*$/, '').replace(/:.*$/, '')})`;
      exits.set(why, (exits.get(why) ?? 0) + 1);
    }
    const killed = logs.length - ended.length;
    const perWorker = ended.map((l) => l.shards ?? 0);
    const rss = ended.map((l) => l.peakRssMb ?? 0);
    const allMs = slots.lastSlotMs - t0;
    const clipsOk = slots.outcomes.ok ?? 0;
    const empty = slots.slots - truth.size;
    const lowerBoundMs = ((3 * truth.size + empty) / RATE_LIMIT) * 1000;
    const ctld = delta(before.ctld.counts, after.ctld.counts, ['REQUEST_STATS_INFO']);
    const dbd = delta(before.dbd.counts, after.dbd.counts, ['DBD_GET_STATS']);
    // `squeue -j <one id>` (a worker's deadline) is REQUEST_JOB_INFO_SINGLE; a plain squeue (REQUEST_JOB_INFO) is not fleetclip's
    const jobQueries = ctld.get('REQUEST_JOB_INFO_SINGLE') ?? 0;
    const sacctCalls = dbd.get('DBD_GET_JOBS_COND') ?? 0;
    // status asks sacct (slurmdbd), and squeue only for jobs sacct does not know yet: the other job queries are the workers'
    const workerQueries = jobQueries - Math.max(0, statusCalls - sacctCalls);
    const restarted = before.ctld.since !== after.ctld.since;
    const disturbed = restarted || cpusAfter !== cpus || requeued > 0;
    const v1 = Object.entries(simStats.requests)
      .filter(([e]) => e === 'video' || e === 'download')
      .reduce((n, [, r]) => n + sum(r), 0);
    const range = (xs: number[], f: (x: number) => string = String): string =>
      xs.length === 0 ? '-' : `${f(Math.min(...xs))}-${f(Math.max(...xs))}`;

    console.log(
      `campaign       ${slots.shards} shards, ${slots.slots} slots, ${truth.size} with data; clips of ${CLIP_BYTES} B; token valid 24 h; ` +
        `load average ${loadStart.toFixed(1)} at submit, ${loadEnd.toFixed(1)} at the end (other processes share the ${os.availableParallelism()} cores)`,
    );
    console.log(`submit         job ${jobs}: ${outcome.tasks} tasks in ${s(sub.ms)}, ${submitCalls} scheduler command(s)`);
    console.log(
      `workers        ${started.length} started (${outcome.tasks} tasks${requeued > 0 ? `, ${requeued} requeued` : ''}) ${range(startsAfter, s)} after submit, ` +
        `${started.filter((l) => l.deadline).length} knew their deadline; ended: ${[...exits].map(([why, n]) => `${n} ${why}`).join(', ')}` +
        `${killed > 0 ? `, ${killed} without an end line (killed)` : ''}; shards per worker ${range(perWorker)}; peak RSS ${range(rss)} MB`,
    );
    console.log(
      `done           ${slots.shardsDone}/${slots.shards} shards done, ${slots.shardsFailed} failed; ${slots.progress.done}/${slots.progress.total} slots; ` +
        `${clipsOk} clips ok in ${s(allMs)} (submit -> last slot recorded): ${(clipsOk / (allMs / 1000)).toFixed(1)} clips/s; ` +
        `first slot ${s(slots.firstSlotMs - t0)} after submit, 99 % after ${s(slots.p99SlotMs - t0)}; status --wait returned after ${s(waitedMs)}`,
    );
    console.log(
      `lower bound    ${s(lowerBoundMs)} (3 requests per clip + 1 per empty slot at ${RATE_LIMIT}/s): ${(allMs / lowerBoundMs).toFixed(2)}x the bound; ` +
        `${v1} /v1/ requests; faults ${
          Object.entries(simStats.faults)
            .map(([f, n]) => `${f} ${n}`)
            .join(', ') || 'none'
        }`,
    );
    console.log(
      `tail           99 % of the slots ${s(slots.p99SlotMs - t0)} after submit, the last 1 % ${s(slots.lastSlotMs - slots.p99SlotMs)} more; ` +
        `${slots.hedges} hedges in ${slots.clipRequests} clip requests (at most 5 % of the campaign's: a never-ready job that ` +
        'may not be hedged waits out the 600 s ceiling, which the time scale does not shrink)',
    );
    console.log(
      `scheduler      submit ${submitCalls} + status --wait --slurm ${statusCalls} + workers ${workerQueries} (squeue for the deadline, ${started.length} worker starts) ` +
        `= ${submitCalls + statusCalls + workerQueries} command(s) for ${slots.shards} shards and ${slots.slots} slots`,
    );
    console.log(`  slurmctld    ${list(ctld)}`);
    console.log(`  slurmdbd     ${list(dbd)} (sacct: ${sacctCalls})`);
    const fileProblems = ['missing', 'duplicated', 'differ', 'misplaced', 'extra', 'other'] as const;
    console.log(
      `checked        ${slots.results} slot results for ${slots.slots} planned slots: ${slots.duplicates} recorded twice, ${slots.unrecorded} unrecorded, ${slots.unplanned} unplanned, ` +
        `${slots.counterMismatch} shard counters off; outcomes ${JSON.stringify(slots.outcomes)}; ok vs truth: ${slots.okNotTruth} ok not in truth, ${slots.truthNotOk} truth not ok`,
    );
    console.log(
      `  on disk      ${files.files} clip files for ${files.truth} truth clips: ${fileProblems.map((k) => `${files[k].length} ${k}`).join(', ')}; ` +
        `manifest verify --checksums: ${verified.ok ? 'OK' : `${verified.problems.length} problem(s)`} (${verified.counts.filesChecked} clips hashed)`,
    );
    for (const k of fileProblems) if (files[k].length > 0) console.log(`  ${k}: ${files[k].slice(0, 10).join(' ')}`);
    for (const p of verified.problems.slice(0, 10)) console.log(`  verify: ${p}`);
    if (disturbed)
      console.log(
        `disturbed      ${restarted ? 'slurmctld restarted during the run (RPC counts only since then); ' : ''}` +
          `node CPUs ${cpus} before, ${cpusAfter} after${requeued > 0 ? `; ${requeued} task(s) requeued` : ''}: another scripts/slurm-up.sh ran meanwhile (e.g. npm test elsewhere); the figures are not those of the benchmark`,
      );

    ok =
      slots.shardsDone === slots.shards &&
      slots.duplicates === 0 &&
      slots.unrecorded === 0 &&
      slots.unplanned === 0 &&
      slots.counterMismatch === 0 &&
      slots.okNotTruth === 0 &&
      slots.truthNotOk === 0 &&
      fileProblems.every((k) => files[k].length === 0) &&
      verified.ok;
    const onePerStart = workerQueries === started.length && !restarted;
    console.log(
      `verdict        ${ok ? 'nothing lost, nothing duplicated' : 'FAILED: something lost or duplicated, see above'}; ` +
        (onePerStart
          ? 'one scheduler call per worker (at its start), none per shard or clip'
          : `workers' job queries ${workerQueries} for ${started.length} worker starts: more than one each, or another client asked slurmctld meanwhile`),
    );
    return ok;
  } finally {
    cleaningUp = true;
    if (submitted && !ok) await runCli(['cancel', '--manifest', manifest]).catch(() => undefined);
    await sim?.close();
    if (clusterTouched) {
      if (!(await queueIdle(QUEUE_WAIT_S * 1000, 'restoring the default CPUs')))
        console.log('restoring anyway: jobs left in the queue are requeued');
      try {
        console.log(`cluster        bash scripts/slurm-up.sh (default CPUs again): ${s(await slurmUp(undefined))}`);
      } catch (err) {
        console.error(`bench:slurm: could not restore the cluster: ${(err as Error).message}`);
      }
    }
    if (KEEP) console.log(`kept           ${dir} (manifest ${manifest}, clips ${out}, logs ${path.join(runDir, 'logs')})`);
    else await rm(dir, { recursive: true, force: true });
  }
}

try {
  process.exitCode = (await bench()) ? 0 : 1;
} catch (err) {
  console.error(`bench:slurm: ${(err as Error).message}`);
  process.exitCode = interrupted ? 130 : 1;
}
