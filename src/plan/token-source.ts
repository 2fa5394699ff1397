import { UsageError } from '../errors.js';
import { isLoopback, parseHttpUrl } from './loopback.js';
import type { TokenSourceSettings } from './types.js';

/** The flags of a token source, as `plan` was given them (camelCase). */
export interface TokenSourceInput {
  tokenCommand?: string;
  oauthTokenUrl?: string;
  clientId?: string;
  clientSecretFile?: string;
  scope?: string;
}

/**
 * `--oauth-token-url`: an http(s) URL without credentials, query or fragment (it is stored in the manifest and shown in
 * logs). The client secret travels to it, so plain http:// is refused unless it points at loopback. The token source
 * checks the stored URL again with this function before it sends the secret: a manifest is not trusted blindly.
 */
export function parseTokenUrl(raw: string, what = '--oauth-token-url'): string {
  const url = parseHttpUrl(raw, what);
  if (url.protocol === 'http:' && !isLoopback(url.hostname))
    throw new UsageError(`${what} is plain http:// beyond loopback ('${raw}'): the client secret would travel unencrypted; use https://`);
  return url.href;
}

/** RFC 6749 §3.3: scope tokens of %x21 / %x23-5B / %x5D-7E, separated by single spaces. */
const SCOPE = /^[\x21\x23-\x5b\x5d-\x7e]+( [\x21\x23-\x5b\x5d-\x7e]+)*$/;
const CLIENT_ID = /^[\x21-\x7e]{1,256}$/;

/**
 * The token source of a campaign from `plan`'s flags: undefined (the token file alone), a credential command, or OAuth2
 * client credentials. `resolvePath` makes the client secret's file path absolute (`~` and the working folder).
 */
export function parseTokenSource(input: TokenSourceInput, resolvePath: (raw: string) => string): TokenSourceSettings | undefined {
  const { tokenCommand, oauthTokenUrl, clientId, clientSecretFile, scope } = input;
  for (const [flag, value] of Object.entries({ tokenCommand, oauthTokenUrl, clientId, clientSecretFile, scope }))
    if (Array.isArray(value)) throw new UsageError(`--${flag.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} was given more than once`);
  const oauthFlags = [clientId, clientSecretFile, scope].some((v) => v !== undefined);
  if (tokenCommand !== undefined && (oauthTokenUrl !== undefined || oauthFlags))
    throw new UsageError('--token-command and --oauth-token-url are two token sources: give one of them');
  if (tokenCommand !== undefined) {
    const command = tokenCommand.trim();
    if (command === '' || /[\0\r\n]/.test(command)) throw new UsageError('--token-command must be one line of shell command');
    return { kind: 'command', command };
  }
  if (oauthTokenUrl === undefined) {
    if (oauthFlags) throw new UsageError('--client-id, --client-secret-file and --scope go with --oauth-token-url');
    return undefined;
  }
  if (clientId === undefined || clientSecretFile === undefined || clientSecretFile === '')
    throw new UsageError('--oauth-token-url needs --client-id and --client-secret-file (a file holding the client secret)');
  if (!CLIENT_ID.test(clientId)) throw new UsageError(`--client-id must be 1 to 256 visible ASCII characters, got '${clientId}'`);
  if (scope !== undefined && !SCOPE.test(scope))
    throw new UsageError(`--scope must be scope names separated by single spaces (RFC 6749 §3.3), got '${scope}'`);
  return {
    kind: 'oauth2',
    tokenUrl: parseTokenUrl(oauthTokenUrl),
    clientId,
    clientSecretFile: resolvePath(clientSecretFile),
    ...(scope !== undefined && { scope }),
  };
}

/** Says what renews a campaign's token, for logs, `status` and `fleetclip token`: never a secret. */
export function describeTokenSource(source: TokenSourceSettings): string {
  return source.kind === 'command'
    ? `the credential command \`${source.command}\``
    : `OAuth2 client credentials of client '${source.clientId}' at ${source.tokenUrl}`;
}
