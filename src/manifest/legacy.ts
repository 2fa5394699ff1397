/**
 * Before schema v5 and receipt format v2 a clip's location was its absolute path. Only the v5 migration and the
 * reader of v1 receipts still meet such paths; everything else speaks of buckets.
 */

/** N of `.../<vehicle>/download<N>/...`, the bucket folder the path lies in, if any. */
export function bucketOfLegacyPath(file: string, vehicle: string): number | undefined {
  const parts = file.split(/[\\/]/);
  for (let i = 1; i < parts.length; i++) {
    const m = parts[i - 1] === vehicle ? /^download(\d+)$/.exec(parts[i]!) : null;
    if (m) return Number(m[1]);
  }
  return undefined;
}
