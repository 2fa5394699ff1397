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

/** The window flags `plan` and `scan` share: which vehicles and cameras, which days in which time zone, which hours. */
export interface WindowInput {
  day?: string;
  days?: Scalar;
  to?: string;
  hours?: string;
  vehicles?: string | readonly string[];
  cameras?: string | readonly string[];
  tz?: string;
}

/** The settings flags `plan` and `sample` share: where clips go, how the API is asked, the caps; and the forecast's flags. */
export interface CampaignSettingsInput extends TokenSourceInput {
  apiBase?: string;
  tokenFile?: string;
  out?: string;
  vehicles?: string | readonly string[];
  cameras?: string | readonly string[];
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

/** What `plan` was given, as the CLI parsed it (camelCase flag names); anything unset is undefined. */
export interface CampaignInput extends WindowInput, CampaignSettingsInput {
  onMiss?: string;
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

/** A window of vehicles, cameras, days and hours, checked, with its shards. */
export interface PlannedWindow extends Pick<CampaignSettings, 'vehicles' | 'cameras' | 'days' | 'hours' | 'timeZone'> {
  shards: ShardSpec[];
}

/** `apiRate` → `--api-rate`: the flag a camelCase input key came from. */
export const flagOf = (key: string): string => `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

export type NumberCheck = 'positive' | 'non-negative' | 'positive integer' | 'non-negative integer';

/**
 * Reads one command's flags (camelCase keys): each at most once (yargs collects a repeated flag into an array; only
 * the name lists may repeat), defaults from CAMPAIGN_DEFAULTS, numbers checked, paths resolved. Errors name the flag.
 */
export class FlagReader {
  constructor(
    readonly input: object,
    private readonly context: Pick<PlanContext, 'cwd' | 'homeDir'>,
  ) {}

  value(key: string): string | number | undefined {
    const v = (this.input as Record<string, unknown>)[key];
    if (Array.isArray(v)) throw new UsageError(`${flagOf(key)} was given more than once`);
    return v as string | number | undefined;
  }

  names(key: 'vehicles' | 'cameras'): string[] {
    return parseNameList(key === 'vehicles' ? 'vehicle' : 'camera', (this.input as CampaignInput)[key]);
  }

  required(key: string): string {
    const v = this.value(key);
    if (v === undefined || v === '') throw new UsageError(`${flagOf(key)} is required`);
    return String(v);
  }

  withDefault<K extends keyof typeof CAMPAIGN_DEFAULTS>(key: K): string | number {
    return this.value(key) ?? CAMPAIGN_DEFAULTS[key];
  }

  checkedNumber(key: string, raw: unknown, check: NumberCheck): number {
    const n = typeof raw === 'number' ? raw : String(raw).trim() === '' ? NaN : Number(raw);
    const ok =
      Number.isFinite(n) && (check.startsWith('non-negative') ? n >= 0 : n > 0) && (!check.endsWith('integer') || Number.isInteger(n));
    if (!ok) throw new UsageError(`${flagOf(key)} must be a ${check} number, got '${String(raw)}'`);
    return n;
  }

  number(key: keyof typeof CAMPAIGN_DEFAULTS, check: NumberCheck): number {
    return this.checkedNumber(key, this.withDefault(key), check);
  }

  absolutePath(raw: string): string {
    const { cwd, homeDir } = this.context;
    return path.resolve(cwd, raw === '~' ? homeDir : raw.startsWith('~/') ? path.join(homeDir, raw.slice(2)) : raw);
  }
}

/**
 * The window of `plan` and `scan`: names, time zone, days, hours, checked one flag at a time, and its shards. A window
 * that reaches into the current UTC day is refused: the Batch API serves only past days.
 */
export function planWindow(input: WindowInput, context: Pick<PlanContext, 'nowMs' | 'cwd' | 'homeDir'>): PlannedWindow {
  const r = new FlagReader(input, context);
  const vehicles = r.names('vehicles');
  const cameras = r.names('cameras');
  const timeZone = validateTimeZone(String(r.withDefault('tz')));
  const firstDay = parseDay('day', r.required('day'));
  const to = r.value('to');
  const daysRaw = r.value('days');
  const dayCount = daysRaw === undefined ? undefined : Number(daysRaw);
  if (dayCount !== undefined && !(Number.isInteger(dayCount) && dayCount > 0))
    throw new UsageError(`--days must be a positive integer, got '${daysRaw}'`);
  const days = daysOfWindow({ day: firstDay, days: dayCount, to: to === undefined ? undefined : parseDay('to', String(to)) });
  const hoursRaw = r.value('hours');
  const hours = hoursRaw === undefined ? undefined : parseHourRange(String(hoursRaw));
  const window = { vehicles, cameras, days, ...(hours && { hours }), timeZone };
  const shards = planShards(window);
  refuseUnservedWindow(windowEndOf(shards), context.nowMs);
  return { ...window, shards };
}

/** Validates every input, fills defaults, and computes the shards and the forecast. Throws UsageError naming the flag. */
export function planCampaign(input: CampaignInput, context: PlanContext): PlannedCampaign {
  const r = new FlagReader(input, context);
  // the flags in the order a user reads them: the window first, then the settings
  const { shards, ...window } = planWindow(input, context);
  const settings = campaignSettingsOf(r, context, { ...window, onMiss: parseOnMiss(String(r.withDefault('onMiss'))) });
  return { settings, shards, forecast: forecastOf(r, settings, shards) };
}

/**
 * The settings every campaign has beside its window and strategy, as `plan` and `sample` read them from their flags.
 * Throws UsageError naming the flag.
 */
export function campaignSettingsOf(
  r: FlagReader,
  context: PlanContext,
  window: Pick<CampaignSettings, 'vehicles' | 'cameras' | 'days' | 'hours' | 'timeZone' | 'onMiss' | 'sample'>,
): CampaignSettings {
  const tokenSource = parseTokenSource(r.input as CampaignSettingsInput, (raw) => r.absolutePath(raw));
  const bucketCapBytes = parseByteSize('bucket-cap', r.withDefault('bucketCap'));
  const workspaceCapBytes = parseByteSize('workspace-cap', r.withDefault('workspaceCap'));
  const clipBytesEstimate = parseByteSize('clip-size', r.withDefault('clipSize'));
  if (bucketCapBytes > workspaceCapBytes)
    throw new UsageError(`--bucket-cap (${bucketCapBytes} bytes) must not exceed --workspace-cap (${workspaceCapBytes} bytes)`);
  if (clipBytesEstimate > bucketCapBytes)
    throw new UsageError(`--clip-size (${clipBytesEstimate} bytes) must not exceed --bucket-cap (${bucketCapBytes} bytes)`);
  // stored only when given: a campaign without them takes the workers' defaults (50 x --clip-size, 64 KiB/s)
  const maxClipRaw = r.value('maxClipBytes');
  const maxClipBytes = maxClipRaw === undefined ? undefined : parseByteSize('max-clip-bytes', maxClipRaw);
  if (maxClipBytes !== undefined && maxClipBytes < clipBytesEstimate)
    throw new UsageError(`--max-clip-bytes (${maxClipBytes} bytes) must be at least --clip-size (${clipBytesEstimate} bytes)`);
  const minRateRaw = r.value('minDownloadRate');
  const minDownloadBytesPerSec = minRateRaw === undefined ? undefined : parseByteSize('min-download-rate', minRateRaw);

  const input = r.input as CampaignSettingsInput;
  // the source lives in the manifest, which a shared campaign's group may write: it would choose where the owner's
  // client secret is sent, or what runs as the owner
  if (tokenSource && input.shareWithGroup === true)
    throw new UsageError(
      `--share-with-group cannot go with a token source (--${tokenSource.kind === 'command' ? 'token-command' : 'oauth-token-url'}): ` +
        'the group could change in the manifest what it runs or where the client secret goes; share the campaign with a token file',
    );
  const insecureHttp = input.insecureHttp === true;
  const { vehicles, cameras, days, hours, timeZone, onMiss, sample } = window;
  return {
    apiBase: parseApiBase(r.required('apiBase'), { insecureHttp }),
    tokenFile: r.absolutePath(String(r.withDefault('tokenFile'))),
    ...(tokenSource && { tokenSource }),
    outDir: storedOutDir(r.absolutePath(r.required('out')), context.runDir),
    vehicles,
    cameras,
    days,
    ...(hours && { hours }),
    timeZone,
    onMiss,
    apiRatePerSec: r.number('apiRate', 'positive'),
    maxConcurrent: r.number('maxConcurrent', 'positive integer'),
    minTimeMs: r.number('minTimeMs', 'non-negative'),
    bucketCapBytes,
    workspaceCapBytes,
    clipBytesEstimate,
    ...(maxClipBytes !== undefined && { maxClipBytes }),
    ...(minDownloadBytesPerSec !== undefined && { minDownloadBytesPerSec }),
    journal: parseJournal(String(r.withDefault('journal'))),
    ...(input.shareWithGroup === true && { shareWithGroup: true }),
    ...(insecureHttp && { insecureHttp: true }),
    ...(sample && { sample }),
  };
}

/** The forecast of a campaign, with the forecast flags (`--ready-time`, `--throughput`, `--su-rate`). */
export function forecastOf(r: FlagReader, settings: CampaignSettings, shards: readonly ShardSpec[]): Forecast {
  const throughput = r.value('throughput');
  return forecastCampaign(shards, {
    clipBytes: settings.clipBytesEstimate,
    apiRatePerSec: settings.apiRatePerSec,
    maxConcurrent: settings.maxConcurrent,
    clipSeconds: r.number('readyTime', 'positive'),
    ...(throughput !== undefined && { throughputClipsPerSec: r.checkedNumber('throughput', throughput, 'positive') }),
    suPerCoreHour: r.number('suRate', 'non-negative'),
  });
}

/** `outDir` relative to the run folder when it lies inside it (`.` for the run folder itself), else absolute. */
function storedOutDir(outDir: string, runDir: string | undefined): string {
  if (runDir === undefined) return outDir;
  const relative = path.relative(runDir, outDir);
  if (relative === '') return '.';
  return relative.startsWith('..') || path.isAbsolute(relative) ? outDir : relative;
}

/** The start of the current UTC day, epoch ms: the Batch API serves only what lies before it. */
export function todayStartMs(nowMs: number): number {
  return nowMs - (nowMs % 86_400_000);
}

/** The Batch API serves only past UTC days: the window must end by the start of today, UTC. */
function refuseUnservedWindow(windowEndSeconds: number, nowMs: number): void {
  const todayMs = todayStartMs(nowMs);
  if (windowEndSeconds * 1000 > todayMs)
    throw new UsageError(
      `the window ends ${new Date(windowEndSeconds * 1000).toISOString()}, after the start of today (${new Date(todayMs).toISOString()}): the Batch API serves only past UTC days`,
    );
}

function parseJournal(raw: string): JournalMode {
  const mode = JOURNAL_MODES.find((m) => m === raw);
  if (mode) return mode;
  throw new UsageError(`--journal must be ${JOURNAL_MODES.join(' or ')}, got '${raw}'`);
}
