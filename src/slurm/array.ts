import { UsageError } from '../errors.js';

export interface ArrayRange {
  from: number;
  to: number;
}

/**
 * The `--array` ranges that give `tasks` array tasks when one array may hold `maxArraySize` (indices 0 ..
 * maxArraySize-1, Slurm's MaxArraySize): as few arrays as possible, each starting at 0, the last one shorter. Workers
 * claim their shards from the manifest, so an index says nothing about the work and every array can start at 0.
 * 2500 tasks with MaxArraySize 1001 → 0-1000, 0-1000, 0-497. No tasks → no arrays.
 */
export function splitArray(tasks: number, maxArraySize: number): ArrayRange[] {
  if (!Number.isInteger(tasks) || tasks < 0) throw new UsageError(`the number of array tasks must be a whole number >= 0, got ${tasks}`);
  if (!Number.isInteger(maxArraySize) || maxArraySize < 1)
    throw new UsageError(`this cluster takes no job arrays (MaxArraySize ${maxArraySize}); ask its admins, or use the local executor`);
  const ranges: ArrayRange[] = [];
  for (let left = tasks; left > 0; left -= maxArraySize) ranges.push({ from: 0, to: Math.min(left, maxArraySize) - 1 });
  return ranges;
}

/** The `--array` value of a range: `0-9`, and with at most `maxRunning` tasks running at once, `0-9%4`. */
export function arraySpec(range: ArrayRange, maxRunning?: number): string {
  const { from, to } = range;
  if (!Number.isInteger(from) || !Number.isInteger(to) || from < 0 || to < from)
    throw new UsageError(`an array range needs whole numbers 0 <= from <= to, got ${from}-${to}`);
  if (maxRunning !== undefined && !(Number.isInteger(maxRunning) && maxRunning > 0))
    throw new UsageError(`the number of tasks running at once must be a whole number > 0, got ${maxRunning}`);
  return `${from}-${to}${maxRunning === undefined ? '' : `%${maxRunning}`}`;
}
