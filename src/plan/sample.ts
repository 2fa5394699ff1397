import { createHash } from 'node:crypto';
import { formatDuration, parseDuration } from '../duration.js';
import { UsageError } from '../errors.js';
import {
  type CampaignSettingsInput,
  FlagReader,
  type PlanContext,
  type PlannedCampaign,
  campaignSettingsOf,
  forecastOf,
  todayStartMs,
} from './campaign.js';
import { MAX_DAYS } from './days.js';
import { SHARD_SECONDS, SLOT_SECONDS, type SampleSpec, type ShardSpec } from './types.js';

type Scalar = string | number;

/** What `sample` was given (camelCase flag names): the campaign settings of `plan` but the window, and the draw. */
export interface SampleInput extends CampaignSettingsInput {
  n?: Scalar;
  lookback?: string;
  seed?: Scalar;
  minGap?: string;
}

/** `--min-gap` when not given: slots only need to differ. */
export const SAMPLE_DEFAULTS = { minGap: '0s' } as const;

/** What one draw needs: the fleet, the window, how many slots per vehicle and camera, how far apart. */
export interface SampleDraw extends SampleSpec {
  vehicles: readonly string[];
  cameras: readonly string[];
}

/** The slots drawn for one vehicle and camera: UTC epoch seconds on the 30 s grid, ascending. */
export interface DrawnSlots {
  vehicle: string;
  camera: string;
  starts: number[];
}

/**
 * A sample campaign: `n` random 30 s slots per vehicle and camera, drawn from the `lookback` before the start of the
 * current UTC day (the Batch API serves only past days), reproducible from `seed`, recorded as a campaign whose shards
 * hold only the drawn slots. Its settings are a campaign's in UTC with the `probe-all` strategy (a strategy over gaps
 * in time means nothing for scattered slots) and the draw's spec, so drawing again with the same flags on the same
 * UTC day is the same plan. Throws UsageError naming the flag.
 */
export function planSample(input: SampleInput, context: PlanContext): PlannedCampaign {
  const r = new FlagReader(input, context);
  const vehicles = r.names('vehicles');
  const cameras = r.names('cameras');
  const n = r.checkedNumber('n', r.required('n'), 'positive integer');
  const lookbackSeconds = parseDuration('lookback', r.required('lookback'));
  if (lookbackSeconds <= 0 || lookbackSeconds % SLOT_SECONDS !== 0 || lookbackSeconds > MAX_DAYS * 86_400)
    throw new UsageError(`--lookback must be a whole number of 30 s slots, at most ${MAX_DAYS}d, got '${r.value('lookback')}'`);
  const seed = r.checkedNumber('seed', r.required('seed'), 'non-negative integer');
  if (!Number.isSafeInteger(seed)) throw new UsageError(`--seed must be at most ${Number.MAX_SAFE_INTEGER}, got '${r.value('seed')}'`);
  const minGapSeconds = parseDuration('min-gap', String(r.value('minGap') ?? SAMPLE_DEFAULTS.minGap));
  const windowEnd = todayStartMs(context.nowMs) / 1000;
  const sample: SampleSpec = { n, seed, windowStart: windowEnd - lookbackSeconds, windowEnd, minGapSeconds };
  const shards = sampleShards(drawSampleSlots({ vehicles, cameras, ...sample }));
  const settings = campaignSettingsOf(r, context, {
    vehicles,
    cameras,
    days: utcDaysOf(sample.windowStart, sample.windowEnd),
    timeZone: 'UTC',
    onMiss: { kind: 'probe-all' },
    sample,
  });
  return { settings, shards, forecast: forecastOf(r, settings, shards) };
}

/**
 * Draws `n` slots per vehicle and camera from [windowStart, windowEnd), uniformly among the sets whose slots start at
 * least `minGapSeconds` apart: n distinct positions among the slots less the room the gaps take (Floyd's algorithm),
 * each then moved right by the gaps before it. Each (vehicle, camera) has its own random stream, seeded by `seed` and
 * its names, so adding a vehicle leaves the others' slots as they were. More slots than the window holds that far
 * apart is a UsageError saying how many it holds.
 */
export function drawSampleSlots(d: SampleDraw): DrawnSlots[] {
  const slots = (d.windowEnd - d.windowStart) / SLOT_SECONDS;
  const gapSlots = Math.max(1, Math.ceil(d.minGapSeconds / SLOT_SECONDS));
  const capacity = slots > 0 ? Math.floor((slots - 1) / gapSlots) + 1 : 0;
  if (d.n > capacity) {
    const apart = d.minGapSeconds > 0 ? ` at least ${formatDuration(d.minGapSeconds)} apart` : '';
    throw new UsageError(
      `--n ${d.n} is more than the ${capacity} slots of 30 s${apart} that the ${formatDuration(d.windowEnd - d.windowStart)} before today (UTC) hold: give a smaller --n, a longer --lookback or a shorter --min-gap`,
    );
  }
  return d.vehicles.flatMap((vehicle) =>
    d.cameras.map((camera) => {
      const positions = distinctPositions(d.n, slots - (d.n - 1) * (gapSlots - 1), seededDraws(`${d.seed}|${vehicle}|${camera}`));
      return { vehicle, camera, starts: positions.map((p, i) => d.windowStart + (p + i * (gapSlots - 1)) * SLOT_SECONDS) };
    }),
  );
}

/** The drawn slots as shards: one per vehicle and UTC hour that holds any, hour-major like `plan`'s, with their selection. */
export function sampleShards(draws: readonly DrawnSlots[]): ShardSpec[] {
  const shards = new Map<string, ShardSpec & { slots: Record<string, number[]> }>();
  for (const { vehicle, camera, starts } of draws) {
    for (const start of starts) {
      const hourStart = start - (start % SHARD_SECONDS);
      const key = `${hourStart} ${vehicle}`;
      const shard = shards.get(key) ?? { vehicle, hourStart, cameras: [], slots: {} };
      shards.set(key, shard);
      (shard.slots[camera] ??= []).push((start - hourStart) / SLOT_SECONDS);
    }
  }
  return [...shards.values()]
    .sort((a, b) => a.hourStart - b.hourStart || a.vehicle.localeCompare(b.vehicle))
    .map((s) => {
      const cameras = Object.keys(s.slots).sort();
      return { ...s, cameras, slots: Object.fromEntries(cameras.map((c) => [c, s.slots[c]!.sort((a, b) => a - b)])) };
    });
}

/** `count` distinct integers of [0, of), ascending (Floyd's algorithm: `count` draws, whatever `of`). */
function distinctPositions(count: number, of: number, draw: () => number): number[] {
  const chosen = new Set<number>();
  for (let j = of - count; j < of; j++) {
    const t = Math.floor(draw() * (j + 1));
    chosen.add(chosen.has(t) ? j : t);
  }
  return [...chosen].sort((a, b) => a - b);
}

/** Uniform draws in [0, 1) from sha256(key | counter): the same on every machine and Node version. */
function seededDraws(key: string): () => number {
  let counter = 0;
  return () => createHash('sha256').update(`${key}|${counter++}`).digest().readUIntBE(0, 6) / 2 ** 48;
}

/** The UTC days [start, end) touches, YYYY-MM-DD. */
function utcDaysOf(startSeconds: number, endSeconds: number): string[] {
  const days: string[] = [];
  for (let t = startSeconds - (startSeconds % 86_400); t < endSeconds; t += 86_400)
    days.push(new Date(t * 1000).toISOString().slice(0, 10));
  return days;
}
