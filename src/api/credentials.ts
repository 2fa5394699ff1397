import { execFile } from 'node:child_process';
import { readFile, stat } from 'node:fs/promises';
import got, { RequestError } from 'got';
import { TokenSourceError, UsageError } from '../errors.js';
import { parseTokenUrl } from '../plan/grammar.js';
import type { TokenSourceSettings } from '../plan/types.js';
import { bodySnippet } from './redact.js';
import { assertOwnerOnly, jwtExpiry, parseToken } from './token.js';

/** A token a source gave, with its expiry when the source said it (or the token is a JWT with `exp`). */
export interface ObtainedToken {
  value: string;
  expiresAtMs?: number;
}

/** How long a token source may take, and how much it may print. `docs/api.md` explains each. */
export interface TokenSourceLimits {
  requestTimeoutMs: number;
  commandTimeoutMs: number;
  maxAnswerBytes: number;
}

export const TOKEN_SOURCE_DEFAULTS: Readonly<TokenSourceLimits> = Object.freeze({
  /** one POST to the OAuth2 token URL, connection to the last byte */
  requestTimeoutMs: 30_000,
  /** one run of the credential command */
  commandTimeoutMs: 60_000,
  /** the largest token answer read (a token URL's body, the command's stdout) */
  maxAnswerBytes: 64 * 1024,
});

/**
 * Asks a campaign's token source for a new token: one POST to the token URL, or one run of the credential command (in
 * `cwd`, the run folder). Throws TokenSourceError, `retryable` when trying again later may help. Nothing it says holds
 * the secret, the token or the command's output.
 */
export async function obtainToken(
  source: TokenSourceSettings,
  cwd: string,
  limits: TokenSourceLimits = TOKEN_SOURCE_DEFAULTS,
): Promise<ObtainedToken> {
  return source.kind === 'command' ? runCredentialCommand(source.command, cwd, limits) : requestClientCredentials(source, limits);
}

/**
 * Refuses (UsageError, with the chmod to run) a campaign whose client secret file is missing or open to group or others,
 * or whose token file, when it exists, is: `plan` and `submit` check before any worker starts.
 */
export async function assertTokenSourceFiles(source: TokenSourceSettings, tokenFile: string): Promise<void> {
  if (source.kind === 'oauth2') await assertOwnerOnly(source.clientSecretFile, 'client secret file');
  const tokenFileExists = await stat(tokenFile).then(
    () => true,
    () => false,
  );
  if (tokenFileExists) await assertOwnerOnly(tokenFile, 'token file');
}

/** A configuration the source cannot work with (a UsageError) fails for good: trying again would not help. */
async function refusedForGood<T>(check: () => T | Promise<T>): Promise<T> {
  try {
    return await check();
  } catch (err) {
    if (err instanceof UsageError) throw new TokenSourceError(err.message, false, { cause: err });
    throw err;
  }
}

/** The secret's first non-empty line, from a file only its owner may read (refused otherwise, with the chmod to run). */
async function readClientSecret(file: string): Promise<string> {
  await refusedForGood(() => assertOwnerOnly(file, 'client secret file'));
  const text = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
    throw new TokenSourceError(`cannot read the client secret file ${file}: ${err.code ?? err.message}`, false);
  });
  const secret = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .find((l) => l !== '');
  if (!secret) throw new TokenSourceError(`the client secret file ${file} is empty`, false);
  return secret;
}

/** RFC 6749 §2.3.1: id and secret are form-encoded before they are joined for HTTP Basic. */
const formEncoded = (text: string): string => encodeURIComponent(text).replace(/%20/g, '+');

/** The statuses after which the same request may succeed later. */
const RETRYABLE_STATUS = new Set([408, 429, 500, 502, 503, 504]);

/**
 * RFC 6749 §4.4: POST `grant_type=client_credentials` (and `scope`) with the client's id and secret in HTTP Basic auth,
 * to the token URL only: redirects are never followed, so the secret cannot be sent on to another address.
 */
async function requestClientCredentials(
  source: Extract<TokenSourceSettings, { kind: 'oauth2' }>,
  limits: TokenSourceLimits,
): Promise<ObtainedToken> {
  const tokenUrl = await refusedForGood(() => parseTokenUrl(source.tokenUrl, `the token URL ${source.tokenUrl}`));
  const secret = await readClientSecret(source.clientSecretFile);
  const form = new URLSearchParams({ grant_type: 'client_credentials', ...(source.scope !== undefined && { scope: source.scope }) });
  const where = `the token URL ${tokenUrl}`;
  const startedMs = Date.now();
  let res;
  try {
    res = await got.post(tokenUrl, {
      body: form.toString(),
      headers: {
        authorization: `Basic ${Buffer.from(`${formEncoded(source.clientId)}:${formEncoded(secret)}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
        accept: 'application/json',
        'user-agent': 'fleetclip',
      },
      followRedirect: false,
      throwHttpErrors: false,
      retry: { limit: 0 },
      timeout: { request: limits.requestTimeoutMs },
      responseType: 'text',
    });
  } catch (err) {
    const code = err instanceof RequestError ? err.code || err.name : String(err);
    throw new TokenSourceError(`cannot reach ${where}: ${code}`, true);
  }
  const status = res.statusCode;
  const body = res.body.slice(0, limits.maxAnswerBytes);
  if (status === 200) return tokenOfGrant(body, startedMs, where);
  if (RETRYABLE_STATUS.has(status)) throw new TokenSourceError(`${where} answered HTTP ${status}`, true);
  if (status >= 300 && status < 400)
    throw new TokenSourceError(`${where} answered a redirect (HTTP ${status}), which is not followed: configure the final URL`, false);
  throw new TokenSourceError(
    `the identity provider refused the client credentials of '${source.clientId}': ${grantError(body, [secret])} (${where}, HTTP ${status})`,
    false,
  );
}

/** RFC 6749 §5.2: `error` and `error_description`, cut short and without the secret; else a snippet of the body. */
function grantError(body: string, secrets: readonly string[]): string {
  try {
    const doc = JSON.parse(body) as { error?: unknown; error_description?: unknown };
    if (typeof doc.error === 'string') {
      const description = typeof doc.error_description === 'string' ? `: ${doc.error_description}` : '';
      return bodySnippet(`${doc.error}${description}`, secrets, 160);
    }
  } catch {
    // not JSON: a snippet of what it is
  }
  return `"${bodySnippet(body, secrets)}"`;
}

/** RFC 6749 §5.1: `access_token`, `token_type` Bearer, `expires_in` seconds (else a JWT's `exp`, else unknown). */
function tokenOfGrant(body: string, startedMs: number, where: string): ObtainedToken {
  let doc: { access_token?: unknown; token_type?: unknown; expires_in?: unknown };
  try {
    doc = JSON.parse(body) as typeof doc;
  } catch {
    throw new TokenSourceError(`${where} answered 200 without JSON`, true);
  }
  if (typeof doc.access_token !== 'string' || doc.access_token === '')
    throw new TokenSourceError(`${where} answered 200 without an access_token`, false);
  if (doc.token_type !== undefined && String(doc.token_type).toLowerCase() !== 'bearer')
    throw new TokenSourceError(`${where} handed out a token that is not of type Bearer`, false);
  const value = checkedToken(doc.access_token, where);
  const seconds = Number(doc.expires_in);
  if (doc.expires_in !== undefined && Number.isFinite(seconds) && seconds > 0) return { value, expiresAtMs: startedMs + seconds * 1000 };
  return withJwtExpiry(value);
}

/** A token as the token file would hold it (one line of header-safe characters), or a TokenSourceError saying why not. */
function checkedToken(raw: string, where: string): string {
  try {
    return parseToken(raw, where).value;
  } catch (err) {
    // parseToken's message names `where` only: the token itself is never quoted
    throw new TokenSourceError((err as Error).message, false);
  }
}

function withJwtExpiry(value: string): ObtainedToken {
  const exp = jwtExpiry(value);
  return exp === undefined ? { value } : { value, expiresAtMs: exp * 1000 };
}

/**
 * Runs `sh -c COMMAND` in the run folder, nothing secret on its command line, and reads its stdout: a bare token (the
 * first non-empty line) or JSON `{"token": "…", "expiresAt": "ISO-8601"}`. A command that is not found (126, 127) or
 * prints no usable token fails for good; one that fails otherwise or times out may succeed later. Its stderr is quoted
 * (first line) in the error, its stdout never.
 */
function runCredentialCommand(command: string, cwd: string, limits: TokenSourceLimits): Promise<ObtainedToken> {
  const where = 'the credential command';
  return new Promise((resolve, reject) => {
    execFile(
      '/bin/sh',
      ['-c', command],
      { cwd, timeout: limits.commandTimeoutMs, maxBuffer: limits.maxAnswerBytes, encoding: 'utf8', windowsHide: true },
      (err, stdout, stderr) => {
        const said = bodySnippet(stderr.split('\n').find((l) => l.trim() !== '') ?? '', [stdout.trim()], 160);
        const saying = said ? `: ${said}` : '';
        if (err) {
          const e = err as Omit<NodeJS.ErrnoException, 'code'> & { code?: number | string; killed?: boolean; signal?: string | null };
          if (e.code === 'ERR_CHILD_PROCESS_STDIO_MAXBUFFER')
            return reject(new TokenSourceError(`${where} printed more than ${limits.maxAnswerBytes} bytes`, false));
          if (e.killed || e.signal)
            return reject(new TokenSourceError(`${where} was stopped after ${limits.commandTimeoutMs / 1000} s${saying}`, true));
          if (e.code === 126 || e.code === 127 || typeof e.code === 'string')
            return reject(new TokenSourceError(`${where} could not run (${String(e.code)})${saying}`, false));
          return reject(new TokenSourceError(`${where} exited ${String(e.code)}${saying}`, true));
        }
        try {
          resolve(tokenOfCommandOutput(stdout, where));
        } catch (parseErr) {
          reject(parseErr);
        }
      },
    );
  });
}

/** A bare token, or JSON `{"token", "expiresAt"}` (like AWS credential_process, kubectl exec plugins). */
function tokenOfCommandOutput(stdout: string, where: string): ObtainedToken {
  const text = stdout.trim();
  if (!text.startsWith('{')) return withJwtExpiry(checkedToken(text, `${where}'s output`));
  let doc: { token?: unknown; expiresAt?: unknown };
  try {
    doc = JSON.parse(text) as typeof doc;
  } catch {
    throw new TokenSourceError(`${where} printed something that starts like JSON but is not`, false);
  }
  if (typeof doc.token !== 'string') throw new TokenSourceError(`${where} printed JSON without a "token" string`, false);
  const value = checkedToken(doc.token, where);
  if (doc.expiresAt === undefined) return withJwtExpiry(value);
  const expiresAtMs = typeof doc.expiresAt === 'string' ? Date.parse(doc.expiresAt) : NaN;
  if (Number.isNaN(expiresAtMs)) throw new TokenSourceError(`${where} printed an "expiresAt" that is not an ISO-8601 time`, false);
  return { value, expiresAtMs };
}
