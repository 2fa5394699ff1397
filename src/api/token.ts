import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { type FleetclipError, UsageError } from '../errors.js';
import { moveIntoPlace, removeQuietly, storageErrorFrom } from '../storage/index.js';

export const TOKEN_ENV = 'FLEETCLIP_TOKEN';
export const DEFAULT_TOKEN_FILE = path.join(os.homedir(), '.config', 'fleetclip', 'token');

export interface Token {
  value: string;
  /** the JWT `exp` claim (epoch seconds), when the token is a JWT that has one */
  expiresAtSec?: number;
}

/**
 * Where the bearer token comes from. A file is re-read whenever its size, mtime or inode changes,
 * so a token renewed mid-run reaches running workers; the environment variable is fixed for the run.
 */
export interface TokenSource {
  readonly kind: 'file' | 'env';
  /** the file path, or the name of the environment variable: safe to print */
  readonly where: string;
  /** whether a new token can arrive while we run (only a file can change) */
  readonly renewable: boolean;
  current(): Promise<Token>;
  /** what renews the token file when the campaign has a token source (a credential command, OAuth2); absent: a person */
  readonly renewer?: TokenRenewer;
}

/**
 * A program that renews the token file for every worker of a campaign (src/worker/token-keeper.ts): the API client
 * tells it of a refused token and waits for the file to change, as it would for a person.
 */
export interface TokenRenewer {
  /** what renews the token, for messages: never a secret */
  readonly via: string;
  /** the Batch API refused `token`, the token file's current one: have it renewed (once for the whole campaign) */
  refused(token: Token): void;
  /** set once the source failed for good (refused credentials): requests waiting for a renewal end with it */
  readonly failure: FleetclipError | undefined;
}

export interface TokenSourceInput {
  /** an explicit --token-file wins over the environment */
  tokenFile?: string;
  env?: NodeJS.ProcessEnv;
  renewer?: TokenRenewer;
}

export function openTokenSource({ tokenFile, env = process.env, renewer }: TokenSourceInput = {}): TokenSource {
  if (tokenFile === undefined && env[TOKEN_ENV]?.trim()) {
    const token = parseToken(env[TOKEN_ENV], TOKEN_ENV);
    return { kind: 'env', where: TOKEN_ENV, renewable: false, current: async () => token };
  }
  return fileTokenSource(path.resolve(tokenFile ?? DEFAULT_TOKEN_FILE), renewer);
}

function fileTokenSource(file: string, renewer: TokenRenewer | undefined): TokenSource {
  let cached: { stamp: string; token: Token } | undefined;
  return {
    kind: 'file',
    where: file,
    renewable: true,
    ...(renewer && { renewer }),
    async current() {
      try {
        const s = await stat(file);
        const stamp = `${s.ino}:${s.size}:${s.mtimeMs}:${s.ctimeMs}`;
        if (cached?.stamp !== stamp) cached = { stamp, token: parseToken(await readFile(file, 'utf8'), file) };
      } catch (err) {
        // A renewal that replaces the file may briefly leave it missing or empty: keep the last good token.
        if (cached) return cached.token;
        if (err instanceof UsageError) throw err;
        const code = (err as NodeJS.ErrnoException).code ?? String(err);
        throw new UsageError(`cannot read the token file ${file}: ${code}; put the Batch API token in it (or set ${TOKEN_ENV})`);
      }
      return cached.token;
    },
  };
}

/** The first non-empty line, without a `Bearer ` prefix. A token can only hold header-safe characters. */
export function parseToken(text: string | undefined, where: string): Token {
  const line = (text ?? '')
    .split(/\r?\n/)
    .map((l) => l.trim())
    .find((l) => l.length > 0);
  const value = line?.replace(/^Bearer\s+/i, '');
  if (!value) throw new UsageError(`the token in ${where} is empty`);
  if (!/^[\x21-\x7e]+$/.test(value)) throw new UsageError(`the token in ${where} holds spaces or non-ASCII characters`);
  const expiresAtSec = jwtExpiry(value);
  return expiresAtSec === undefined ? { value } : { value, expiresAtSec };
}

/** The `exp` claim of a JWT (no signature check: we only want to know when it stops working). */
export function jwtExpiry(token: string): number | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  try {
    const claims: unknown = JSON.parse(Buffer.from(parts[1] ?? '', 'base64url').toString('utf8'));
    const exp = (claims as { exp?: unknown } | null)?.exp;
    return typeof exp === 'number' && Number.isFinite(exp) ? exp : undefined;
  } catch {
    return undefined;
  }
}

export interface TokenReport {
  kind: TokenSource['kind'];
  where: string;
  isJwt: boolean;
  expiresAtSec?: number;
  /** negative once expired */
  remainingSec?: number;
  expired: boolean;
  /** set when the token file can be read by group or others */
  permissionWarning?: string;
}

/** What `fleetclip token` shows: expiry, time left, and whether the file is too open. */
export async function inspectToken(source: TokenSource, nowMs = Date.now()): Promise<TokenReport> {
  const token = await source.current();
  const report: TokenReport = { kind: source.kind, where: source.where, isJwt: token.expiresAtSec !== undefined, expired: false };
  if (token.expiresAtSec !== undefined) {
    report.expiresAtSec = token.expiresAtSec;
    report.remainingSec = Math.floor(token.expiresAtSec - nowMs / 1000);
    report.expired = report.remainingSec <= 0;
  }
  const permissionWarning = await tokenFileWarning(source);
  return permissionWarning === undefined ? report : { ...report, permissionWarning };
}

/**
 * A warning when the token file can be read by group or others (`fleetclip token`, and every worker once as it
 * starts); undefined when it cannot, for a token from the environment, and for a file it cannot stat (its first
 * read says why).
 */
export async function tokenFileWarning(source: TokenSource): Promise<string | undefined> {
  if (source.kind !== 'file') return undefined;
  const mode = await stat(source.where).then(
    (s) => s.mode & 0o777,
    () => 0,
  );
  if (!(mode & 0o044)) return undefined;
  return `${source.where} is readable by group or others (mode ${mode.toString(8).padStart(4, '0')}): chmod 600 ${source.where}`;
}

/**
 * Refuses a file that group or others may use in any way: a client secret, or a token file that a program renews.
 * `what` names it in the message, which says what to run.
 */
export async function assertOwnerOnly(file: string, what: string): Promise<void> {
  let mode: number;
  try {
    mode = (await stat(file)).mode & 0o777;
  } catch (err) {
    throw new UsageError(`cannot read the ${what} ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { path: file });
  }
  if (mode & 0o077)
    throw new UsageError(
      `the ${what} ${file} is open to group or others (mode ${mode.toString(8).padStart(4, '0')}): run \`chmod 600 ${file}\``,
      { path: file },
    );
}

/**
 * Writes a renewed token into the token file every worker re-reads: a temporary beside it created owner-only (0600),
 * written, fsynced, then renamed over the file (and the folder fsynced), so a reader sees the old token or the new one,
 * never a part.
 */
export async function storeToken(file: string, value: string): Promise<void> {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`);
  try {
    await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
    const handle = await open(tmp, 'wx', 0o600);
    try {
      await handle.writeFile(`${value}\n`);
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch (err) {
    await removeQuietly(tmp);
    throw storageErrorFrom(err, tmp, 'write the renewed token to');
  }
  try {
    await moveIntoPlace(tmp, file);
  } catch (err) {
    await removeQuietly(tmp);
    throw err;
  }
}
