/** A 30 s slot: the unit the Batch API cuts a clip for. Slot starts are on the 30 s grid in UTC. */
export const SLOT_SECONDS = 30;
/** A shard is one vehicle-hour: every requested camera, 120 slots each. */
export const SHARD_SECONDS = 3600;
/** Unless planned otherwise (`--max-clip-bytes`), a clip body may be this many times the expected clip size. */
export const MAX_CLIP_BYTES_FACTOR = 50;

/** Local hours [from, to) of each day, in the campaign time zone; 0 <= from < to <= 24. */
export interface HourRange {
  from: number;
  to: number;
}

/**
 * What a worker does after the API says a slot has no video (404); docs/worker.md explains each.
 * - `probe-all`: ask for every slot; nothing is lost, every gap slot costs a request.
 * - `skip`: the notebook's rule: after a 404 at t, the next request is for t + skipSeconds.
 * - `gallop`: after a 404 probe ahead in strides 1, 2, 4, … (capped); once data is found again, bisect back into the
 *   skipped range for the first clip after the gap, then fetch every slot from there on.
 */
export type MissStrategy = { kind: 'probe-all' } | { kind: 'skip'; skipSeconds: number } | { kind: 'gallop'; maxStrideSeconds: number };

/** The manifest's SQLite journal modes: a rollback journal for shared filesystems, WAL on one host only. */
export const JOURNAL_MODES = ['delete', 'wal'] as const;
export type JournalMode = (typeof JOURNAL_MODES)[number];

/**
 * A program that renews a campaign's token: a credential command (`sh -c COMMAND` in the run folder, its stdout a bare
 * token or JSON `{"token", "expiresAt"}`), or an OAuth2 client-credentials grant (RFC 6749 §4.4) at `tokenUrl`.
 */
export type TokenSourceSettings =
  { kind: 'command'; command: string } | { kind: 'oauth2'; tokenUrl: string; clientId: string; clientSecretFile: string; scope?: string };

/**
 * Everything a worker needs to run a campaign, stored in the manifest so that a worker takes only `--manifest`.
 * Never the token itself: only the path of the file that holds it.
 */
export interface CampaignSettings {
  apiBase: string;
  tokenFile: string;
  /**
   * What renews the token in `tokenFile` when it nears its expiry or is refused (docs/api.md#token-sources); absent:
   * nothing, the file is renewed by hand. Holds no secret: the client secret's file path, never the secret.
   */
  tokenSource?: TokenSourceSettings;
  /** the output root: relative to the manifest's folder when inside it (so a moved run folder keeps working), else absolute */
  outDir: string;
  vehicles: string[];
  cameras: string[];
  /** YYYY-MM-DD in `timeZone`, sorted, no duplicates */
  days: string[];
  hours?: HourRange;
  timeZone: string;
  onMiss: MissStrategy;
  /** campaign-wide request budget, requests/s summed over all workers */
  apiRatePerSec: number;
  /** in-flight clips per worker */
  maxConcurrent: number;
  /** minimum gap between two API requests of one worker */
  minTimeMs: number;
  bucketCapBytes: number;
  workspaceCapBytes: number;
  /** expected size of one clip, for forecasts, the workspace checks and each transfer's deadline */
  clipBytesEstimate: number;
  /** the largest clip body a worker accepts (`--max-clip-bytes`); absent: MAX_CLIP_BYTES_FACTOR x clipBytesEstimate */
  maxClipBytes?: number;
  /** the slowest a clip transfer may be (`--min-download-rate`); absent: the API client's default, 64 KiB/s */
  minDownloadBytesPerSec?: number;
  journal: JournalMode;
  /**
   * `--share-with-group`: what the campaign creates is group-readable and -writable (setgid folders) instead of
   * owner-only (src/file-modes.ts). Absent when not given, so manifests planned before it read the same.
   */
  shareWithGroup?: true;
  /** `--insecure-http`: a plain http:// `apiBase` beyond loopback is allowed (the token then travels unencrypted); absent when not given */
  insecureHttp?: true;
  /** a sample campaign (`fleetclip sample`): how its slots were drawn; its shards hold only the drawn slots */
  sample?: SampleSpec;
}

/** What `fleetclip sample` drew from: the same spec draws the same slots (docs/sample.md). */
export interface SampleSpec {
  /** slots drawn per vehicle and camera */
  n: number;
  seed: number;
  /** the window slots are drawn from: [windowStart, windowEnd), UTC epoch seconds; it ends at the start of the UTC day it was drawn on */
  windowStart: number;
  windowEnd: number;
  /** two slots of one vehicle and camera start at least this far apart */
  minGapSeconds: number;
}

/** One vehicle-hour. `hourStart` is a UTC instant in epoch seconds. */
export interface ShardSpec {
  vehicle: string;
  hourStart: number;
  cameras: string[];
  /**
   * Only these slots of each camera (slot numbers 0..119 of the hour, ascending; every camera of `cameras` has some),
   * as a sample campaign's shards hold; absent: every slot of every camera.
   */
  slots?: SlotSelection;
}

/** camera → the slot numbers (0..119 within the hour) a shard holds of it */
export type SlotSelection = Record<string, number[]>;
