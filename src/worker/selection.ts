import { SHARD_SECONDS, SLOT_SECONDS, type ShardSpec } from '../plan/types.js';

const SLOTS_PER_HOUR = SHARD_SECONDS / SLOT_SECONDS;

/** The slots a shard holds, as a worker or a scan walks them. */
export interface ShardSlots {
  /** slot numbers within the hour (0..119), ascending: every one, or a sample's selection */
  slotNos: number[];
  /** the cameras a slot is asked for */
  camerasAt(slotNo: number): readonly string[];
  /** (camera, slot) pairs in all */
  count: number;
}

/** Every slot of the hour for every camera, or only a sample shard's selection (ShardSpec.slots). */
export function shardSlots(shard: Pick<ShardSpec, 'cameras' | 'slots'>): ShardSlots {
  const selection = shard.slots;
  if (!selection)
    return {
      slotNos: Array.from({ length: SLOTS_PER_HOUR }, (_, i) => i),
      camerasAt: () => shard.cameras,
      count: shard.cameras.length * SLOTS_PER_HOUR,
    };
  const cameras = new Map<number, string[]>();
  for (const camera of shard.cameras)
    for (const slotNo of selection[camera] ?? []) cameras.set(slotNo, [...(cameras.get(slotNo) ?? []), camera]);
  return {
    slotNos: [...cameras.keys()].sort((a, b) => a - b),
    camerasAt: (slotNo) => cameras.get(slotNo) ?? [],
    count: [...cameras.values()].reduce((n, list) => n + list.length, 0),
  };
}
