import { UsageError } from '../errors.js';

/** A duration drawn uniformly from min..max (ms). */
export interface MsRange {
  min: number;
  max: number;
}

/** What /v1/download answers, forever, for a job that never becomes ready (the vendor: 404 or 500). */
export const NEVER_READY_STATUSES = [404, 500, 503] as const;
export type NeverReadyStatus = (typeof NEVER_READY_STATUSES)[number];

/** Every rate is a probability 0..1 per eligible response; all 0 by default. */
export interface SimFaults {
  /** 429 with Retry-After on /v1/ endpoints */
  rate429: number;
  retryAfterSec: number;
  /** 500/503 on any endpoint (/v1/video, /v1/download, /presigned) */
  rate5xx: number;
  /** delay a response by slowMs */
  slowRate: number;
  slowMs: number;
  /** connection destroyed mid-body (presigned / bytes downloads) */
  dropRate: number;
  /** body shorter than its Content-Length, then the socket ends */
  shortBodyRate: number;
  /** the served clip is a tiny (< 1 MB) invalid file, per download */
  tinyRate: number;
  /** the served clip is a full-size but broken bag (unindexed, or cut short) */
  corruptRate: number;
  /** HEAD /v1/download answers 405 */
  headNotAllowedRate: number;
  /** the presigned URL handed out is already expired (403 at /presigned) */
  presignExpiredRate: number;
  /** a job's processing takes longJobMs instead of processingDelayMs, per job */
  longJobRate: number;
  longJobMs: MsRange;
  /** a job never becomes ready: /v1/download answers neverReadyStatus for it forever, per job */
  neverReadyRate: number;
  neverReadyStatus: NeverReadyStatus;
}

export const VIDEO_SHAPES = ['json-object', 'json-string', 'text'] as const;
export const DOWNLOAD_SHAPES = ['redirect-302', 'redirect-307', 'octet-url', 'text-url', 'json-url', 'bytes'] as const;
export type VideoShape = (typeof VIDEO_SHAPES)[number];
export type DownloadShape = (typeof DOWNLOAD_SHAPES)[number];

export interface SimConfig {
  host: '127.0.0.1';
  /** 0 = a free port */
  port: number;
  seed: number;
  vehicles: string[];
  cameras: string[];
  /** target size of a good clip; each clip's exact size varies by a few percent */
  clipBytes: number;
  /** time from /v1/video until the clip is ready */
  processingDelayMs: MsRange;
  /** added to every response outside /_sim */
  latencyMs: number;
  /** multiplies every simulated delay (processing, latency, slowMs, Retry-After); 0.1 = 10x faster */
  timeScale: number;
  /** global requests/s on /v1/ endpoints, 429 beyond it; 0 = off */
  rateLimitPerSec: number;
  /** lifetime of a presigned URL (not scaled) */
  presignTtlSec: number;
  videoShapes: VideoShape[];
  downloadShapes: DownloadShape[];
  /** valid tokens, one per line, re-read on change; a JWT's `exp` is honoured */
  tokenFile?: string;
  /** in-process alternative to tokenFile (both may be given) */
  tokens?: string[];
  /** the one OAuth2 client `/oauth2/token` knows (client credentials grant); absent: that endpoint answers 404 */
  oauthClient?: { id: string; secret: string };
  /** lifetime of a token `/oauth2/token` hands out (not scaled by timeScale) */
  oauthTokenLifetimeSec: number;
  faults: SimFaults;
}

export type SimConfigInput = Partial<Omit<SimConfig, 'faults'>> & { faults?: Partial<SimFaults> };

export const NO_FAULTS: Readonly<SimFaults> = Object.freeze({
  rate429: 0,
  retryAfterSec: 2,
  rate5xx: 0,
  slowRate: 0,
  slowMs: 3000,
  dropRate: 0,
  shortBodyRate: 0,
  tinyRate: 0,
  corruptRate: 0,
  headNotAllowedRate: 0,
  presignExpiredRate: 0,
  longJobRate: 0,
  longJobMs: { min: 150_000, max: 225_000 }, // the vendor's ~1 % of jobs that take 150-225 s
  neverReadyRate: 0,
  neverReadyStatus: 500,
});

export const SIM_DEFAULTS: Readonly<SimConfig> = Object.freeze({
  host: '127.0.0.1',
  port: 0,
  seed: 1,
  vehicles: ['mallory', 'mav', 'megalodon', 'metatron', 'morizo'],
  cameras: ['front-center', 'left-center', 'right-center'],
  clipBytes: 2_000_000,
  processingDelayMs: { min: 300, max: 2500 },
  latencyMs: 0,
  timeScale: 1,
  rateLimitPerSec: 0,
  presignTtlSec: 900,
  oauthTokenLifetimeSec: 3600,
  videoShapes: [...VIDEO_SHAPES],
  downloadShapes: [...DOWNLOAD_SHAPES],
  faults: NO_FAULTS,
} satisfies SimConfig);

/** A clip must hold ~300 messages of ~100 bytes of overhead each plus some image bytes. */
export const MIN_CLIP_BYTES = 64 * 1024;
const MAX_CLIP_BYTES = 256 * 1024 * 1024;

const RATE_KEYS = [
  'rate429',
  'rate5xx',
  'slowRate',
  'dropRate',
  'shortBodyRate',
  'tinyRate',
  'corruptRate',
  'headNotAllowedRate',
  'presignExpiredRate',
  'longJobRate',
  'neverReadyRate',
] as const satisfies readonly (keyof SimFaults)[];

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

function withoutUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** How an option is named in error messages: its config key in-process, its flag in the CLI. */
export type OptionNamer = (key: string) => string;

/** The checks, each throwing a one-line UsageError that names the option the way the caller knows it. */
function checksNamedBy(nameOf: OptionNamer) {
  const that = (ok: boolean, message: string): void => {
    if (!ok) throw new UsageError(message);
  };
  return {
    that,
    number(
      key: string,
      v: number,
      { min, integer = false, max, above = false }: { min: number; integer?: boolean; max?: number; above?: boolean },
    ): void {
      const ok =
        typeof v === 'number' &&
        Number.isFinite(v) &&
        (above ? v > min : v >= min) &&
        (max === undefined || v <= max) &&
        (!integer || Number.isInteger(v));
      const range = max !== undefined ? `${min}..${max}` : `${above ? '>' : '>='} ${min}`;
      that(ok, `${nameOf(key)} must be ${integer ? 'an integer' : 'a number'} ${range}, got ${String(v)}`);
    },
    names(key: string, list: unknown): void {
      that(Array.isArray(list) && list.length > 0, `${nameOf(key)} must name at least one`);
      for (const n of list as unknown[])
        that(typeof n === 'string' && NAME.test(n), `${nameOf(key)}: "${String(n)}" is not a name (letters, digits, . _ -)`);
      that(new Set(list as string[]).size === (list as string[]).length, `${nameOf(key)} lists a name twice`);
    },
    range(key: string, r: MsRange): void {
      this.number(`${key}.min`, r.min, { min: 0 });
      this.number(`${key}.max`, r.max, { min: 0 });
      that(r.max >= r.min, `${nameOf(key)}: max ${r.max} is below min ${r.min}`);
    },
    shapes(key: string, list: unknown, known: readonly string[]): void {
      that(Array.isArray(list) && list.length > 0, `${nameOf(key)} must name at least one of ${known.join(', ')}`);
      for (const v of list as unknown[])
        that(known.includes(v as string), `${nameOf(key)}: unknown shape "${String(v)}" (known: ${known.join(', ')})`);
    },
    faults(f: SimFaults): void {
      for (const key of RATE_KEYS) this.number(`faults.${key}`, f[key], { min: 0, max: 1 });
      this.number('faults.retryAfterSec', f.retryAfterSec, { min: 0, integer: true });
      this.number('faults.slowMs', f.slowMs, { min: 0 });
      this.range('faults.longJobMs', f.longJobMs);
      that(
        (NEVER_READY_STATUSES as readonly number[]).includes(f.neverReadyStatus),
        `${nameOf('faults.neverReadyStatus')} must be one of ${NEVER_READY_STATUSES.join(', ')}, got ${String(f.neverReadyStatus)}`,
      );
    },
  };
}

/**
 * Defaults, then one check per option; nothing downstream checks an option again. `nameOf` names
 * options in the UsageError messages (the CLI passes its flag names).
 */
export function normalizeSimConfig(input: SimConfigInput = {}, nameOf: OptionNamer = (key) => key): SimConfig {
  const check = checksNamedBy(nameOf);
  const o = { ...SIM_DEFAULTS, ...withoutUndefined(input) };
  check.that(o.host === '127.0.0.1', `the simulator listens on 127.0.0.1 only, got host ${String(o.host)}`);
  check.number('port', o.port, { min: 0, max: 65535, integer: true });
  check.number('seed', o.seed, { min: 0, max: 2 ** 32 - 1, integer: true });
  check.names('vehicles', o.vehicles);
  check.names('cameras', o.cameras);
  check.number('clipBytes', o.clipBytes, { min: MIN_CLIP_BYTES, max: MAX_CLIP_BYTES, integer: true });
  check.range('processingDelayMs', o.processingDelayMs);
  check.number('latencyMs', o.latencyMs, { min: 0 });
  check.number('timeScale', o.timeScale, { min: 0, above: true });
  check.number('rateLimitPerSec', o.rateLimitPerSec, { min: 0 });
  check.number('presignTtlSec', o.presignTtlSec, { min: 1, integer: true });
  check.shapes('videoShapes', o.videoShapes, VIDEO_SHAPES);
  check.shapes('downloadShapes', o.downloadShapes, DOWNLOAD_SHAPES);
  check.that(
    o.tokens === undefined || (Array.isArray(o.tokens) && o.tokens.every((t) => typeof t === 'string' && t.length > 0)),
    `${nameOf('tokens')} must be non-empty strings`,
  );
  check.that(
    o.tokenFile === undefined || (typeof o.tokenFile === 'string' && o.tokenFile.length > 0),
    `${nameOf('tokenFile')} must be a path`,
  );
  check.number('oauthTokenLifetimeSec', o.oauthTokenLifetimeSec, { min: 1, integer: true });
  check.that(
    o.oauthClient === undefined ||
      (typeof o.oauthClient.id === 'string' &&
        o.oauthClient.id.length > 0 &&
        typeof o.oauthClient.secret === 'string' &&
        o.oauthClient.secret.length > 0),
    `${nameOf('oauthClient')} needs a non-empty id and secret`,
  );
  const faults = mergeFaults(NO_FAULTS, input.faults ?? {}, nameOf);
  return {
    ...o,
    vehicles: [...o.vehicles],
    cameras: [...o.cameras],
    processingDelayMs: { ...o.processingDelayMs },
    videoShapes: [...new Set(o.videoShapes)],
    downloadShapes: [...new Set(o.downloadShapes)],
    ...(o.tokens ? { tokens: [...o.tokens] } : {}),
    ...(o.oauthClient && { oauthClient: { ...o.oauthClient } }),
    faults,
  };
}

/** The defined fields of `change` over `base`, checked: the config's faults, and setFaults on a running simulator. */
export function mergeFaults(base: Readonly<SimFaults>, change: Partial<SimFaults>, nameOf: OptionNamer = (key) => key): SimFaults {
  const faults = { ...base, ...withoutUndefined(change) };
  checksNamedBy(nameOf).faults(faults);
  return { ...faults, longJobMs: { ...faults.longJobMs } };
}
