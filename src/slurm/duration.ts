import { UsageError } from '../errors.js';

/**
 * A Slurm time (`--time`): `M`, `M:S`, `H:M:S`, `D-H`, `D-H:M`, `D-H:M:S` → seconds. Pure; a one-line UsageError
 * naming the flag for anything else.
 */
export function parseSlurmTime(text: string, flag = '--time'): number {
  const m = /^(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?$/.exec(text.trim());
  if (!m) throw new UsageError(`${flag} "${text}" is not a Slurm time (MM, HH:MM:SS, D-HH, D-HH:MM:SS)`);
  const [, days, a, b, c] = m;
  const n = (v: string | undefined): number => (v === undefined ? 0 : Number(v));
  let seconds: number;
  if (days !== undefined) seconds = n(days) * 86_400 + n(a) * 3600 + n(b) * 60 + n(c); // D-H[:M[:S]]
  else if (c !== undefined) seconds = n(a) * 3600 + n(b) * 60 + n(c); // H:M:S
  else if (b !== undefined) seconds = n(a) * 60 + n(b); // M:S
  else seconds = n(a) * 60; // M
  if (seconds <= 0) throw new UsageError(`${flag} "${text}" is not a positive time`);
  return seconds;
}

/** Seconds → `D-HH:MM:SS` (or `HH:MM:SS`), the form sbatch and squeue print. */
export function formatSlurmTime(seconds: number): string {
  const s = Math.ceil(seconds);
  const pad = (n: number): string => String(n).padStart(2, '0');
  const hms = `${pad(Math.floor((s % 86_400) / 3600))}:${pad(Math.floor((s % 3600) / 60))}:${pad(s % 60)}`;
  return s >= 86_400 ? `${Math.floor(s / 86_400)}-${hms}` : hms;
}
