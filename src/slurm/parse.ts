/**
 * `squeue -h -j JOB -o %e` prints the job's end time in the cluster's local time without a zone
 * (`2026-06-15T18:00:00`), or `N/A` / `Unknown` / `NONE` when there is none. Undefined when it says nothing usable.
 */
export function parseSqueueEndTime(text: string): number | undefined {
  const line = text.trim().split('\n')[0]?.trim() ?? '';
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$/.test(line)) return undefined;
  const ms = Date.parse(line); // no zone: local time, which is what squeue prints
  return Number.isFinite(ms) ? ms : undefined;
}
