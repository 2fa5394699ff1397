import { UsageError } from '../errors.js';
import { CAMPAIGN_DEFAULTS, FlagReader, flagOf, type PlanContext, type PlannedWindow, type WindowInput, planWindow } from './campaign.js';
import { parseApiBase, parseOnMiss } from './grammar.js';
import type { MissStrategy } from './types.js';

/** `scan`'s own defaults; the window's and the API's are `plan`'s (CAMPAIGN_DEFAULTS). */
export const SCAN_DEFAULTS = {
  onMiss: 'probe-all',
  /** `/v1/video` requests in flight at once: each waits ~a round trip, the rate budget paces them */
  concurrency: 8,
} as const;

type Scalar = string | number;

/** What `scan` was given (camelCase flag names): `plan`'s window and API flags, or none of them with `--manifest`. */
export interface ScanInput extends WindowInput {
  apiBase?: string;
  tokenFile?: string;
  apiRate?: Scalar;
  insecureHttp?: boolean;
  onMiss?: string;
  concurrency?: Scalar;
}

/** How a scan asks: its strategy and how many requests it keeps in flight. */
export interface ScanPacing {
  onMiss: MissStrategy;
  concurrency: number;
}

/** A scan of a window given by flags, without a manifest: what to ask, whom, how fast. */
export interface ScanPlan extends ScanPacing {
  window: PlannedWindow;
  apiBase: string;
  tokenFile: string;
  apiRatePerSec: number;
}

/** The flags that say what a scan without a manifest covers and whom it asks: given with `--manifest`, they are refused. */
const WINDOW_AND_API_FLAGS = [
  'day',
  'days',
  'to',
  'hours',
  'vehicles',
  'cameras',
  'tz',
  'apiBase',
  'tokenFile',
  'apiRate',
  'insecureHttp',
] as const;

/** `--on-miss` and `--concurrency`, in either mode. */
export function scanPacingOf(input: ScanInput, context: Pick<PlanContext, 'cwd' | 'homeDir'>): ScanPacing {
  const r = new FlagReader(input, context);
  return {
    onMiss: parseOnMiss(String(r.value('onMiss') ?? SCAN_DEFAULTS.onMiss)),
    concurrency: r.checkedNumber('concurrency', r.value('concurrency') ?? SCAN_DEFAULTS.concurrency, 'positive integer'),
  };
}

/** A scan of a manifest's campaign takes the window and the API from the campaign: any of those flags is a mistake. */
export function refuseWindowWithManifest(input: ScanInput): void {
  const given = WINDOW_AND_API_FLAGS.filter((key) => input[key] !== undefined);
  if (given.length > 0)
    throw new UsageError(`--manifest scans the campaign's own window with its API settings: drop ${given.map(flagOf).join(', ')}`);
}

/** A scan given by `plan`'s window flags, each read by `plan`'s own parser, and the API to ask. */
export function planScan(input: ScanInput, context: Pick<PlanContext, 'nowMs' | 'cwd' | 'homeDir'>): ScanPlan {
  const r = new FlagReader(input, context);
  const window = planWindow(input, context);
  return {
    window,
    apiBase: parseApiBase(r.required('apiBase'), { insecureHttp: input.insecureHttp === true }),
    tokenFile: r.absolutePath(String(r.value('tokenFile') ?? CAMPAIGN_DEFAULTS.tokenFile)),
    apiRatePerSec: r.number('apiRate', 'positive'),
    ...scanPacingOf(input, context),
  };
}
