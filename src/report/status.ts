import { formatInTimeZone } from 'date-fns-tz';
import type { CampaignActivity, ShardState, ShardStatusRow, SlotCountRow, StatusSource, TokenRenewalState } from '../manifest/index.js';
import { readinessQuantileMs } from '../plan/model.js';
import type { CampaignSettings } from '../plan/types.js';
import { type TokenView, tokenView } from './token.js';

/** The cuts `status --by` offers. */
export const STATUS_CUTS = ['vehicle', 'hour', 'camera', 'shard'] as const;
export type StatusCut = (typeof STATUS_CUTS)[number];

/** Bump when a field of StatusReport changes meaning or disappears (adding fields does not bump it). */
export const STATUS_SCHEMA_VERSION = 1;

/** What `status` read from the manifest, and when. */
export interface StatusInput {
  manifestPath: string;
  settings: CampaignSettings;
  /** what the workers reported, the campaign's readiness histogram and the budget's current rate */
  activity: CampaignActivity;
  readiness: readonly number[];
  requestRate: number;
  /** the campaign's token renewal (shown when it has a token source) */
  tokenRenewal?: TokenRenewalState;
  shards: readonly ShardStatusRow[];
  slotCounts: readonly SlotCountRow[];
  /** final outcomes recorded per vehicle during the last `rateWindowMs` */
  recent: readonly { vehicle: string; count: number }[];
  rateWindowMs: number;
  nowMs: number;
}

export interface ShardCounts {
  total: number;
  done: number;
  running: number;
  pending: number;
  released: number;
  failed: number;
}

/** Slots by final outcome; `remaining` have none yet. */
export interface ClipCounts {
  total: number;
  ok: number;
  missing: number;
  invalid: number;
  failed: number;
  remaining: number;
}

export interface Progress {
  shards: ShardCounts;
  clips: ClipCounts;
  bytes: number;
}

export interface VehicleRow extends Progress {
  vehicle: string;
  clipsPerMin: number;
  /** seconds until `remaining` reaches 0 at `clipsPerMin`; 0 when nothing remains, null when nothing moves */
  etaSeconds: number | null;
}

export interface HourRow extends Progress {
  hourStart: number;
  hourStartIso: string;
  /** the hour's start in the campaign time zone, `yyyy-MM-dd HH:mm±hh:mm` */
  localTime: string;
}

export interface CameraRow {
  vehicle: string;
  camera: string;
  clips: ClipCounts;
  bytes: number;
}

export interface ShardRow {
  id: number;
  vehicle: string;
  hourStart: number;
  hourStartIso: string;
  localTime: string;
  state: ShardState;
  attempts: number;
  owner: string | null;
  leaseUntilIso: string | null;
  releaseReason: string | null;
  lastError: string | null;
  clips: ClipCounts;
  bytes: number;
}

/** What the workers are doing and what they see of the API. */
export interface WorkersView {
  /** workers heard from in the last `RECENT_WORKER_MS` */
  active: number;
  clipsInFlight: number;
  /** the sum of their windows: how many clips they may have in flight */
  window: number;
  /** how long jobs took to become ready, campaign-wide (null before any was seen) */
  readyP50Ms: number | null;
  readyP99Ms: number | null;
  /** the budget's rate now (AIMD: lower after 429s), and what was granted per second over the last few minutes */
  budgetPerSec: number;
  grantedPerSec: number;
  /** grantedPerSec / budgetPerSec */
  budgetUse: number;
  clipRequests: number;
  hedges: number;
}

/** Shards waiting after a release, by reason, with what to do about it. */
export interface ReleaseNotice {
  reason: string;
  shards: number;
  advice: string;
}

export interface FailedShard {
  id: number;
  vehicle: string;
  hourStart: number;
  hourStartIso: string;
  localTime: string;
  attempts: number;
  lastError: string | null;
}

/** The document `status --json` prints (docs/status.md describes every field). */
export interface StatusReport {
  schemaVersion: number;
  generatedAt: string;
  manifest: string;
  timeZone: string;
  days: string[];
  vehicles: string[];
  cameras: string[];
  rateWindowMinutes: number;
  by: StatusCut;
  rows: VehicleRow[] | HourRow[] | CameraRow[] | ShardRow[];
  total: Omit<VehicleRow, 'vehicle'>;
  released: ReleaseNotice[];
  failedShards: FailedShard[];
  workers: WorkersView;
  /** the token source's renewals, expiry, next renewal and failures; null for a token file renewed by hand */
  token: TokenView | null;
}

/** A worker reports every heartbeat (30 s): one heard from in the last 90 s is working. */
export const RECENT_WORKER_MS = 90_000;
/** Budget use is averaged over the last whole minutes. */
export const BUDGET_WINDOW_MINUTES = 5;

function workersView({ activity, readiness, requestRate }: StatusInput): WorkersView {
  return {
    active: activity.workers,
    clipsInFlight: activity.inflight,
    window: activity.window,
    readyP50Ms: readinessQuantileMs(readiness, 0.5) ?? null,
    readyP99Ms: readinessQuantileMs(readiness, 0.99) ?? null,
    budgetPerSec: requestRate,
    grantedPerSec: activity.grantedPerSec,
    budgetUse: requestRate > 0 ? activity.grantedPerSec / requestRate : 0,
    clipRequests: activity.clipRequests,
    hedges: activity.hedges,
  };
}

const RELEASE_ADVICE: Record<string, (s: CampaignSettings) => string> = {
  quota: () => 'the workspace or bucket cap was reached: move finished clips off the workspace (or raise the cap), then resubmit',
  storage: () =>
    "the output folder could not be written (a file in the way, permissions, read-only): see the worker's log, fix it, then resubmit",
  auth: (s) =>
    s.tokenSource
      ? 'no usable token came from the token source: `fleetclip token --manifest` says why; once `fleetclip token --renew` works, resubmit'
      : `the token expired: put a fresh token in ${s.tokenFile}, then resubmit`,
  signal: () => 'a worker was stopped by a signal (preemption, time limit, cancel): resubmit to continue where it stopped',
  error: () => 'a worker could not record its outcomes in the manifest: see its log, run `fleetclip manifest verify`, then resubmit',
};

const emptyClips = (): ClipCounts => ({ total: 0, ok: 0, missing: 0, invalid: 0, failed: 0, remaining: 0 });
const emptyProgress = (): Progress => ({
  shards: { total: 0, done: 0, running: 0, pending: 0, released: 0, failed: 0 },
  clips: emptyClips(),
  bytes: 0,
});
const iso = (epochSeconds: number): string => new Date(epochSeconds * 1000).toISOString();
const localTimeOf = (epochSeconds: number, timeZone: string): string =>
  formatInTimeZone(epochSeconds * 1000, timeZone, 'yyyy-MM-dd HH:mmXXX');

function clipsOf(shard: ShardStatusRow): ClipCounts {
  const { slotsTotal: total, ok, missing, invalid, failed } = shard;
  return { total, ok, missing, invalid, failed, remaining: Math.max(0, total - ok - missing - invalid - failed) };
}

function addClips(into: ClipCounts, from: ClipCounts): void {
  for (const key of Object.keys(into) as (keyof ClipCounts)[]) into[key] += from[key];
}

function addShard(into: Progress, shard: ShardStatusRow): void {
  into.shards.total += 1;
  into.shards[shard.state] += 1;
  addClips(into.clips, clipsOf(shard));
  into.bytes += shard.bytes;
}

function groupBy<T, K>(items: readonly T[], keyOf: (item: T) => K): Map<K, T[]> {
  const groups = new Map<K, T[]>();
  for (const item of items) {
    const key = keyOf(item);
    const group = groups.get(key);
    if (group) group.push(item);
    else groups.set(key, [item]);
  }
  return groups;
}

function withRate<T extends Progress>(
  progress: T,
  recentCount: number,
  windowMinutes: number,
): T & Pick<VehicleRow, 'clipsPerMin' | 'etaSeconds'> {
  const clipsPerMin = recentCount / windowMinutes;
  const { remaining } = progress.clips;
  const etaSeconds = remaining === 0 ? 0 : clipsPerMin > 0 ? Math.round((remaining / clipsPerMin) * 60) : null;
  return { ...progress, clipsPerMin, etaSeconds };
}

function vehicleRows(input: StatusInput, windowMinutes: number): VehicleRow[] {
  const recent = new Map(input.recent.map((r) => [r.vehicle, r.count]));
  const byVehicle = groupBy(input.shards, (s) => s.vehicle);
  return [...byVehicle.keys()].sort().map((vehicle) => {
    const progress = emptyProgress();
    for (const shard of byVehicle.get(vehicle) ?? []) addShard(progress, shard);
    return { vehicle, ...withRate(progress, recent.get(vehicle) ?? 0, windowMinutes) };
  });
}

function hourRows({ shards, settings }: StatusInput): HourRow[] {
  const byHour = groupBy(shards, (s) => s.hourStart);
  return [...byHour.keys()]
    .sort((a, b) => a - b)
    .map((hourStart) => {
      const progress = emptyProgress();
      for (const shard of byHour.get(hourStart) ?? []) addShard(progress, shard);
      return { hourStart, hourStartIso: iso(hourStart), localTime: localTimeOf(hourStart, settings.timeZone), ...progress };
    });
}

/** Totals per camera come from the shards (each camera has an equal share of a shard's slots, but in a sample), outcomes from slot counts. */
function cameraRows({ shards, slotCounts }: StatusInput): CameraRow[] {
  const rows = new Map<string, CameraRow>();
  const rowOf = (vehicle: string, camera: string): CameraRow => {
    const key = `${vehicle}\u0000${camera}`;
    const row = rows.get(key) ?? { vehicle, camera, clips: emptyClips(), bytes: 0 };
    rows.set(key, row);
    return row;
  };
  for (const shard of shards) {
    for (const camera of shard.cameras)
      rowOf(shard.vehicle, camera).clips.total += shard.slots
        ? (shard.slots[camera]?.length ?? 0)
        : shard.slotsTotal / shard.cameras.length;
  }
  for (const count of slotCounts) {
    const row = rowOf(count.vehicle, count.camera);
    row.clips[count.outcome] += count.count;
    row.bytes += count.bytes;
  }
  for (const row of rows.values()) {
    const { total, ok, missing, invalid, failed } = row.clips;
    row.clips.remaining = Math.max(0, total - ok - missing - invalid - failed);
  }
  return [...rows.values()].sort((a, b) => a.vehicle.localeCompare(b.vehicle) || a.camera.localeCompare(b.camera));
}

function shardRows({ shards, settings }: Pick<StatusInput, 'shards' | 'settings'>): ShardRow[] {
  return [...shards]
    .sort((a, b) => a.id - b.id)
    .map((s) => ({
      id: s.id,
      vehicle: s.vehicle,
      hourStart: s.hourStart,
      hourStartIso: iso(s.hourStart),
      localTime: localTimeOf(s.hourStart, settings.timeZone),
      state: s.state,
      attempts: s.attempts,
      owner: s.owner ?? null,
      leaseUntilIso: s.state === 'running' && s.leaseUntilMs !== undefined ? new Date(s.leaseUntilMs).toISOString() : null,
      releaseReason: s.releaseReason ?? null,
      lastError: s.lastError ?? null,
      clips: clipsOf(s),
      bytes: s.bytes,
    }));
}

function releaseNotices({ shards, settings }: StatusInput): ReleaseNotice[] {
  const released = groupBy(
    shards.filter((s) => s.state === 'released'),
    (s) => s.releaseReason ?? 'unknown',
  );
  return [...released.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([reason, list]) => ({
      reason,
      shards: list.length,
      advice: RELEASE_ADVICE[reason]?.(settings) ?? 'resubmit to continue where they stopped',
    }));
}

/**
 * One snapshot of a manifest as a status report (`fleetclip status`, the final table of `fleetclip run`, and the
 * HTML report, which passes the shard rows it has read already).
 */
export function readStatusReport(
  manifest: StatusSource,
  by: StatusCut,
  rateWindowMs: number,
  nowMs: number = Date.now(),
  shards: readonly ShardStatusRow[] = manifest.shardRows(),
): StatusReport {
  return buildStatusReport(
    {
      manifestPath: manifest.path,
      settings: manifest.settings(),
      activity: manifest.activity(nowMs, RECENT_WORKER_MS, BUDGET_WINDOW_MINUTES),
      readiness: manifest.readinessCounts(),
      requestRate: manifest.requestRate(nowMs),
      tokenRenewal: manifest.tokenRenewal(),
      shards,
      // per-camera outcomes are needed only for that cut
      slotCounts: by === 'camera' ? manifest.slotCounts() : [],
      recent: manifest.recentOutcomes(nowMs - rateWindowMs),
      rateWindowMs,
      nowMs,
    },
    by,
  );
}

/** Aggregates what the manifest holds into the `status` document, cut `by` vehicle, hour, camera or shard. */
export function buildStatusReport(input: StatusInput, by: StatusCut = 'vehicle'): StatusReport {
  const windowMinutes = input.rateWindowMs / 60_000;
  const perVehicle = vehicleRows(input, windowMinutes);
  const total = emptyProgress();
  for (const shard of input.shards) addShard(total, shard);
  const recentTotal = input.recent.reduce((sum, r) => sum + r.count, 0);
  const rows = { vehicle: () => perVehicle, hour: () => hourRows(input), camera: () => cameraRows(input), shard: () => shardRows(input) }[
    by
  ]();
  return {
    schemaVersion: STATUS_SCHEMA_VERSION,
    generatedAt: new Date(input.nowMs).toISOString(),
    manifest: input.manifestPath,
    timeZone: input.settings.timeZone,
    days: input.settings.days,
    vehicles: input.settings.vehicles,
    cameras: input.settings.cameras,
    rateWindowMinutes: windowMinutes,
    by,
    rows,
    total: withRate(total, recentTotal, windowMinutes),
    released: releaseNotices(input),
    workers: workersView(input),
    token: input.settings.tokenSource && input.tokenRenewal ? tokenView(input.settings.tokenSource, input.tokenRenewal, input.nowMs) : null,
    // only the failed shards are formatted: a month holds 37,200 shards, and their local times cost ~0.3 s
    failedShards: shardRows({ settings: input.settings, shards: input.shards.filter((s) => s.state === 'failed') }).map(
      ({ id, vehicle, hourStart, hourStartIso, localTime, attempts, lastError }) => ({
        id,
        vehicle,
        hourStart,
        hourStartIso,
        localTime,
        attempts,
        lastError,
      }),
    ),
  };
}
