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
 * A short, printable piece of a response body for an error message: control characters flattened,
 * query strings and bearer tokens (and any listed secret) cut out.
 */
export function bodySnippet(body: Buffer | string, secrets: readonly string[] = [], max = 80): string {
  let text = (typeof body === 'string' ? body : body.subarray(0, 4 * max).toString('utf8'))
    .replace(/[\u0000-\u001f\u007f-\u009f]+/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  for (const secret of secrets) if (secret) text = text.split(secret).join('[redacted]');
  text = text.replace(/Bearer\s+\S+/gi, 'Bearer [redacted]').replace(/\?\S*/g, '?…');
  return text.length > max ? `${text.slice(0, max)}…` : text;
}
