/**
 * Bearer tokens: JWT-shaped strings minted for the demo, and the set of valid tokens, read from a
 * file that is re-read whenever it changes (so a test or an operator can renew or revoke a token).
 */
import { createHmac, randomBytes } from 'node:crypto';
import { chmodSync, renameSync, statSync, readFileSync, writeFileSync } from 'node:fs';

export type TokenVerdict = 'ok' | 'unknown' | 'expired';

const base64url = (data: string | Buffer): string => Buffer.from(data).toString('base64url');

/** header.payload.signature (base64url), HS256 over a throw-away key: the shape of a real JWT with `exp`. */
export function mintToken({ expiresAtSec, subject = 'fleetclip' }: { expiresAtSec: number; subject?: string }): string {
  const header = base64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const payload = base64url(
    JSON.stringify({
      sub: subject,
      iat: Math.floor(Date.now() / 1000),
      exp: Math.floor(expiresAtSec),
      jti: randomBytes(8).toString('hex'),
    }),
  );
  const signature = createHmac('sha256', randomBytes(32)).update(`${header}.${payload}`).digest('base64url');
  return `${header}.${payload}.${signature}`;
}

/** The `exp` claim (epoch s) of a JWT-shaped token, or undefined when it has none. */
export function expiryOf(token: string): number | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  try {
    const exp = (JSON.parse(Buffer.from(parts[1] as string, 'base64url').toString('utf8')) as { exp?: unknown }).exp;
    return typeof exp === 'number' && Number.isFinite(exp) ? exp : undefined;
  } catch {
    return undefined;
  }
}

/** Writes `token` as the only line of `file`, mode 0600, atomically (write then rename). */
export function writeTokenFile(file: string, token: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${token}\n`, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, file);
}

/** Tokens from a list and/or a file; the file is re-read when its mtime, size or inode change. */
export class TokenStore {
  private fileTokens = new Set<string>();
  private fileStamp = '';
  private readonly fixed: Set<string>;
  /** handed out by `/oauth2/token` */
  private readonly issued = new Set<string>();

  constructor(
    private readonly file: string | undefined,
    tokens: readonly string[] = [],
  ) {
    this.fixed = new Set(tokens);
  }

  get configured(): boolean {
    return this.file !== undefined || this.fixed.size > 0;
  }

  /** a token `/oauth2/token` handed out: valid until its `exp` */
  issue(token: string): void {
    this.issued.add(token);
  }

  /** every token handed out so far (tests look for them where they must not be) */
  issuedTokens(): string[] {
    return [...this.issued];
  }

  check(token: string, nowSec = Date.now() / 1000): TokenVerdict {
    this.refresh();
    if (!this.fixed.has(token) && !this.fileTokens.has(token) && !this.issued.has(token)) return 'unknown';
    const exp = expiryOf(token);
    return exp !== undefined && exp <= nowSec ? 'expired' : 'ok';
  }

  /** Whether any token it knows (valid or expired) appears in `text`: what the leak counter looks for. */
  mentionedIn(text: string): boolean {
    this.refresh();
    for (const token of [...this.fixed, ...this.fileTokens, ...this.issued]) if (text.includes(token)) return true;
    return false;
  }

  private refresh(): void {
    if (this.file === undefined) return;
    let stamp: string;
    try {
      const s = statSync(this.file);
      stamp = `${s.ino}:${s.size}:${s.mtimeMs}:${s.ctimeMs}`;
    } catch {
      stamp = 'missing';
    }
    if (stamp === this.fileStamp) return;
    this.fileStamp = stamp;
    let text = '';
    try {
      text = stamp === 'missing' ? '' : readFileSync(this.file, 'utf8');
    } catch {
      // unreadable now: no valid tokens until it changes again
    }
    this.fileTokens = new Set(
      text
        .split('\n')
        .map((l) => l.trim().replace(/^Bearer\s+/i, '')) // as the client reads a token file
        .filter((l) => l.length > 0 && !l.startsWith('#')),
    );
  }
}
