import { SLOTS_PER_CAMERA_HOUR } from './shards.js';
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
  /** clips (slots) one worker finishes per second */
  throughputClipsPerSec: number;
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
  assumptions: ForecastAssumptions & { requestsPerClip: number };
}

export function forecastCampaign(shards: readonly ShardSpec[], assumptions: ForecastAssumptions): Forecast {
  const slots = shards.reduce((sum, shard) => sum + shard.cameras.length * SLOTS_PER_CAMERA_HOUR, 0);
  const apiRequestsMax = slots * REQUESTS_PER_CLIP;
  const coreHours = slots / assumptions.throughputClipsPerSec / 3600;
  return {
    shards: shards.length,
    slots,
    apiRequestsMax,
    bytesExpected: slots * assumptions.clipBytes,
    apiLimitedHours: apiRequestsMax / assumptions.apiRatePerSec / 3600,
    coreHours,
    serviceUnits: coreHours * assumptions.suPerCoreHour,
    assumptions: { ...assumptions, requestsPerClip: REQUESTS_PER_CLIP },
  };
}
