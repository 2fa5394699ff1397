import { UsageError } from '../errors.js';

/** Where plain http:// may point (an API base, a token URL): this machine (the simulator, a tunnel's local end). */
export function isLoopback(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(hostname);
}

/**
 * An http(s) URL without credentials, query or fragment (what is stored in a manifest and shown in logs), or a
 * UsageError naming `what`; whether plain http:// may be used is each caller's rule.
 */
export function parseHttpUrl(raw: string, what: string): URL {
  let url: URL | undefined;
  try {
    url = new URL(raw);
  } catch {
    url = undefined;
  }
  if (!url || !['http:', 'https:'].includes(url.protocol) || url.username || url.password || url.search || url.hash)
    throw new UsageError(`${what} must be an http(s) URL without credentials, query or fragment, got '${raw}'`);
  return url;
}
