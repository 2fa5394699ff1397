import { chmod, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { assertTokenSourceFiles, inspectToken, openTokenSource } from '../api/index.js';
import { TokenSourceError, UsageError } from '../errors.js';
import { type FileModes, fileModesOf, makeDir } from '../file-modes.js';
import { openManifest, type Manifest, type SlurmSubmission } from '../manifest/index.js';
import { campaignApiBase } from '../plan/grammar.js';
import {
  arraySpec,
  checkTimeLimit,
  isFinalState,
  loadProfile,
  parseTimeLimit,
  renderArrayScript,
  splitArray,
  type SlurmClient,
  type SlurmProfile,
  type SlurmState,
  type TaskState,
} from '../slurm/index.js';
import { workerNodeOptions } from './node-options.js';
import type { Executor, LaunchResult } from './types.js';

/** What `submit` (and `resubmit`, for the array it submits) is told; everything but the manifest has a default. */
export interface SubmitOptions {
  /** a cluster profile in slurm/profiles/ (partition, QoS, limits, setup lines) */
  profile: string;
  account?: string;
  qos?: string;
  partition?: string;
  /** `--time` of each array task */
  time?: string;
  mem?: string;
  /** array tasks: workers running at once, at most; default: what fills the campaign's budget, at least 2 */
  workers?: number;
  /** `%K` of `--array`: tasks running at once */
  maxRunning?: number;
  /** lines run before the worker starts (`module load …`), after the profile's */
  setup?: string[];
  /** also submit a small job, after the array, that resubmits what is left (N times) */
  autoResubmit?: number;
  /** submit even when the token expires before `--time` would end */
  allowTokenExpiry?: boolean;
  /** flags every worker gets after `work --manifest …` */
  workerArgs?: string[];
}

export const SUBMIT_DEFAULTS = Object.freeze({
  profile: 'savio3_htc',
  minWorkers: 2,
  autoResubmit: 0,
  /** the healing job: one core for a few minutes */
  healTime: '00:15:00',
  healMem: '512M',
  /** a shard is resubmitted at most this many times over (its claims), then it fails for good */
  maxAttempts: 5,
});

export interface SlurmDeps {
  slurm: SlurmClient;
  /** argv that runs this fleetclip (node and the CLI's absolute path) */
  fleetclip: string[];
  nowMs?: number;
}

export interface PlannedScript {
  path: string;
  text: string;
  /** the sbatch command that submits it */
  command: string[];
  kind: 'workers' | 'heal';
  arrayRange: string;
}

export interface SubmitResult extends LaunchResult {
  dryRun: boolean;
  scripts: PlannedScript[];
  submissions: SlurmSubmission[];
  /** array tasks asked for */
  tasks: number;
  summary: string;
  schedulerCalls: number;
}

/** The profile with the flags applied, checked: an account where the profile needs one, a time within its ceiling. */
function profileOf(opts: SubmitOptions): SlurmProfile & { timeSeconds: number } {
  const profile = loadProfile(opts.profile, {
    ...(opts.partition !== undefined && { partition: opts.partition }),
    ...(opts.qos !== undefined && { qos: opts.qos }),
    ...(opts.account !== undefined && { account: opts.account }),
    ...(opts.time !== undefined && { timeLimit: opts.time }),
    ...(opts.mem !== undefined && { mem: opts.mem }),
  });
  if (profile.accountRequired && !profile.account)
    throw new UsageError(
      `--account is required on ${profile.name} (your Savio project, e.g. fc_myproject; \`sacctmgr -p show associations user=$USER\` lists yours)`,
    );
  checkTimeLimit(profile, profile.timeLimit);
  return { ...profile, timeSeconds: parseTimeLimit(profile.timeLimit)! };
}

/**
 * Refuses (one line) a token that expires before the tasks' time limit would end, unless asked not to. A campaign with a
 * token source renews its token: then only its files are checked (owner-only) and a refused source is refused here too.
 */
async function checkTokenOutlives(manifest: Manifest, timeSeconds: number, nowMs: number, allow: boolean): Promise<void> {
  const { tokenFile, tokenSource } = manifest.settings();
  if (tokenSource) {
    await assertTokenSourceFiles(tokenSource, tokenFile);
    const renewal = manifest.tokenRenewal();
    if (renewal.refused)
      throw new TokenSourceError(
        `the campaign's token source refused: ${renewal.lastError}; fix it, then run \`fleetclip token --renew --manifest ${manifest.path}\``,
        false,
      );
    return;
  }
  if (allow) return;
  const report = await inspectToken(openTokenSource({ tokenFile, env: {} }), nowMs);
  if (report.expiresAtSec === undefined) return;
  const endsAtSec = nowMs / 1000 + timeSeconds;
  if (report.expiresAtSec < endsAtSec)
    throw new UsageError(
      `the token in ${tokenFile} expires ${new Date(report.expiresAtSec * 1000).toISOString()}, before a task's time limit would end (${new Date(endsAtSec * 1000).toISOString()}): ` +
        'put a fresh token in it, ask for less --time, or pass --allow-token-expiry (workers pick up a renewed token file)',
    );
}

/** The flags that make a `submit` again, for the healing job and for `resubmit`. */
function submitFlags(opts: SubmitOptions): string[] {
  const flags: string[] = ['--profile', opts.profile];
  const add = (flag: string, v: string | number | undefined) => v !== undefined && flags.push(flag, String(v));
  add('--account', opts.account);
  add('--qos', opts.qos);
  add('--partition', opts.partition);
  add('--time', opts.time);
  add('--mem', opts.mem);
  add('--workers', opts.workers);
  add('--max-running', opts.maxRunning);
  for (const line of opts.setup ?? []) flags.push('--setup', line);
  if (opts.allowTokenExpiry) flags.push('--allow-token-expiry');
  for (const arg of opts.workerArgs ?? []) flags.push(`--worker-arg=${arg}`);
  return flags;
}

/** A batch script, executable by whoever may read it: the campaign's folder mode without setgid (0700, or 0770 shared). */
async function writeScript(file: string, text: string, modes: Readonly<FileModes>): Promise<void> {
  await writeFile(file, text);
  await chmod(file, modes.dir & 0o777);
}

/** Writes the scripts into `<run>/slurm/` and, unless a dry run, submits them (the healing job after the arrays). */
async function submitScripts(
  manifest: Manifest,
  opts: SubmitOptions,
  tasks: number,
  deps: SlurmDeps,
  dryRun: boolean,
): Promise<{ scripts: PlannedScript[]; submissions: SlurmSubmission[] }> {
  const nowMs = deps.nowMs ?? Date.now();
  const profile = profileOf(opts);
  const settings = manifest.settings();
  campaignApiBase(settings, manifest.path); // the tasks would each refuse it
  const modes = fileModesOf(settings);
  await checkTokenOutlives(manifest, profile.timeSeconds, nowMs, opts.allowTokenExpiry ?? false);
  const runDir = path.dirname(manifest.path);
  const slurmDir = path.join(runDir, 'slurm');
  const logsDir = path.join(runDir, 'logs');
  const stamp = new Date(nowMs)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  const jobName = `fleetclip-${path.basename(runDir)}`.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 64);
  const ranges = splitArray(tasks, await deps.slurm.maxArraySize());
  const scripts: PlannedScript[] = ranges.map((range, i) => {
    const file = path.join(slurmDir, `workers-${stamp}${ranges.length > 1 ? `-${i + 1}` : ''}.sh`);
    const array = arraySpec(range, opts.maxRunning);
    const text = renderArrayScript({
      profile: { ...profile, setup: [...profile.setup, ...(opts.setup ?? [])] },
      jobName,
      manifestPath: manifest.path,
      logsDir,
      array,
      timeLimit: profile.timeLimit,
      ...(profile.mem !== undefined && { mem: profile.mem }),
      ...(profile.account !== undefined && { account: profile.account }),
      fleetclip: deps.fleetclip,
      workerArgs: opts.workerArgs ?? [],
      nodeOptions: workerNodeOptions(undefined),
    });
    return { path: file, text, command: ['sbatch', '--parsable', file], kind: 'workers', arrayRange: array };
  });
  const submissions: SlurmSubmission[] = [];
  const record = (s: PlannedScript, jobId: string): void => {
    const submission: SlurmSubmission = {
      jobId,
      arrayRange: s.arrayRange,
      atMs: Date.now(),
      kind: s.kind,
      script: path.relative(runDir, s.path),
      options: { ...opts },
    };
    manifest.recordSubmission(submission);
    submissions.push(submission);
  };
  await makeDir(slurmDir, modes);
  await makeDir(logsDir, modes);
  const arrayIds: string[] = [];
  for (const s of scripts) {
    await writeScript(s.path, s.text, modes);
    if (dryRun) continue;
    const jobId = await deps.slurm.submit(s.path);
    arrayIds.push(jobId);
    record(s, jobId);
  }
  const heals = opts.autoResubmit ?? SUBMIT_DEFAULTS.autoResubmit;
  if (heals > 0) {
    const file = path.join(slurmDir, `heal-${stamp}.sh`);
    const dependency = `afterany:${dryRun ? 'ARRAY_JOB_ID' : arrayIds.join(':')}`;
    const text = renderArrayScript({
      profile: { ...profile, setup: [...profile.setup, ...(opts.setup ?? [])] },
      jobName: `${jobName}-heal`,
      manifestPath: manifest.path,
      logsDir,
      array: '',
      timeLimit: SUBMIT_DEFAULTS.healTime,
      mem: SUBMIT_DEFAULTS.healMem,
      ...(profile.account !== undefined && { account: profile.account }),
      fleetclip: deps.fleetclip,
      workerArgs: [],
      dependency,
      command: ['resubmit', '--manifest', manifest.path, '--auto-resubmit', String(heals - 1), ...submitFlags(opts)],
    });
    const heal: PlannedScript = { path: file, text, command: ['sbatch', '--parsable', file], kind: 'heal', arrayRange: '' };
    scripts.push(heal);
    await writeScript(file, text, modes);
    if (!dryRun) record(heal, await deps.slurm.submit(file));
  }
  return { scripts, submissions };
}

/**
 * Array tasks by default: two. One worker's window fills the campaign's default budget by itself (docs/worker.md); the
 * second keeps the campaign going when one task is preempted or times out. Never more tasks than shards left.
 */
function defaultWorkers(claimable: number, requested: number | undefined): number {
  return Math.max(1, Math.min(claimable, requested ?? SUBMIT_DEFAULTS.minWorkers));
}

/** `fleetclip submit`: an array of workers for what is left of the campaign (and the healing job, if asked). */
export async function submitCampaign(manifestPath: string, opts: SubmitOptions, deps: SlurmDeps, dryRun = false): Promise<SubmitResult> {
  const manifest = openManifest(manifestPath);
  try {
    const claimable = manifest.progress(deps.nowMs).shards.claimable;
    if (claimable === 0)
      return {
        exitCode: 0,
        dryRun,
        scripts: [],
        submissions: [],
        tasks: 0,
        summary: 'nothing to submit: no shard is pending',
        schedulerCalls: deps.slurm.calls,
      };
    const tasks = defaultWorkers(claimable, opts.workers);
    const { scripts, submissions } = await submitScripts(manifest, opts, tasks, deps, dryRun);
    const ids = submissions.map((s) => `${s.jobId}${s.kind === 'heal' ? ' (heal)' : ''}`).join(', ');
    const summary = dryRun
      ? `dry run: ${scripts.length} script(s) written, nothing submitted`
      : `submitted ${tasks} array task(s) for ${claimable} shard(s) left: job ${ids}`;
    return { exitCode: 0, dryRun, scripts, submissions, tasks, summary, schedulerCalls: deps.slurm.calls };
  } finally {
    manifest.close();
  }
}

/** The Slurm executor: `launch` submits the workers as an array job and returns once they are queued. */
export function slurmExecutor(opts: SubmitOptions, deps: SlurmDeps): Executor<SubmitResult> {
  return {
    kind: 'slurm',
    launch: (request) =>
      submitCampaign(request.manifestPath, { ...opts, workers: request.workers, workerArgs: [...request.workerArgs] }, deps),
  };
}

export interface ReconcileReport {
  /** running shards released because their Slurm task ended, by the scheduler's reason */
  released: { shardId: number; reason: string }[];
  /** where the scheduler's view came from */
  source?: 'sacct' | 'squeue';
}

/**
 * Shards still `running` whose Slurm task is no longer alive are released, with the scheduler's reason (TIMEOUT,
 * NODE_FAIL, OUT_OF_MEMORY, CANCELLED, …): one scheduler query for all of the campaign's jobs. A task the scheduler no
 * longer knows (purged, or a cluster without accounting that forgot it) is judged by its lease instead.
 */
export async function reconcileCampaign(manifest: Manifest, slurm: SlurmClient, nowMs = Date.now()): Promise<ReconcileReport> {
  const running = manifest.runningClaims().filter((c) => c.owner.slurmJobId !== undefined);
  if (running.length === 0) return { released: [] };
  const jobIds = [...new Set(running.map((c) => c.owner.slurmJobId!))];
  const { source, tasks } = await slurm.taskStates(jobIds);
  const byTask = new Map(tasks.map((t) => [`${t.arrayJobId}_${t.taskId ?? ''}`, t]));
  const released: ReconcileReport['released'] = [];
  for (const claim of running) {
    const task = byTask.get(`${claim.owner.slurmJobId}_${claim.owner.slurmArrayTaskId ?? ''}`);
    const reason = task
      ? isFinalState(task.state)
        ? reasonOf(task)
        : undefined
      : claim.leaseUntilMs < nowMs
        ? 'slurm: task unknown, lease expired'
        : undefined;
    if (reason === undefined) continue;
    try {
      manifest.releaseShard(claim, reason);
      released.push({ shardId: claim.shardId, reason });
    } catch {
      // the shard moved on meanwhile (its worker finished it, or another took it over): nothing to release
    }
  }
  return { released, source };
}

function reasonOf(task: TaskState): string {
  return `slurm ${task.state}${task.cancelledBy !== undefined ? ` by ${task.cancelledBy}` : ''}${task.exitCode ? ` (exit ${task.exitCode})` : ''}`;
}

export interface ResubmitOptions extends Partial<SubmitOptions> {
  /** resubmit only shards of these vehicles / these hours (UTC ISO or epoch s) */
  only?: { vehicles?: string[]; hourStarts?: number[] };
  maxAttempts?: number;
}

export interface ResubmitResult extends SubmitResult {
  reconciled: ReconcileReport;
  /** failed shards queued again */
  reset: number;
  /** failed shards left failed: tried `maxAttempts` times */
  gaveUp: number[];
}

/**
 * `fleetclip resubmit`: reconcile with the scheduler, queue failed shards again (those tried fewer than `maxAttempts`
 * times; their ok and missing slots are kept), and submit an array sized to what is left, with the options of the last
 * submission unless told otherwise. Nothing left: "nothing to resubmit".
 */
export async function resubmitCampaign(
  manifestPath: string,
  opts: ResubmitOptions,
  deps: SlurmDeps,
  dryRun = false,
): Promise<ResubmitResult> {
  const manifest = openManifest(manifestPath);
  try {
    const nowMs = deps.nowMs ?? Date.now();
    const reconciled = dryRun ? { released: [] } : await reconcileCampaign(manifest, deps.slurm, nowMs);
    const maxAttempts = opts.maxAttempts ?? SUBMIT_DEFAULTS.maxAttempts;
    const selected = (r: { vehicle: string; hourStart: number }) =>
      (opts.only?.vehicles === undefined || opts.only.vehicles.includes(r.vehicle)) &&
      (opts.only?.hourStarts === undefined || opts.only.hourStarts.includes(r.hourStart));
    const failed = manifest.shardRows().filter((r) => r.state === 'failed' && selected(r));
    const again = failed.filter((r) => r.attempts < maxAttempts).map((r) => r.id);
    const gaveUp = failed.filter((r) => r.attempts >= maxAttempts).map((r) => r.id);
    const reset = dryRun ? again.length : manifest.resetShards(again, { keepAttempts: true });
    const progress = manifest.progress(nowMs);
    const left = dryRun ? progress.shards.claimable + again.length : progress.shards.claimable;
    const base = { exitCode: 0, reconciled, reset, gaveUp, dryRun };
    if (left === 0) {
      const running = manifest.runningClaims().length;
      const summary =
        running > 0
          ? `nothing to resubmit: ${running} shard(s) still running`
          : 'nothing to resubmit: every shard is done or failed for good';
      return { ...base, scripts: [], submissions: [], tasks: 0, summary, schedulerCalls: deps.slurm.calls };
    }
    const last = [...manifest.submissions()].reverse().find((s) => s.kind !== 'heal')?.options as Partial<SubmitOptions> | undefined;
    const { only: _only, maxAttempts: _max, ...overrides } = opts;
    const merged: SubmitOptions = { profile: SUBMIT_DEFAULTS.profile, ...last, ...withoutUndefined(overrides) };
    const tasks = defaultWorkers(left, merged.workers);
    const { scripts, submissions } = await submitScripts(manifest, merged, tasks, deps, dryRun);
    const released = reconciled.released.length > 0 ? `; released ${reconciled.released.length} shard(s) of ended tasks` : '';
    const summary = dryRun
      ? `dry run: would queue ${reset} failed shard(s) again and submit ${tasks} task(s) for ${left} shard(s)`
      : `resubmitted ${tasks} array task(s) for ${left} shard(s) (${reset} failed shard(s) queued again${released}): job ${submissions.map((s) => s.jobId).join(', ')}`;
    return { ...base, scripts, submissions, tasks, summary, schedulerCalls: deps.slurm.calls };
  } finally {
    manifest.close();
  }
}

export interface CancelResult {
  cancelled: string[];
  released: number;
  summary: string;
  schedulerCalls: number;
}

/** `fleetclip cancel`: scancel every job of the campaign (one call), then release the shards their tasks held. */
export async function cancelCampaign(manifestPath: string, deps: SlurmDeps): Promise<CancelResult> {
  const manifest = openManifest(manifestPath);
  try {
    const jobIds = [...new Set(manifest.submissions().map((s) => s.jobId))];
    if (jobIds.length === 0)
      return { cancelled: [], released: 0, summary: 'nothing to cancel: nothing was submitted', schedulerCalls: deps.slurm.calls };
    await deps.slurm.cancel(jobIds);
    let released = 0;
    for (const claim of manifest.runningClaims()) {
      if (claim.owner.slurmJobId === undefined || !jobIds.includes(claim.owner.slurmJobId)) continue;
      try {
        manifest.releaseShard(claim, 'slurm CANCELLED (fleetclip cancel)');
        released++;
      } catch {
        // already ended by its worker on the way out (SIGTERM releases the shard itself)
      }
    }
    return {
      cancelled: jobIds,
      released,
      summary: `cancelled job(s) ${jobIds.join(', ')}; ${released} running shard(s) released`,
      schedulerCalls: deps.slurm.calls,
    };
  } finally {
    manifest.close();
  }
}

/** Per submission: its tasks by scheduler state (what `status --slurm` shows). */
export interface SubmissionView {
  jobId: string;
  kind: 'workers' | 'heal';
  arrayRange: string;
  submittedAt: string;
  tasks: Record<string, number>;
}

export async function slurmView(
  manifest: Pick<Manifest, 'submissions'>,
  slurm: SlurmClient,
): Promise<{ source?: string; submissions: SubmissionView[] }> {
  const subs = manifest.submissions();
  if (subs.length === 0) return { submissions: [] };
  const { source, tasks } = await slurm.taskStates(subs.map((s) => s.jobId));
  return {
    source,
    submissions: subs.map((s) => {
      const counts: Record<string, number> = {};
      for (const t of tasks) if (t.arrayJobId === s.jobId) counts[t.state] = (counts[t.state] ?? 0) + 1;
      return {
        jobId: s.jobId,
        kind: s.kind ?? 'workers',
        arrayRange: s.arrayRange,
        submittedAt: new Date(s.atMs).toISOString(),
        tasks: counts,
      };
    }),
  };
}

/** Tasks the scheduler may still run or is running (pending, running, suspended, completing, requeued), over a view. */
export function liveTaskCount(view: { submissions: SubmissionView[] }): number {
  return view.submissions.reduce(
    (n, s) => n + Object.entries(s.tasks).reduce((m, [state, count]) => m + (isFinalState(state as SlurmState) ? 0 : count), 0),
    0,
  );
}

function withoutUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
