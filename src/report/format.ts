/** Plain number formats shared by the text renderers. */
export const formatCount = (n: number): string => Math.round(n).toLocaleString('en-US');

export const formatGb = (bytes: number): string => (bytes / 1e9).toFixed(2);

/** `2025-11-17..2025-11-19 (3 days)`, or the one day. */
export function formatDays(days: readonly string[]): string {
  if (days.length <= 1) return days[0] ?? '(none)';
  return `${days[0]}..${days.at(-1)} (${days.length} days)`;
}

export const plural = (n: number, one: string, many = `${one}s`): string => `${formatCount(n)} ${n === 1 ? one : many}`;
