import { UsageError } from '../errors.js';

const UNIT_BYTES: Record<string, number> = {
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  kib: 2 ** 10,
  mib: 2 ** 20,
  gib: 2 ** 30,
  tib: 2 ** 40,
};

/** `10GiB`, `2 MB`, `500000` (bytes) → a positive whole number of bytes. KB/MB/GB are decimal, KiB/MiB/GiB binary. */
export function parseByteSize(flag: string, raw: string | number): number {
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(String(raw).trim());
  const factor = m ? UNIT_BYTES[(m[2] || 'b').toLowerCase()] : undefined;
  const bytes = m && factor ? Math.round(Number(m[1]) * factor) : 0;
  if (bytes <= 0) throw new UsageError(`--${flag} must be a size such as 2MB or 10GiB, got '${raw}'`);
  return bytes;
}
