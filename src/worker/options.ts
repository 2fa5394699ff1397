import os from 'node:os';
import path from 'node:path';
import { UsageError } from '../errors.js';
import type { WorkerIdentity } from '../manifest/index.js';
import type { MissStrategy } from '../plan/types.js';

export type ProgressMode = 'auto' | 'bar' | 'lines' | 'off';
export const PROGRESS_MODES: readonly ProgressMode[] = ['auto', 'bar', 'lines', 'off'];
export const LOG_LEVELS = ['error', 'warn', 'info', 'debug'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Everything `fleetclip work` can be told. Pacing and strategy default to the campaign's settings in the manifest. */
export interface WorkerOptions {
  manifestPath: string;
  /** who this worker is in the manifest and its logs; its executor says (local-<host>-<pid> by default) */
  identity: WorkerIdentity;
  /** a claimed shard's lease; renewed every heartbeatMs */
  leaseMs: number;
  heartbeatMs: number;
  /** after a stop signal: how long in-flight downloads may take before they are abandoned */
  graceMs: number;
  /** without a TTY: one progress line this often */
  progressIntervalMs: number;
  progress: ProgressMode;
  /** slot outcomes go to the manifest at least this often, or sooner when flushBatch are waiting */
  flushIntervalMs: number;
  flushBatch: number;
  /** each draw from the campaign-wide request budget asks for this many seconds' worth of requests */
  allowanceSeconds: number;
  /** no shard is claimed unless (typical shard duration + this margin) fits before the deadline */
  deadlineMarginMs: number;
  /** a download needs this much free disk beyond the clip itself */
  minFreeBytes: number;
  /** a clip requested by an earlier attempt is polled, not requested again, if it was requested this recently */
  requestReuseMs: number;
  /**
   * shards run at once, at most, counted in slots (this many full shards' worth: a sample's small shards count for
   * their slots): a new one starts once every slot of the others is under way and the window has room
   */
  maxShards: number;
  /** epoch ms: claim no shard that cannot finish before it (from --deadline, else from the executor) */
  deadlineMs?: number;
  /** overrides of the campaign settings */
  maxConcurrent?: number;
  minTimeMs?: number;
  onMiss?: MissStrategy;
  logLevel: LogLevel;
}

/** `deadline` (the `--deadline` text) wins over `deadlineMs` (what the executor knows). */
export type WorkerOptionsInput = Partial<WorkerOptions> & Pick<WorkerOptions, 'manifestPath'> & { deadline?: string };

export const WORKER_DEFAULTS = Object.freeze({
  leaseMs: 120_000,
  heartbeatMs: 30_000,
  graceMs: 20_000,
  progressIntervalMs: 30_000,
  progress: 'auto',
  flushIntervalMs: 2_000,
  flushBatch: 50,
  allowanceSeconds: 2,
  deadlineMarginMs: 60_000,
  minFreeBytes: 256 * 1024 * 1024,
  requestReuseMs: 30 * 60_000,
  maxShards: 3,
  logLevel: 'info',
} as const satisfies Partial<WorkerOptions>);

function withoutUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** A worker started by hand or by the local executor: `local-<host>-<pid>` unless named. */
export function localIdentity(workerId?: string): WorkerIdentity {
  const host = os.hostname();
  return { workerId: workerId ?? `local-${host}-${process.pid}`, host, pid: process.pid };
}

/** `--deadline`: an ISO instant (with a zone, or local time), or `+DURATION` from now (`+90m`, `+2h`, `+3600s`). */
export function parseDeadline(text: string, nowMs: number): number {
  const relative = /^\+(\d+(?:\.\d+)?)([smh])$/.exec(text.trim());
  if (relative) return nowMs + Number(relative[1]) * { s: 1_000, m: 60_000, h: 3_600_000 }[relative[2] as 's' | 'm' | 'h'];
  const ms = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/.test(text) ? Date.parse(text) : NaN;
  if (!Number.isFinite(ms)) throw new UsageError(`--deadline "${text}": expected an ISO time (2026-06-15T18:00:00Z) or +DURATION (+90m)`);
  return ms;
}

/** Defaults, then one check per option; nothing downstream checks an option again. */
export function normalizeWorkerOptions(
  input: WorkerOptionsInput,
  { nowMs = Date.now() }: { nowMs?: number } = {},
): Readonly<WorkerOptions> {
  const { deadline, ...rest } = withoutUndefined(input) as WorkerOptionsInput;
  const o = { ...WORKER_DEFAULTS, ...rest };
  for (const key of [
    'leaseMs',
    'heartbeatMs',
    'progressIntervalMs',
    'flushIntervalMs',
    'flushBatch',
    'allowanceSeconds',
    'maxShards',
  ] as const)
    if (!(Number.isFinite(o[key]) && o[key] > 0)) throw new UsageError(`${key} must be a positive number, got ${o[key]}`);
  for (const key of ['graceMs', 'deadlineMarginMs', 'minFreeBytes', 'requestReuseMs'] as const)
    if (!(Number.isFinite(o[key]) && o[key] >= 0)) throw new UsageError(`${key} must be a number >= 0, got ${o[key]}`);
  if (o.heartbeatMs * 2 > o.leaseMs)
    throw new UsageError(`the heartbeat (${o.heartbeatMs} ms) must be at most half the lease (${o.leaseMs} ms)`);
  if (o.maxConcurrent !== undefined && !(Number.isInteger(o.maxConcurrent) && o.maxConcurrent >= 1))
    throw new UsageError(`--max-concurrent must be an integer >= 1, got ${o.maxConcurrent}`);
  if (o.minTimeMs !== undefined && !(Number.isFinite(o.minTimeMs) && o.minTimeMs >= 0))
    throw new UsageError(`--min-time must be a number of milliseconds >= 0, got ${o.minTimeMs}`);
  if (!PROGRESS_MODES.includes(o.progress))
    throw new UsageError(`--progress must be one of ${PROGRESS_MODES.join(', ')}, got ${o.progress}`);
  if (!(LOG_LEVELS as readonly string[]).includes(o.logLevel))
    throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(', ')}, got ${o.logLevel}`);
  if (!o.manifestPath) throw new UsageError('--manifest is required');
  const identity = o.identity ?? localIdentity();
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(identity.workerId))
    throw new UsageError(`--worker-id "${identity.workerId}": letters, digits, . _ - only`);
  return Object.freeze({
    ...o,
    identity,
    manifestPath: path.resolve(o.manifestPath),
    ...(deadline !== undefined ? { deadlineMs: parseDeadline(deadline, nowMs) } : {}),
  });
}
