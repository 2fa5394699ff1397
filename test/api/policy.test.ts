import { describe, expect, test } from '@jest/globals';
import { API_DEFAULTS, backoffDelayMs, normalizeApiLimits, retryAfterMs } from '../../src/api/index.js';
import { bodySnippet, presignedForLog, urlForLog } from '../../src/api/redact.js';
import { classifyDownloadBody, mayBeUrlBody, parseVideoBody } from '../../src/api/shapes.js';
import { ApiProtocolError, UsageError } from '../../src/errors.js';

const policy = { backoffBaseMs: 100, backoffCapMs: 1000, jitter: 0.5 };

describe('backoffDelayMs', () => {
  test.each([
    { attempt: 1, random: 0, ms: 100 },
    { attempt: 2, random: 0, ms: 200 },
    { attempt: 4, random: 0, ms: 800 },
    { attempt: 5, random: 0, ms: 1000 }, // capped
    { attempt: 30, random: 0, ms: 1000 },
    { attempt: 1, random: 0.999999, ms: 50 }, // jitter takes off up to half
    { attempt: 5, random: 0.5, ms: 750 },
  ])('retry $attempt with random $random waits $ms ms', ({ attempt, random, ms }) => {
    expect(backoffDelayMs(attempt, policy, () => random)).toBe(ms);
  });

  test('full jitter spreads retries over 0..delay', () => {
    const delays = Array.from({ length: 200 }, () => backoffDelayMs(3, { ...policy, jitter: 1 }));
    expect(Math.min(...delays)).toBeLessThan(100);
    expect(Math.max(...delays)).toBeGreaterThan(300);
    expect(delays.every((d) => d >= 0 && d <= 400)).toBe(true);
  });
});

describe('retryAfterMs', () => {
  const now = Date.parse('2025-11-17T08:00:00Z');
  test.each([
    { header: '2', ms: 2000 },
    { header: '0', ms: 0 },
    { header: '1.5', ms: 1500 },
    { header: 'Mon, 17 Nov 2025 08:00:30 GMT', ms: 30_000 },
    { header: 'Mon, 17 Nov 2025 07:00:00 GMT', ms: 0 },
    { header: 'soon', ms: undefined },
    { header: undefined, ms: undefined },
  ])('Retry-After $header → $ms ms', ({ header, ms }) => {
    expect(retryAfterMs(header, now)).toBe(ms);
  });
});

describe('/v1/video bodies', () => {
  test.each([
    { type: 'application/json', body: '{"filename":"abc.bag"}' },
    { type: 'application/json; charset=utf-8', body: '"abc.bag"' },
    { type: 'text/plain', body: 'abc.bag\n' },
    { type: undefined, body: 'abc.bag' },
  ])('$type $body → abc.bag', ({ type, body }) => {
    expect(parseVideoBody(type, Buffer.from(body))).toBe('abc.bag');
  });

  test.each([
    { type: 'application/json', body: '{"status":"queued"}' },
    { type: 'text/plain', body: 'queued' },
    { type: 'application/json', body: '"has space.bag"' },
  ])('$type $body is a protocol error', ({ type, body }) => {
    expect(() => parseVideoBody(type, Buffer.from(body), {}, [])).toThrow(ApiProtocolError);
  });
});

describe('/v1/download 200 bodies', () => {
  const base = new URL('http://api.example/v1/download?filename=a.bag');
  test.each([
    { type: 'application/json', body: '{"url":"https://s3.example/a?X-Sig=1"}', url: 'https://s3.example/a?X-Sig=1' },
    { type: 'text/plain; charset=utf-8', body: 'https://s3.example/b?sig=2\n', url: 'https://s3.example/b?sig=2' },
    {
      type: 'application/octet-stream',
      body: 'http://127.0.0.1:9/presigned/xyz?expires=1',
      url: 'http://127.0.0.1:9/presigned/xyz?expires=1',
    },
  ])('$type → a URL', ({ type, body, url }) => {
    expect(classifyDownloadBody(type, Buffer.from(body), base)).toEqual({ kind: 'url', url: new URL(url) });
  });

  test('octet-stream that is not a URL is the clip itself', () => {
    expect(classifyDownloadBody('application/octet-stream', Buffer.from('#ROSBAG V2.0\n....'), base)).toEqual({ kind: 'bytes' });
  });

  test.each([
    { type: 'application/json', body: '{"link":"https://x"}' },
    { type: 'text/plain', body: 'not ready yet' },
    { type: 'application/json', body: '{"url":"file:///etc/passwd"}' },
  ])('$type $body is a protocol error', ({ type, body }) => {
    expect(() => classifyDownloadBody(type, Buffer.from(body), base)).toThrow(ApiProtocolError);
  });

  test.each([
    { head: '#ROSBAG V2.0', may: false },
    { head: 'htt', may: true },
    { head: 'https://s3', may: true },
    { head: ' {"url"', may: true },
    { head: '\x00\x01', may: false },
  ])('the first bytes "$head" may still be a URL: $may', ({ head, may }) => {
    expect(mayBeUrlBody(Buffer.from(head))).toBe(may);
  });
});

describe('redaction', () => {
  test('URLs in logs lose their query; presigned ones their path too', () => {
    expect(urlForLog('https://api.example/v1/download?filename=a.bag')).toBe('https://api.example/v1/download');
    expect(presignedForLog('https://s3.example/bucket/sig123?X-Amz-Signature=abc')).toBe('https://s3.example/…');
  });

  test('a body snippet is short, flat and free of secrets', () => {
    const body = `error\n\ttoken=${'t0k3n'} Authorization: Bearer abc.def.ghi url=https://s3/x?sig=1 ${'z'.repeat(200)}`;
    const snippet = bodySnippet(body, ['t0k3n']);
    expect(snippet).toBe('error token=[redacted] Authorization: Bearer [redacted] url=https://s3/x?… zzzzz…');
    expect(snippet.length).toBeLessThanOrEqual(81);
  });
});

describe('normalizeApiLimits', () => {
  test('defaults fill what is not given', () => {
    expect(normalizeApiLimits({ readyMaxWaitMs: 5 })).toEqual({ ...API_DEFAULTS, readyMaxWaitMs: 5 });
    expect(API_DEFAULTS).toMatchObject({ readyFirstPollMs: 250, authGraceMs: 900_000 });
  });

  test.each([
    { input: { maxAttempts: 0 }, message: 'maxAttempts must be an integer >= 1, got 0' },
    { input: { presignRenewals: 1.5 }, message: 'presignRenewals must be an integer >= 0, got 1.5' },
    { input: { backoffBaseMs: -1 }, message: 'backoffBaseMs must be a number >= 0, got -1' },
    { input: { jitter: 2 }, message: 'jitter must be between 0 and 1, got 2' },
  ])('$message', ({ input, message }) => {
    expect(() => normalizeApiLimits(input)).toThrow(new UsageError(message));
  });
});
