import path from 'node:path';
import { UsageError } from '../errors.js';
import { daysOfWindow, parseDay } from './days.js';
import { type Forecast, forecastCampaign } from './forecast.js';
import { API_FLOW_ASSUMPTIONS } from './model.js';
import { parseApiBase, parseNameList, parseOnMiss, parseTokenSource, type TokenSourceInput } from './grammar.js';
import { planShards, windowEndOf } from './shards.js';
import { parseByteSize } from './sizes.js';
import { JOURNAL_MODES, type CampaignSettings, type JournalMode, type ShardSpec } from './types.js';
import { parseHourRange, validateTimeZone } from './window.js';

/**
 * Every default of `fleetclip plan`, keyed like its flags (camelCase). Help texts quote this object.
 * Pacing: the notebook this tool replaces slept 0.2 s between requests of one stream → `minTimeMs` 200.
 */
export const CAMPAIGN_DEFAULTS = {
  tz: 'UTC',
  tokenFile: '~/.config/fleetclip/token', // the API client's default too (src/api/token.ts)
  onMiss: 'probe-all',
  apiRate: 20,
  // a cap, not the operating point: each worker sizes its window to its share of --api-rate (docs/worker.md)
  maxConcurrent: 128,
  // a safety floor per worker that never binds at the default budget: the campaign's --api-rate paces requests
  minTimeMs: 10,
  bucketCap: '10GiB',
  workspaceCap: '20GiB',
  clipSize: '2MB',
  journal: 'delete',
  readyTime: API_FLOW_ASSUMPTIONS.clipSeconds,
  suRate: 2.67,
} as const;

type Scalar = string | number;
/** What `plan` was given, as the CLI parsed it (camelCase flag names); anything unset is undefined. */
export interface CampaignInput extends TokenSourceInput {
  apiBase?: string;
  tokenFile?: string;
  out?: string;
  day?: string;
  days?: Scalar;
  to?: string;
  hours?: string;
  vehicles?: string | readonly string[];
  cameras?: string | readonly string[];
  tz?: string;
  onMiss?: string;
  apiRate?: Scalar;
  maxConcurrent?: Scalar;
  minTimeMs?: Scalar;
  bucketCap?: Scalar;
  workspaceCap?: Scalar;
  clipSize?: Scalar;
  maxClipBytes?: Scalar;
  minDownloadRate?: Scalar;
  journal?: string;
  throughput?: Scalar;
  readyTime?: Scalar;
  suRate?: Scalar;
  shareWithGroup?: boolean;
  insecureHttp?: boolean;
}

/** The world a plan is made in: passed in so that planning stays pure and testable. */
export interface PlanContext {
  nowMs: number;
  /** relative `--out` and `--token-file` are resolved against it */
  cwd: string;
  /**
   * the folder of the manifest: an output root inside it is stored relative to it, so the whole run folder can be
   * moved (or mounted elsewhere) and the manifest still finds its clips
   */
  runDir?: string;
  /** `~` in `--out` and `--token-file` */
  homeDir: string;
}

export interface PlannedCampaign {
  settings: CampaignSettings;
  shards: ShardSpec[];
  forecast: Forecast;
}

const flagOf = (key: string): string => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/** Validates every input, fills defaults, and computes the shards and the forecast. Throws UsageError naming the flag. */
export function planCampaign(input: CampaignInput, context: PlanContext): PlannedCampaign {
  const value = <K extends keyof CampaignInput>(key: K): CampaignInput[K] => {
    const v = input[key];
    if (Array.isArray(v) && key !== 'vehicles' && key !== 'cameras') throw new UsageError(`--${flagOf(key)} was given more than once`);
    return v;
  };
  const required = (key: 'apiBase' | 'out' | 'day'): string => {
    const v = value(key);
    if (v === undefined || v === '') throw new UsageError(`--${flagOf(key)} is required`);
    return v;
  };
  const withDefault = <K extends keyof typeof CAMPAIGN_DEFAULTS>(key: K): NonNullable<CampaignInput[K]> | (typeof CAMPAIGN_DEFAULTS)[K] =>
    value(key) ?? CAMPAIGN_DEFAULTS[key];
  const checkedNumber = (key: string, raw: unknown, check: 'positive' | 'non-negative' | 'positive integer'): number => {
    const n = typeof raw === 'number' ? raw : String(raw).trim() === '' ? NaN : Number(raw);
    const ok = Number.isFinite(n) && (check === 'non-negative' ? n >= 0 : n > 0) && (check !== 'positive integer' || Number.isInteger(n));
    if (!ok) throw new UsageError(`--${flagOf(key)} must be a ${check} number, got '${String(raw)}'`);
    return n;
  };
  const number = (key: keyof typeof CAMPAIGN_DEFAULTS, check: 'positive' | 'non-negative' | 'positive integer'): number =>
    checkedNumber(key, withDefault(key), check);
  const absolutePath = (raw: string): string =>
    path.resolve(context.cwd, raw === '~' ? context.homeDir : raw.startsWith('~/') ? path.join(context.homeDir, raw.slice(2)) : raw);

  const vehicles = parseNameList('vehicle', input.vehicles);
  const cameras = parseNameList('camera', input.cameras);
  const timeZone = validateTimeZone(String(withDefault('tz')));
  const firstDay = parseDay('day', required('day'));
  const to = value('to');
  const daysRaw = value('days');
  const dayCount = daysRaw === undefined ? undefined : Number(daysRaw);
  if (dayCount !== undefined && !(Number.isInteger(dayCount) && dayCount > 0))
    throw new UsageError(`--days must be a positive integer, got '${daysRaw}'`);
  const days = daysOfWindow({ day: firstDay, days: dayCount, to: to === undefined ? undefined : parseDay('to', to) });
  const hoursRaw = value('hours');
  const hours = hoursRaw === undefined ? undefined : parseHourRange(hoursRaw);
  const tokenSource = parseTokenSource(input, absolutePath);

  const bucketCapBytes = parseByteSize('bucket-cap', withDefault('bucketCap'));
  const workspaceCapBytes = parseByteSize('workspace-cap', withDefault('workspaceCap'));
  const clipBytesEstimate = parseByteSize('clip-size', withDefault('clipSize'));
  if (bucketCapBytes > workspaceCapBytes)
    throw new UsageError(`--bucket-cap (${bucketCapBytes} bytes) must not exceed --workspace-cap (${workspaceCapBytes} bytes)`);
  if (clipBytesEstimate > bucketCapBytes)
    throw new UsageError(`--clip-size (${clipBytesEstimate} bytes) must not exceed --bucket-cap (${bucketCapBytes} bytes)`);
  // stored only when given: a campaign without them takes the workers' defaults (50 x --clip-size, 64 KiB/s)
  const maxClipRaw = value('maxClipBytes');
  const maxClipBytes = maxClipRaw === undefined ? undefined : parseByteSize('max-clip-bytes', maxClipRaw);
  if (maxClipBytes !== undefined && maxClipBytes < clipBytesEstimate)
    throw new UsageError(`--max-clip-bytes (${maxClipBytes} bytes) must be at least --clip-size (${clipBytesEstimate} bytes)`);
  const minRateRaw = value('minDownloadRate');
  const minDownloadBytesPerSec = minRateRaw === undefined ? undefined : parseByteSize('min-download-rate', minRateRaw);

  const insecureHttp = input.insecureHttp === true;
  const settings: CampaignSettings = {
    apiBase: parseApiBase(required('apiBase'), { insecureHttp }),
    tokenFile: absolutePath(String(withDefault('tokenFile'))),
    ...(tokenSource && { tokenSource }),
    outDir: storedOutDir(absolutePath(required('out')), context.runDir),
    vehicles,
    cameras,
    days,
    ...(hours && { hours }),
    timeZone,
    onMiss: parseOnMiss(String(withDefault('onMiss'))),
    apiRatePerSec: number('apiRate', 'positive'),
    maxConcurrent: number('maxConcurrent', 'positive integer'),
    minTimeMs: number('minTimeMs', 'non-negative'),
    bucketCapBytes,
    workspaceCapBytes,
    clipBytesEstimate,
    ...(maxClipBytes !== undefined && { maxClipBytes }),
    ...(minDownloadBytesPerSec !== undefined && { minDownloadBytesPerSec }),
    journal: parseJournal(String(withDefault('journal'))),
    ...(input.shareWithGroup === true && { shareWithGroup: true }),
    ...(insecureHttp && { insecureHttp: true }),
  };
  const shards = planShards(settings);
  refuseUnservedWindow(windowEndOf(shards), context.nowMs);
  const throughput = value('throughput');
  const forecast = forecastCampaign(shards, {
    clipBytes: clipBytesEstimate,
    apiRatePerSec: settings.apiRatePerSec,
    maxConcurrent: settings.maxConcurrent,
    clipSeconds: number('readyTime', 'positive'),
    ...(throughput !== undefined && { throughputClipsPerSec: checkedNumber('throughput', throughput, 'positive') }),
    suPerCoreHour: number('suRate', 'non-negative'),
  });
  return { settings, shards, forecast };
}

/** `outDir` relative to the run folder when it lies inside it (`.` for the run folder itself), else absolute. */
function storedOutDir(outDir: string, runDir: string | undefined): string {
  if (runDir === undefined) return outDir;
  const relative = path.relative(runDir, outDir);
  if (relative === '') return '.';
  return relative.startsWith('..') || path.isAbsolute(relative) ? outDir : relative;
}

/** The Batch API serves only past UTC days: the window must end by the start of today, UTC. */
function refuseUnservedWindow(windowEndSeconds: number, nowMs: number): void {
  const todayStartMs = nowMs - (nowMs % 86_400_000);
  if (windowEndSeconds * 1000 > todayStartMs)
    throw new UsageError(
      `the window ends ${new Date(windowEndSeconds * 1000).toISOString()}, after the start of today (${new Date(todayStartMs).toISOString()}): the Batch API serves only past UTC days`,
    );
}

function parseJournal(raw: string): JournalMode {
  const mode = JOURNAL_MODES.find((m) => m === raw);
  if (mode) return mode;
  throw new UsageError(`--journal must be ${JOURNAL_MODES.join(' or ')}, got '${raw}'`);
}
