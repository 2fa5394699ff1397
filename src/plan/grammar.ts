import { UsageError } from '../errors.js';
import { isLoopback, parseHttpUrl } from './loopback.js';
import { type CampaignSettings, SHARD_SECONDS, SLOT_SECONDS, type MissStrategy } from './types.js';

/**
 * The one grammar of each campaign option that more than one command reads: names, the missing-data strategy, the
 * API base. `plan` parses them into `CampaignSettings`; `work` and `fetch` parse their overrides with the same
 * functions. No heavy imports here: workers load this module without the planner's time-zone tables.
 */

/** Vehicle and camera names end up in paths, file names and sbatch scripts: nothing a shell or a path could read. */
export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]*$/;
export const NAME_MAX_LENGTH = 64;

export type NameKind = 'vehicle' | 'camera';

/**
 * One name. `_` separates vehicle and camera in clip file names (`<vehicle>_<camera>_<stamp>_30s.bag`), so a vehicle
 * name may not contain it: then the first `_` of a file name always ends the vehicle, and no two (vehicle, camera)
 * pairs share a file name (`car`/`front_left` and `car_front`/`left` would). Camera names may contain `_`.
 */
export function parseName(kind: NameKind, raw: string, flag = `--${kind}`): string {
  const name = raw.trim();
  if (!NAME_PATTERN.test(name) || name.length > NAME_MAX_LENGTH)
    throw new UsageError(
      `${flag}: '${name}' is not a valid ${kind} name (letters, digits, '_' and '-', starting with a letter or digit, at most ${NAME_MAX_LENGTH} characters)`,
    );
  if (kind === 'vehicle' && name.includes('_'))
    throw new UsageError(
      `${flag}: '${name}' contains '_', which ends the vehicle name in clip file names (<vehicle>_<camera>_<time>_30s.bag); use '-' instead`,
    );
  return name;
}

/** A comma-separated list (or a repeated flag) of names → sorted, without duplicates. */
export function parseNameList(kind: NameKind, raw: string | readonly string[] | undefined): string[] {
  const flag = `--${kind}s`;
  const items = [raw ?? []]
    .flat()
    .flatMap((part) => part.split(','))
    .map((name) => name.trim())
    .filter((name) => name !== '');
  if (items.length === 0) throw new UsageError(`${flag} needs at least one name`);
  return [...new Set(items.map((name) => parseName(kind, name, flag)))].sort();
}

// the token source's grammar: a worker's token source checks the stored token URL again with it
export { describeTokenSource, parseTokenSource, parseTokenUrl } from './token-source.js';
export type { TokenSourceInput } from './token-source.js';

/** `gallop` without a number: strides grow up to 8 slots (4 minutes). */
export const GALLOP_DEFAULT_MAX_STRIDE_SECONDS = 8 * SLOT_SECONDS;

const ON_MISS_FORMS = `probe-all, skip:SECS or gallop[:MAXSTRIDE_SECS] (SECS a multiple of ${SLOT_SECONDS} up to ${SHARD_SECONDS})`;

/** `--on-miss`: `probe-all`, `skip:SECS` or `gallop[:MAXSTRIDE_SECS]`, seconds whole multiples of the slot up to an hour. */
export function parseOnMiss(text: string): MissStrategy {
  const [name, arg, extra] = text.trim().split(':');
  const seconds = (): number => {
    const n = Number(arg);
    if (arg === undefined || !/^\d+$/.test(arg) || n < SLOT_SECONDS || n % SLOT_SECONDS !== 0 || n > SHARD_SECONDS)
      throw new UsageError(`--on-miss must be ${ON_MISS_FORMS}, got '${text}'`);
    return n;
  };
  if (extra === undefined) {
    if (name === 'probe-all' && arg === undefined) return { kind: 'probe-all' };
    if (name === 'skip') return { kind: 'skip', skipSeconds: seconds() };
    if (name === 'gallop') return { kind: 'gallop', maxStrideSeconds: arg === undefined ? GALLOP_DEFAULT_MAX_STRIDE_SECONDS : seconds() };
  }
  throw new UsageError(`--on-miss must be ${ON_MISS_FORMS}, got '${text}'`);
}

export function formatOnMiss(s: MissStrategy): string {
  if (s.kind === 'skip') return `skip:${s.skipSeconds}`;
  if (s.kind === 'gallop') return `gallop:${s.maxStrideSeconds}`;
  return 'probe-all';
}

/**
 * `--api-base`: an http(s) URL without credentials, query or fragment (it is stored in the manifest and shown in
 * logs), in one canonical form: origin and path without a trailing slash. The API client appends `/v1/...` to it.
 * The bearer token goes to it with every request, so plain http:// is refused unless it points at loopback or the
 * campaign opted in with `--insecure-http`. Workers, `run` and `fetch` parse the stored base again with this
 * function; `what` names the value in messages (the flag, or where a stored value came from), `optIn` says how to
 * allow plain http.
 */
export function parseApiBase(
  raw: string,
  {
    insecureHttp = false,
    what = '--api-base',
    optIn = 'allow it with --insecure-http',
  }: { insecureHttp?: boolean; what?: string; optIn?: string } = {},
): string {
  const url = parseHttpUrl(raw, what);
  if (url.protocol === 'http:' && !insecureHttp && !isLoopback(url.hostname))
    throw new UsageError(
      `${what} is plain http:// beyond loopback ('${raw}'), so the token would travel unencrypted: use https://, or ${optIn}`,
    );
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}

/** The API base of a planned campaign, checked again as `plan` checked it: a worker trusts no manifest blindly. */
export function campaignApiBase(settings: Pick<CampaignSettings, 'apiBase' | 'insecureHttp'>, manifestPath: string): string {
  return parseApiBase(settings.apiBase, {
    insecureHttp: settings.insecureHttp === true,
    what: `the API base of the campaign in ${manifestPath}`,
    optIn: 'allow it with `fleetclip plan --extend` and the same arguments plus --insecure-http',
  });
}

/** `--dest` of `fleetclip archive`: a folder, or a path on an rclone remote. */
export type ArchiveDestination = { kind: 'folder'; path: string } | { kind: 'rclone'; remote: string };

const RCLONE_PREFIX = 'rclone:';

/**
 * `rclone:NAME:path` is `path` on the rclone remote NAME (`rclone:box:fleet/archive`), NAME also being any of
 * rclone's connection strings (`rclone::local:/scratch/archive`); anything else is a folder, returned as given for
 * the caller to resolve. One form per destination: a trailing slash is dropped, so the manifest names it once.
 */
export function parseArchiveDestination(raw: string): ArchiveDestination {
  const text = raw.trim();
  if (text === '') throw new UsageError('--dest needs a folder or rclone:NAME:path');
  if (!text.startsWith(RCLONE_PREFIX)) return { kind: 'folder', path: text };
  const remote = text.slice(RCLONE_PREFIX.length).replace(/(?<=[^:/])\/+$/, '');
  if (!/^:?[^:/\s]+:/.test(remote))
    throw new UsageError(`--dest: '${raw}' is not rclone:NAME:path (e.g. rclone:box:fleet/archive or rclone::local:/scratch/archive)`);
  // a connection string's parameters are stored in the manifest and shown in reports and `ps`: no credentials there
  const secretParameter = /^:?[^:]*/
    .exec(remote)![0]
    .split(',')
    .slice(1)
    .map((parameter) => parameter.split('=')[0]!.trim())
    .find((name) => SECRET_PARAMETER.test(name));
  if (secretParameter)
    throw new UsageError(
      `--dest: the rclone connection string sets ${secretParameter}, which would be stored in the manifest and shown by ps: ` +
        `put it in rclone's configuration (rclone config) or its environment (RCLONE_CONFIG_<NAME>_${secretParameter.toUpperCase()})`,
    );
  return { kind: 'rclone', remote };
}

/** Connection-string parameters that carry a credential (rclone's backends name them so: access_key_id, pass, sas_url…). */
const SECRET_PARAMETER = /key|secret|pass|token|credential|sas_url|auth_url/i;

/** How the manifest and messages name a destination: the folder, or `rclone:NAME:path`. */
export function formatArchiveDestination(destination: ArchiveDestination): string {
  return destination.kind === 'folder' ? destination.path : `${RCLONE_PREFIX}${destination.remote}`;
}
