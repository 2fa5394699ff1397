import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { UsageError } from '../errors.js';

/** What fleetclip asks of one cluster partition: `slurm/profiles/<name>.json`, validated by loadProfile. */
export interface SlurmProfile {
  /** savio2_htc | savio3_htc | savio4_htc | local */
  name: string;
  partition: string;
  /** e.g. savio_normal */
  qos?: string;
  /** Savio: yes (`--account=fc_…`); the local cluster: no */
  accountRequired: boolean;
  account?: string;
  /** the default `--time`, e.g. '12:00:00' */
  timeLimit: string;
  /** the longest `--time` the partition and QoS allow, e.g. '72:00:00'; absent: no ceiling known */
  maxTime?: string;
  /** a QoS's own ceiling when the user picks that QoS (savio2_htc: savio_long, 10 days) */
  qosMaxTime?: Record<string, string>;
  /** memory that comes with one core (DefMemPerCPU), MB */
  memPerCpuMb?: number;
  /** `--mem` to ask for, e.g. '1G'; absent: the partition's per-core default (a worker peaks at ~150 MB) */
  mem?: string;
  /** seconds before the time limit Slurm sends USR1 to the worker (`--signal=B:USR1@<grace>`) */
  signalGraceSeconds: number;
  /** shell lines run before the worker starts, e.g. 'module load …' or 'export PATH=…' */
  setup: string[];
  /** what one core-hour costs in service units */
  serviceUnitsPerCoreHour?: number;
}

/** The profiles shipped in slurm/profiles/. */
export const PROFILE_NAMES: readonly string[] = ['savio2_htc', 'savio3_htc', 'savio4_htc', 'local'];

const PROFILE_DIR = fileURLToPath(new URL('../../slurm/profiles/', import.meta.url));

/**
 * A Slurm time (`--time`, MaxTime) in seconds: minutes, minutes:seconds, hours:minutes:seconds, days-hours,
 * days-hours:minutes, days-hours:minutes:seconds; INFINITE/UNLIMITED → Infinity. Undefined when unreadable.
 */
export function parseTimeLimit(text: string): number | undefined {
  const t = text.trim();
  if (/^(INFINITE|UNLIMITED)$/i.test(t)) return Infinity;
  let m = /^(\d+)-(\d+)(?::(\d+)(?::(\d+))?)?$/.exec(t);
  if (m) return Number(m[1]) * 86400 + Number(m[2]) * 3600 + Number(m[3] ?? 0) * 60 + Number(m[4] ?? 0);
  m = /^(\d+)(?::(\d+)(?::(\d+))?)?$/.exec(t);
  if (!m) return undefined;
  if (m[3] !== undefined) return Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3]);
  return Number(m[1]) * 60 + Number(m[2] ?? 0);
}

type Check = (v: unknown) => string | undefined; // a complaint, or undefined when fine

const word: Check = (v) => (typeof v === 'string' && /^[\w.@+-]+$/.test(v) ? undefined : 'must be a name without spaces');
const time: Check = (v) =>
  typeof v === 'string' && parseTimeLimit(v) !== undefined ? undefined : 'must be a Slurm time such as 12:00:00 or 3-00:00:00';
const CHECKS: Readonly<Record<keyof SlurmProfile, Check>> = {
  name: word,
  partition: word,
  qos: word,
  accountRequired: (v) => (typeof v === 'boolean' ? undefined : 'must be true or false'),
  account: word,
  timeLimit: time,
  maxTime: time,
  qosMaxTime: (v) =>
    v !== null && typeof v === 'object' && !Array.isArray(v) && Object.entries(v).every(([k, t]) => !word(k) && !time(t))
      ? undefined
      : 'must map QoS names to Slurm times',
  memPerCpuMb: (v) => (typeof v === 'number' && v > 0 ? undefined : 'must be a positive number of MB'),
  mem: (v) => (typeof v === 'string' && /^\d+[KMGT]?$/i.test(v) ? undefined : "must be a Slurm memory size such as '1G' or '512M'"),
  signalGraceSeconds: (v) =>
    Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 65535 ? undefined : 'must be whole seconds, 0-65535',
  setup: (v) =>
    Array.isArray(v) && v.every((l) => typeof l === 'string' && !l.includes('\n'))
      ? undefined
      : 'must be a list of one-line shell commands',
  serviceUnitsPerCoreHour: (v) => (typeof v === 'number' && v >= 0 ? undefined : 'must be a number >= 0'),
};
const REQUIRED: readonly (keyof SlurmProfile)[] = ['name', 'partition', 'accountRequired', 'timeLimit', 'signalGraceSeconds', 'setup'];

function validated(values: Record<string, unknown>, where: string): Partial<SlurmProfile> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(values)) {
    if (key.startsWith('$') || value === undefined) continue; // "$comment", "$check": notes for people; unset flags
    const check = CHECKS[key as keyof SlurmProfile];
    if (!check) throw new UsageError(`${where}: unknown key "${key}" (known: ${Object.keys(CHECKS).join(', ')})`);
    const complaint = check(value);
    if (complaint) throw new UsageError(`${where}: "${key}" ${complaint}, got ${JSON.stringify(value)}`);
    out[key] = value;
  }
  return out as Partial<SlurmProfile>;
}

/**
 * The profile `name` from slurm/profiles/<name>.json with `overrides` (the user's flags; undefined values ignored)
 * applied and checked: a bad or unknown key, an unknown profile, or a `timeLimit` beyond the partition's and QoS's
 * ceiling is one UsageError line. A QoS override takes its ceiling from `qosMaxTime` when the profile lists it.
 */
export function loadProfile(name: string, overrides: Partial<SlurmProfile> = {}): SlurmProfile {
  if (!PROFILE_NAMES.includes(name)) throw new UsageError(`unknown Slurm profile "${name}" (known: ${PROFILE_NAMES.join(', ')})`);
  const file = `${PROFILE_DIR}${name}.json`;
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new UsageError(`cannot read the Slurm profile ${file}: ${(err as Error).message}`);
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) throw new UsageError(`${file}: not a JSON object`);
  const base = validated(json as Record<string, unknown>, file);
  for (const key of REQUIRED) if (base[key] === undefined) throw new UsageError(`${file}: "${key}" is missing`);
  if (base.name !== name) throw new UsageError(`${file}: "name" is ${JSON.stringify(base.name)}, not "${name}"`);
  const extra = validated(overrides as Record<string, unknown>, `Slurm profile ${name}`);
  const profile = { ...base, ...extra } as SlurmProfile;
  if (extra.qos !== undefined && extra.maxTime === undefined) {
    const ceiling = base.qosMaxTime?.[extra.qos] ?? base.maxTime;
    if (ceiling === undefined) delete profile.maxTime;
    else profile.maxTime = ceiling;
  }
  checkTimeLimit(profile, profile.timeLimit);
  return profile;
}

/** Throws the one-line UsageError when `timeLimit` is beyond what the profile's partition and QoS allow. */
export function checkTimeLimit(profile: SlurmProfile, timeLimit: string): void {
  const seconds = parseTimeLimit(timeLimit);
  if (seconds === undefined) throw new UsageError(`--time ${timeLimit} is not a Slurm time (such as 12:00:00 or 3-00:00:00)`);
  if (seconds === 0 || seconds === Infinity) throw new UsageError(`--time ${timeLimit}: give a finite time limit`);
  const ceiling = profile.maxTime === undefined ? Infinity : parseTimeLimit(profile.maxTime)!;
  if (seconds > ceiling) {
    const qos = profile.qos ? ` with QoS ${profile.qos}` : '';
    throw new UsageError(`--time ${timeLimit} is longer than ${profile.partition}${qos} allows (${profile.maxTime})`);
  }
}
