import { spawn, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import { EXIT, LeaseLostError } from '../errors.js';
import { openManifest, type Claim, type StatusSource } from '../manifest/index.js';
import { onStopSignals } from '../signals.js';
import { ProgressReporter, RateMeter, type ProgressMode, type WorkerMessage } from '../worker/index.js';
import { workerNodeOptions } from './node-options.js';
import type { Executor, LaunchRequest, LaunchResult } from './types.js';

export const EXECUTOR_DEFAULTS = Object.freeze({
  /** replacement workers started for ones that died, at most this many times the worker count */
  restartsPerWorker: 3,
  progressIntervalMs: 30_000,
  progress: 'auto' as ProgressMode,
  /** the last stderr lines of a worker, printed when it dies */
  tailLines: 20,
  /**
   * `run --workers` at most this many per core: a worker is a single-core process of ~150 MB that already keeps up to
   * its window of clips in flight, and the request budget is campaign-wide, so more only contend for CPU and memory
   * (and a typo such as 1000 would start a thousand processes)
   */
  maxWorkersPerCore: 4,
});

/** Exit codes after which a replacement would only meet the same wall: the whole run stops claiming. */
const TERMINAL_CODES: readonly number[] = [EXIT.authExpired, EXIT.storage, EXIT.manifest, EXIT.usage, EXIT.tokenSource];

/** How the local executor starts and watches its workers. */
export interface LocalExecutorOptions {
  /** how to start one worker: `node <cliPath> work --manifest … <workerArgs>` */
  cliPath: string;
  progress: ProgressMode;
  progressIntervalMs: number;
  restartsPerWorker: number;
}

export interface LocalRunResult extends LaunchResult {
  started: number;
  restarted: number;
  /** the interrupting signal, if any */
  signal?: string;
}

/** The local executor: N `fleetclip work` children on this machine, supervised until no work is left. */
export function localExecutor(
  opts: LocalExecutorOptions,
  io: { stderr: { write(text: string): unknown; isTTY?: boolean } },
): Executor<LocalRunResult> {
  return { kind: 'local', launch: (request) => runLocalWorkers({ ...opts, ...request }, io) };
}

/** What a dead worker's exit says about the run: whether to replace it, and the run's exit code from it. */
export function judgeWorkerExit(code: number | null, signal: NodeJS.Signals | null): { replace: boolean; runCode?: number } {
  if (signal !== null || code === null) return { replace: true };
  if (code === EXIT.ok) return { replace: false };
  if (code === EXIT.someFailed) return { replace: false, runCode: EXIT.someFailed };
  if (code === EXIT.interrupted) return { replace: false, runCode: EXIT.interrupted };
  if (TERMINAL_CODES.includes(code)) return { replace: false, runCode: code };
  return { replace: true }; // a crash (70), out of memory (134), killed (137)
}

interface Worker {
  child: ChildProcess;
  name: string;
  /** the shards it holds now, by id (a worker runs a few at once) */
  claims: Map<number, Claim>;
  tail: string[];
}

function hasWorkLeft(manifest: StatusSource): boolean {
  return manifest.progress().shards.claimable > 0;
}

/**
 * `fleetclip run`: N `fleetclip work` children on this machine, supervised. A worker that dies has its shard released
 * at once (its claim came over IPC, so no lease has to expire) and a replacement is started while work is left. The
 * first SIGINT/SIGTERM is forwarded once to every worker (graceful), a second one again (workers then stop at once).
 */
async function runLocalWorkers(
  opts: LocalExecutorOptions & LaunchRequest,
  io: { stderr: { write(text: string): unknown; isTTY?: boolean } },
): Promise<LocalRunResult> {
  const manifest = openManifest(opts.manifestPath);
  const workers = new Set<Worker>();
  const maxRestarts = opts.workers * opts.restartsPerWorker;
  let started = 0;
  let restarted = 0;
  let serial = 0;
  let stopSignal: string | undefined;
  let terminal: number | undefined;
  const codes: number[] = [];
  const meter = new RateMeter();
  const startedMs = Date.now();
  let lastDone: number | undefined;
  const reporter = new ProgressReporter(io.stderr, opts.progress, opts.progressIntervalMs, () => {
    const { slots } = manifest.progress();
    meter.add(slots.done - (lastDone ?? slots.done), Date.now());
    lastDone = slots.done;
    return {
      done: slots.done,
      total: slots.total,
      ok: slots.ok,
      rate: meter.perSecond(Date.now(), startedMs),
      note: `${workers.size} worker(s)`,
    };
  });
  const say = (line: string): void => {
    reporter.clear();
    io.stderr.write(`${line}\n`);
  };

  let allDone: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => (allDone = resolve));

  const startWorker = (): void => {
    serial++;
    const child = spawn(
      process.execPath,
      [opts.cliPath, 'work', '--manifest', opts.manifestPath, '--progress', 'off', ...opts.workerArgs],
      {
        stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
        env: { ...process.env, NODE_OPTIONS: workerNodeOptions(process.env.NODE_OPTIONS) },
        detached: true, // its own process group: a terminal's Ctrl-C reaches the workers once, through us
      },
    );
    const w: Worker = { child, name: `w${serial}/${child.pid}`, tail: [], claims: new Map() };
    workers.add(w);
    started++;
    let partial = '';
    child.stderr!.setEncoding('utf8').on('data', (text: string) => {
      const lines = (partial + text).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        w.tail.push(line);
        if (w.tail.length > EXECUTOR_DEFAULTS.tailLines) w.tail.shift();
        if (/^\S* ?(warn|error) /.test(line)) say(`[${w.name}] ${line}`);
      }
    });
    child.on('error', (err) => say(`worker ${w.name}: ${err.message}`)); // an unhandled 'error' event would crash run
    child.on('message', (m: WorkerMessage) => {
      if (m.type === 'claim') w.claims.set(m.claim.shardId, m.claim);
      else if (m.type === 'end') w.claims.delete(m.shardId);
    });
    child.on('exit', (code, signal) => {
      workers.delete(w);
      if (code !== null) codes.push(code);
      const verdict = judgeWorkerExit(code, signal);
      for (const claim of w.claims.values()) {
        try {
          manifest.releaseShard(claim, `worker ${w.name} died (${signal ?? `exit ${code}`})`);
          say(`worker ${w.name} died (${signal ?? `exit ${code}`}); shard ${claim.shardId} released`);
        } catch (err) {
          // inside an event handler a throw would crash the supervisor and orphan the other (detached) workers;
          // the shard's lease expires on its own and another worker takes it over
          if (!(err instanceof LeaseLostError))
            say(
              `worker ${w.name} died; its shard ${claim.shardId} could not be released (${err instanceof Error ? err.message : String(err)}): it is taken over when its lease expires`,
            );
        }
      }
      if (verdict.replace) {
        say(`worker ${w.name} ended abnormally (${signal ?? `exit ${code}`}); last lines:\n  ${w.tail.join('\n  ')}`);
      }
      if (verdict.runCode !== undefined && TERMINAL_CODES.includes(verdict.runCode)) terminal ??= verdict.runCode;
      if (verdict.replace && stopSignal === undefined && terminal === undefined && restarted < maxRestarts && hasWorkLeft(manifest)) {
        restarted++;
        startWorker();
      }
      if (workers.size === 0) allDone();
    });
  };

  const forward = (signal: string): void => {
    stopSignal ??= signal;
    say(`${signal}: asking ${workers.size} worker(s) to stop (again to stop at once)`);
    for (const w of workers) w.child.kill('SIGTERM');
  };
  const stopListening = onStopSignals(forward);
  try {
    for (let i = 0; i < opts.workers; i++) startWorker();
    reporter.start();
    await finished;
  } finally {
    stopListening();
    reporter.stop();
  }

  const failedShards = manifest.progress().shards.failed;
  const left = hasWorkLeft(manifest);
  manifest.close();
  const exitCode =
    terminal ??
    (stopSignal !== undefined ? EXIT.interrupted : failedShards > 0 || codes.includes(EXIT.someFailed) || left ? EXIT.someFailed : EXIT.ok);
  const summary =
    stopSignal !== undefined
      ? `stopped by ${stopSignal}; shards in progress were released`
      : terminal !== undefined
        ? `workers stopped with exit ${terminal} (see docs/exit-codes.md and their logs)`
        : left
          ? `work left but workers kept dying (${restarted} replacements); see <run>/logs/`
          : failedShards > 0
            ? `${failedShards} shard(s) failed; \`fleetclip status --failed\` lists them`
            : 'every shard done';
  return { exitCode, summary, started, restarted, ...(stopSignal ? { signal: stopSignal } : {}) };
}

export function defaultWorkerCount(): number {
  return os.availableParallelism();
}

export function maxWorkerCount(): number {
  return EXECUTOR_DEFAULTS.maxWorkersPerCore * os.availableParallelism();
}
