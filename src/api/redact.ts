/** A URL fit for a log line or an error: origin and path, never the query (presigned signatures live there). */
export function urlForLog(url: string | URL): string {
  try {
    const u = new URL(url);
    return `${u.origin}${u.pathname}`;
  } catch {
    return '(unparseable URL)';
  }
}

/** A presigned URL may carry its signature in the path as well: show only where it points. */
export function presignedForLog(url: string | URL): string {
  try {
    return `${new URL(url).origin}/…`;
  } catch {
    return '(unparseable URL)';
  }
}

/**
 * Pieces of a secret this long or longer are cut out wherever they stand: a body cut at either end (by us, or by a
 * server that truncates) leaves a prefix or a suffix of a token, and a hostile server may quote any part of it.
 */
export const SECRET_PIECE_CHARS = 8;

const asciiLower = (text: string): string => text.replace(/[A-Z]/g, (c) => c.toLowerCase());

/**
 * `text` with every run of characters made of pieces of a secret (at least `SECRET_PIECE_CHARS` long, or the whole
 * secret when shorter) replaced by `[redacted]`. Letters match in either case: a URL's scheme and host are lowercased
 * on the way. Linear in the text: each window is looked up among the secret's pieces.
 */
export function redactSecrets(text: string, secrets: readonly string[]): string {
  const lower = asciiLower(text);
  const covered = new Uint8Array(text.length);
  for (const secret of secrets) {
    if (!secret) continue;
    const size = Math.min(SECRET_PIECE_CHARS, secret.length);
    const key = asciiLower(secret);
    const pieces = new Set<string>();
    for (let i = 0; i + size <= key.length; i++) pieces.add(key.slice(i, i + size));
    for (let i = 0; i + size <= lower.length; i++) if (pieces.has(lower.slice(i, i + size))) covered.fill(1, i, i + size);
  }
  let out = '';
  for (let i = 0; i < text.length;) {
    if (!covered[i]) {
      out += text[i++];
      continue;
    }
    out += '[redacted]';
    while (covered[i]) i++;
  }
  return out;
}

/**
 * A short, printable piece of a response body for an error message: secrets cut out first (then nothing of one is
 * left at the cut), control characters flattened, bearer tokens and query strings cut out, then cut to `max`.
 */
export function bodySnippet(body: Buffer | string, secrets: readonly string[] = [], max = 80): string {
  const text = redactSecrets(typeof body === 'string' ? body : body.toString('utf8'), secrets)
    .replace(/[\u0000-\u001f\u007f-\u009f]+/g, ' ')
    .replace(/\s+/g, ' ')
    .trim()
    .replace(/Bearer\s+\S+/gi, 'Bearer [redacted]')
    .replace(/\?\S*/g, '?…');
  return text.length > max ? `${text.slice(0, max)}…` : text;
}
