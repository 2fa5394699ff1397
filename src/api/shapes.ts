import { ApiProtocolError, type ErrorContext } from '../errors.js';
import { bodySnippet } from './redact.js';

/** Pure readers of the Batch API's 200 bodies. Anything unknown is an ApiProtocolError with a snippet. */

const FILENAME_KEYS = ['filename', 'fileName', 'file_name', 'file'] as const;
const URL_KEYS = ['url', 'download_url', 'downloadUrl', 'presigned_url'] as const;

function mediaType(contentType: string | undefined): string {
  return (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}

const isJson = (type: string): boolean => type === 'application/json' || type.endsWith('+json');

function protocolError(what: string, contentType: string | undefined, body: Buffer, context: ErrorContext, secrets: readonly string[]) {
  return new ApiProtocolError(`${what}: content-type ${contentType ?? '(none)'}, body "${bodySnippet(body, secrets)}"`, context);
}

/** A server file name is sent back as a query parameter only, but it must still be a plain, printable string. */
const usableFilename = (v: unknown): v is string => typeof v === 'string' && /^[\x21-\x7e]{1,512}$/.test(v);

function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
}

/** /v1/video 200: a JSON object with a file name, a JSON string, or plain text ending `.bag`. */
export function parseVideoBody(
  contentType: string | undefined,
  body: Buffer,
  context: ErrorContext = {},
  secrets: readonly string[] = [],
): string {
  const type = mediaType(contentType);
  const text = body.toString('utf8').trim();
  const json = isJson(type) || /^[{"]/.test(text) ? parseJson(body) : undefined;
  let name: unknown;
  if (typeof json === 'string') name = json;
  else if (json && typeof json === 'object')
    name = FILENAME_KEYS.map((k) => (json as Record<string, unknown>)[k]).find((v) => v !== undefined);
  else if (!isJson(type) && /\.bag$/i.test(text)) name = text;
  if (usableFilename(name)) return name;
  throw protocolError('unexpected answer to a clip request', contentType, body, context, secrets);
}

/** What a 200 from /v1/download carries: a presigned URL in one of three wrappings, or the clip itself. */
export type DownloadBody = { kind: 'url'; url: URL } | { kind: 'bytes' };

const looksLikeUrl = (text: string): boolean => /^https?:\/\/\S+$/i.test(text);

/** True while the first bytes of a body may still turn out to be a URL or JSON (so it is worth buffering). */
export function mayBeUrlBody(head: Buffer): boolean {
  const start = head.subarray(0, 64).toString('latin1').trimStart().toLowerCase();
  return start === '' || start.startsWith('{') || start.startsWith('"') || 'http'.startsWith(start.slice(0, 4));
}

/**
 * Classifies a complete, small 200 body from /v1/download. JSON must hold a URL; text must be one;
 * octet-stream (or no type) is a URL when it reads as one, else clip bytes. The URL must be http(s).
 */
export function classifyDownloadBody(
  contentType: string | undefined,
  body: Buffer,
  base: URL,
  context: ErrorContext = {},
  secrets: readonly string[] = [],
): DownloadBody {
  const type = mediaType(contentType);
  const text = body.toString('utf8').trim();
  let candidate: unknown;
  if (isJson(type)) {
    const json = parseJson(body);
    candidate =
      typeof json === 'string'
        ? json
        : json && typeof json === 'object'
          ? URL_KEYS.map((k) => (json as Record<string, unknown>)[k]).find((v) => v !== undefined)
          : undefined;
  } else if (type.startsWith('text/')) {
    candidate = text;
  } else if (looksLikeUrl(text)) {
    candidate = text;
  } else {
    return { kind: 'bytes' };
  }
  if (typeof candidate === 'string' && looksLikeUrl(candidate.trim()))
    return { kind: 'url', url: downloadTarget(candidate.trim(), base, context) };
  throw protocolError('unexpected answer to a download request', contentType, body, context, secrets);
}

/** A redirect or body URL, resolved against the request URL; only http(s) targets are fetched. */
export function downloadTarget(location: string, base: URL, context: ErrorContext = {}): URL {
  let url: URL;
  try {
    url = new URL(location, base);
  } catch {
    throw new ApiProtocolError('the download location is not a URL', context);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new ApiProtocolError(`the download location is not an HTTP URL (${url.protocol})`, context);
  return url;
}
