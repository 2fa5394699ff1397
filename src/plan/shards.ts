import { UsageError } from '../errors.js';
import { type CampaignSettings, SHARD_SECONDS, SLOT_SECONDS, type ShardSpec } from './types.js';
import { hourStartsOfDay } from './window.js';

/** Slots of one camera in one shard: 120. */
export const SLOTS_PER_CAMERA_HOUR = SHARD_SECONDS / SLOT_SECONDS;

export type ShardPlanInput = Pick<CampaignSettings, 'vehicles' | 'cameras' | 'days' | 'hours' | 'timeZone'>;

/**
 * One shard per vehicle per local hour of each day, hour-major (every vehicle's first hour, then the second…) so
 * that workers claiming in order finish whole hours of the fleet first.
 */
export function planShards({ vehicles, cameras, days, hours, timeZone }: ShardPlanInput): ShardSpec[] {
  const hourStarts = days.flatMap((day) => hourStartsOfDay(day, timeZone, hours));
  if (hourStarts.length === 0)
    throw new UsageError(`--hours ${hours?.from}-${hours?.to} selects no hour of ${days.join(', ')} in ${timeZone}`);
  return hourStarts.flatMap((hourStart) => vehicles.map((vehicle) => ({ vehicle, hourStart, cameras: [...cameras] })));
}

/** The slots a shard holds: its selection's, or every slot of every camera. */
export function slotCountOf(shard: Pick<ShardSpec, 'cameras' | 'slots'>): number {
  if (!shard.slots) return shard.cameras.length * SLOTS_PER_CAMERA_HOUR;
  return Object.values(shard.slots).reduce((sum, slotNos) => sum + slotNos.length, 0);
}

/** The end of the last shard (UTC epoch seconds). */
export function windowEndOf(shards: readonly ShardSpec[]): number {
  return Math.max(...shards.map((s) => s.hourStart + SHARD_SECONDS));
}
