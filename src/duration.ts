/**
 * The one way fleetclip writes a duration for people: the two largest units, `42s`, `4m05s`, `3h07m`, `2d04h`, `15m`
 * (a second unit of 0 is left out); `-` when unknown. Used by progress lines, status tables and the token report alike.
 */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '-';
  const s = Math.max(0, Math.round(seconds));
  const units: [number, string][] = [
    [Math.floor(s / 86_400), 'd'],
    [Math.floor((s % 86_400) / 3600), 'h'],
    [Math.floor((s % 3600) / 60), 'm'],
    [s % 60, 's'],
  ];
  const largest = units.findIndex(([n]) => n > 0);
  const first = largest === -1 ? units.length - 1 : largest; // 0 s is `0s`
  return units
    .slice(first, first + 2)
    .filter(([n], i) => i === 0 || n > 0)
    .map(([n, unit], i) => `${i === 0 ? n : String(n).padStart(2, '0')}${unit}`)
    .join('');
}
