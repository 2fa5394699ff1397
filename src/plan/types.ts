/** A 30 s slot: the unit the Batch API cuts a clip for. Slot starts are on the 30 s grid in UTC. */
export const SLOT_SECONDS = 30;
/** A shard is one vehicle-hour: every requested camera, 120 slots each. */
export const SHARD_SECONDS = 3600;

/** Local hours [from, to) of each day, in the campaign time zone; 0 <= from < to <= 24. */
export interface HourRange {
  from: number;
  to: number;
}

/** Missing-data strategy: `probe-all`, `skip:SECS` or `gallop` (see docs/worker.md). */
export type OnMiss = string;

/**
 * Everything a worker needs to run a campaign, stored in the manifest so that a worker takes only `--manifest`.
 * Never the token itself: only the path of the file that holds it.
 */
export interface CampaignSettings {
  apiBase: string;
  tokenFile: string;
  /** absolute path of the output root */
  outDir: string;
  vehicles: string[];
  cameras: string[];
  /** YYYY-MM-DD in `timeZone`, sorted, no duplicates */
  days: string[];
  hours?: HourRange;
  timeZone: string;
  onMiss: OnMiss;
  /** campaign-wide request budget, requests/s summed over all workers */
  apiRatePerSec: number;
  /** in-flight clips per worker */
  maxConcurrent: number;
  /** minimum gap between two API requests of one worker */
  minTimeMs: number;
  bucketCapBytes: number;
  workspaceCapBytes: number;
  /** expected size of one clip, for forecasts */
  clipBytesEstimate: number;
  journal: 'delete' | 'wal';
}

/** One vehicle-hour. `hourStart` is a UTC instant in epoch seconds. */
export interface ShardSpec {
  vehicle: string;
  hourStart: number;
  cameras: string[];
}
