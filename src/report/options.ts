import { UsageError } from '../errors.js';
import { STATUS_CUTS, type StatusCut } from './status.js';

/** Every default of `fleetclip status`. Help texts quote this object. */
export const STATUS_DEFAULTS = {
  by: 'vehicle' as StatusCut,
  /** `--watch` without a value */
  watchSeconds: 5,
  /** clips/min and ETA are measured over this window */
  rateWindowMinutes: 10,
} as const;

/** The shortest `--watch` interval: every refresh reads the manifest that workers are writing. */
export const MIN_WATCH_SECONDS = 1;

export interface StatusOptionsInput {
  by?: string;
  /** `''` when `--watch` was given without a value */
  watch?: string | number;
}

export interface StatusOptions {
  by: StatusCut;
  /** undefined: print once */
  watchSeconds?: number;
  rateWindowMs: number;
}

export function normalizeStatusOptions(input: StatusOptionsInput): StatusOptions {
  const by = input.by ?? STATUS_DEFAULTS.by;
  if (!(STATUS_CUTS as readonly string[]).includes(by)) throw new UsageError(`--by must be one of ${STATUS_CUTS.join(', ')}, got '${by}'`);
  let watchSeconds: number | undefined;
  if (input.watch !== undefined) {
    watchSeconds = input.watch === '' ? STATUS_DEFAULTS.watchSeconds : Number(input.watch);
    if (!(Number.isFinite(watchSeconds) && watchSeconds >= MIN_WATCH_SECONDS))
      throw new UsageError(`--watch takes seconds, at least ${MIN_WATCH_SECONDS}, got '${input.watch}'`);
  }
  return {
    by: by as StatusCut,
    ...(watchSeconds !== undefined && { watchSeconds }),
    rateWindowMs: STATUS_DEFAULTS.rateWindowMinutes * 60_000,
  };
}
