import { API_FLOW_ASSUMPTIONS, workerClipsPerSec } from './model.js';
import { slotCountOf } from './shards.js';
import type { ShardSpec } from './types.js';

/**
 * Requests one clip costs at most without retries: the clip request, one readiness check, the download.
 * Readiness polls beyond the first and retries are not counted; `skip:` and `gallop` probe fewer slots.
 */
export const REQUESTS_PER_CLIP = 3;

export interface ForecastAssumptions {
  clipBytes: number;
  /** campaign-wide API budget, requests/s */
  apiRatePerSec: number;
  /** clips in flight one worker may have at most (`--max-concurrent`) */
  maxConcurrent: number;
  /** seconds one clip takes from its request to its file (`--ready-time`: the API's processing, mostly) */
  clipSeconds: number;
  /** clips (slots) one worker finishes per second; when not given, the worker's own model: Little's law (src/plan/model.ts) */
  throughputClipsPerSec?: number;
  /** service units charged per core-hour (savio3_htc 2.67) */
  suPerCoreHour: number;
}

export interface Forecast {
  shards: number;
  slots: number;
  /** upper bound: every slot probed, REQUESTS_PER_CLIP requests each */
  apiRequestsMax: number;
  /** every slot holding a clip of `clipBytes` */
  bytesExpected: number;
  /** apiRequestsMax at the campaign-wide API rate: the longest the rate limit alone can make the campaign */
  apiLimitedHours: number;
  /** single-core worker time at the assumed throughput */
  coreHours: number;
  serviceUnits: number;
  /** clips per second per worker the forecast assumed (given, or from the model) */
  workerClipsPerSec: number;
  /** workers it takes for the campaign's budget, not the workers' windows, to be what binds */
  workersToFillBudget: number;
  assumptions: ForecastAssumptions & { requestsPerClip: number; typicalRequestsPerClip: number };
}

export function forecastCampaign(shards: readonly ShardSpec[], assumptions: ForecastAssumptions): Forecast {
  const slots = shards.reduce((sum, shard) => sum + slotCountOf(shard), 0);
  const apiRequestsMax = slots * REQUESTS_PER_CLIP;
  const flow = {
    requestsPerSec: assumptions.apiRatePerSec,
    requestsPerClip: API_FLOW_ASSUMPTIONS.requestsPerClip,
    clipSeconds: assumptions.clipSeconds,
  };
  const perWorker = assumptions.throughputClipsPerSec ?? workerClipsPerSec(flow, assumptions.maxConcurrent);
  const coreHours = slots / perWorker / 3600;
  return {
    shards: shards.length,
    slots,
    apiRequestsMax,
    bytesExpected: slots * assumptions.clipBytes,
    apiLimitedHours: apiRequestsMax / assumptions.apiRatePerSec / 3600,
    coreHours,
    serviceUnits: coreHours * assumptions.suPerCoreHour,
    workerClipsPerSec: perWorker,
    workersToFillBudget: Math.max(1, Math.ceil(flow.requestsPerSec / flow.requestsPerClip / perWorker)),
    assumptions: { ...assumptions, requestsPerClip: REQUESTS_PER_CLIP, typicalRequestsPerClip: API_FLOW_ASSUMPTIONS.requestsPerClip },
  };
}
