/**
 * The Batch API simulator's HTTP server: routing, auth, readiness, response shapes and faults.
 * Every random choice is `roll(seed, what, endpoint, key, n)` where n counts the requests for the same
 * key, so a retry rolls again (faults are transient) and a run is reproducible from the seed.
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';
import http, { type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { FleetclipError } from '../errors.js';
import { dayOf, dayStartOf } from './availability.js';
import { ClipStore, type ClipRef, type ClipVariant, type TruthQuery, type TruthSlot } from './clips.js';
import { mergeFaults, normalizeSimConfig, type NeverReadyStatus, type SimConfig, type SimConfigInput, type SimFaults } from './config.js';
import { pick, roll } from './random.js';
import { TokenStore, mintToken } from './tokens.js';

export type Endpoint = 'video' | 'download' | 'presigned' | 'oauth' | 'sim' | 'other';

export interface SimStats {
  /** endpoint → HTTP status → count */
  requests: Record<string, Record<string, number>>;
  /**
   * requests that carried a token where it does not belong: an Authorization header on anything but /v1/, or a known
   * token anywhere else (path, query, another header; on any path)
   */
  tokenLeaks: number;
  /** fault name → times it fired (rate-limit counts the global limiter's 429s; long-job and never-ready count jobs) */
  faults: Record<string, number>;
  /** /v1/video answers that named a clip */
  clipsRequested: number;
  /** clip bodies started (bytes shape or presigned), by variant */
  clipsServed: Record<ClipVariant, number>;
  /** body bytes of clip responses handed to the socket */
  bytesServed: number;
  /** handler crashes answered 500: a simulator bug, never a fault */
  internalErrors: number;
}

export interface RunningSimulator {
  /** http://127.0.0.1:PORT */
  baseUrl: string;
  config: SimConfig;
  stats(): SimStats;
  resetStats(): void;
  truth(q: TruthQuery): TruthSlot[];
  /** change faults while running (a 5xx storm, then recovery) */
  setFaults(f: Partial<SimFaults>): void;
  /** every token `/oauth2/token` handed out so far */
  issuedTokens(): string[];
  close(): Promise<void>;
}

interface Job extends ClipRef {
  /** Infinity for a job that never becomes ready */
  readyAtMs: number;
  /** fixed when the job starts, so a later setFaults does not change what it answers */
  neverReadyStatus?: NeverReadyStatus;
}

interface Presigned {
  clip: ClipRef;
  variant: ClipVariant;
  expires: number;
}

const MAX_WINDOW_SEC = 3600;
const CURRENT_DAY_MESSAGE = 'the batch API requires the realtime API for the current day';
const INTEGER = /^\d{1,12}$/;

/** A not-ready poll answers 404 (60 %), 503 (30 %) or 500 (10 %). */
const notReadyStatus = (u: number): number => (u < 0.6 ? 404 : u < 0.9 ? 503 : 500);

function emptyStats(): SimStats {
  return {
    requests: {},
    tokenLeaks: 0,
    faults: {},
    clipsRequested: 0,
    clipsServed: { good: 0, tiny: 0, unindexed: 0, cut: 0 },
    bytesServed: 0,
    internalErrors: 0,
  };
}

function endpointOf(pathname: string): Endpoint {
  if (pathname === '/v1/video') return 'video';
  if (pathname === '/v1/download') return 'download';
  if (pathname.startsWith('/presigned/')) return 'presigned';
  if (pathname === '/oauth2/token') return 'oauth';
  if (pathname.startsWith('/_sim/')) return 'sim';
  return 'other';
}

/** `bytes=a-b`, `bytes=a-`, `bytes=-n` → [first, last], 'unsatisfiable', or undefined (ignore the header). */
function parseRange(header: string | undefined, size: number): [number, number] | 'unsatisfiable' | undefined {
  const m = header === undefined ? null : /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    return suffix === 0 ? 'unsatisfiable' : [Math.max(0, size - suffix), size - 1];
  }
  const first = Number(m[1]);
  const last = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (first >= size) return 'unsatisfiable';
  return first > last ? undefined : [first, last];
}

export async function startSimulator(input: SimConfigInput = {}): Promise<RunningSimulator> {
  const config = normalizeSimConfig(input);
  const clips = new ClipStore(config);
  const tokens = new TokenStore(config.tokenFile, config.tokens);
  const secret = randomBytes(32);
  const jobs = new Map<string, Job>();
  const presigned = new Map<string, Presigned>();
  const seen = new Map<string, number>();
  let jobCount = 0;
  let stats = emptyStats();
  let bucket = { tokens: Math.max(1, config.rateLimitPerSec), atMs: Date.now() };
  let baseUrl = '';

  const scaled = (ms: number) => ms * config.timeScale;
  const count = (name: string) => (stats.faults[name] = (stats.faults[name] ?? 0) + 1);

  function head(res: ServerResponse, endpoint: Endpoint, status: number, headers: OutgoingHttpHeaders): void {
    const byStatus = (stats.requests[endpoint] ??= {});
    byStatus[status] = (byStatus[status] ?? 0) + 1;
    res.writeHead(status, headers);
  }

  function send(
    res: ServerResponse,
    endpoint: Endpoint,
    status: number,
    body: string,
    type = 'text/plain; charset=utf-8',
    extra: OutgoingHttpHeaders = {},
  ): void {
    const bytes = Buffer.from(body);
    head(res, endpoint, status, { 'Content-Type': type, 'Content-Length': bytes.length, ...extra });
    res.end(res.req.method === 'HEAD' ? undefined : bytes);
  }

  function s3Error(res: ServerResponse, code: string, message: string): void {
    send(
      res,
      'presigned',
      403,
      `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message></Error>\n`,
      'application/xml',
    );
  }

  function takeRateToken(): boolean {
    if (config.rateLimitPerSec <= 0) return true;
    const now = Date.now();
    const capacity = Math.max(1, config.rateLimitPerSec);
    bucket = { tokens: Math.min(capacity, bucket.tokens + ((now - bucket.atMs) / 1000) * config.rateLimitPerSec), atMs: now };
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }

  /** The HTTP answer for a bad or missing token, or undefined when the token is valid. */
  function authFailure(req: IncomingMessage): string | undefined {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
    if (!m) return 'missing bearer token';
    const verdict = tokens.check(m[1] as string);
    return verdict === 'ok' ? undefined : verdict === 'expired' ? 'token expired' : 'unknown token';
  }

  /** A token where it does not belong: only the Authorization header of a /v1/ request may carry one. */
  function leaksToken(req: IncomingMessage, endpoint: Endpoint): boolean {
    const v1 = endpoint === 'video' || endpoint === 'download';
    // the identity provider's own Basic credentials (client id and secret) are no bearer token; a token there is
    const clientCredentials = endpoint === 'oauth' && /^Basic /i.test(req.headers.authorization ?? '');
    if (!v1 && !clientCredentials && req.headers.authorization !== undefined) return true;
    const elsewhere = Object.entries(req.headers)
      .filter(([name]) => !(v1 && name === 'authorization'))
      .flatMap(([, value]) => value ?? []);
    let url = req.url ?? '';
    try {
      url += ` ${decodeURIComponent(url)}`;
    } catch {
      // not percent-decodable: the raw form is checked
    }
    return tokens.mentionedIn([url, ...elsewhere].join('\n'));
  }

  /** Serves clip bytes with Range support, then maybe cuts the body short (drop / short-body faults). */
  async function serveClip(
    req: IncomingMessage,
    res: ServerResponse,
    endpoint: Endpoint,
    clip: ClipRef,
    variant: ClipVariant,
    dice: (what: string) => number,
  ) {
    const body = clips.bytesOf(clip, variant);
    const range = parseRange(req.headers.range, body.length);
    if (range === 'unsatisfiable') {
      send(res, endpoint, 416, 'range not satisfiable\n', 'text/plain; charset=utf-8', { 'Content-Range': `bytes */${body.length}` });
      return;
    }
    const [first, last] = range ?? [0, body.length - 1];
    const part = body.subarray(first, last + 1);
    head(res, endpoint, range ? 206 : 200, {
      'Content-Type': 'application/octet-stream',
      'Content-Length': part.length,
      'Accept-Ranges': 'bytes',
      ...(range ? { 'Content-Range': `bytes ${first}-${last}/${body.length}` } : {}),
    });
    if (req.method === 'HEAD') return void res.end();
    stats.clipsServed[variant] += 1;
    const drop = dice('drop') < config.faults.dropRate;
    const short = !drop && dice('short-body') < config.faults.shortBodyRate;
    if (!drop && !short) {
      stats.bytesServed += part.length;
      res.end(part);
      return;
    }
    count(drop ? 'drop' : 'short-body');
    const sent = Math.floor(part.length * (0.3 + 0.4 * dice('cut-at')));
    stats.bytesServed += sent;
    await new Promise<void>((resolve) => res.write(part.subarray(0, sent), () => resolve()));
    // drop: the connection dies (RST-like); short body: the server closes cleanly having sent too little
    if (drop) res.socket?.destroy();
    else res.socket?.end();
  }

  /** When a new job becomes ready: after its processing delay, after a long one, or never (the last two are faults). */
  function readinessOf(jobNumber: number, dice: (what: string) => number): Pick<Job, 'readyAtMs' | 'neverReadyStatus'> {
    const f = config.faults;
    if (dice('never-ready') < f.neverReadyRate) {
      count('never-ready');
      return { readyAtMs: Infinity, neverReadyStatus: f.neverReadyStatus };
    }
    const long = dice('long-job') < f.longJobRate;
    if (long) count('long-job');
    const { min, max } = long ? f.longJobMs : config.processingDelayMs;
    const u = long ? dice('long-job-ms') : roll(config.seed, 'delay', jobNumber);
    return { readyAtMs: Date.now() + scaled(min + u * (max - min)) };
  }

  function handleVideo(res: ServerResponse, url: URL, dice: (what: string) => number): void {
    const p = url.searchParams;
    const bad = (message: string) => send(res, 'video', 400, `${message}\n`);
    for (const name of ['vehicle', 'camera', 'startTime', 'endTime']) if (!p.get(name)) return bad(`missing parameter ${name}`);
    const [vehicle, camera, startText, endText] = ['vehicle', 'camera', 'startTime', 'endTime'].map((n) => p.get(n) as string) as [
      string,
      string,
      string,
      string,
    ];
    if (!INTEGER.test(startText) || !INTEGER.test(endText)) return bad('startTime and endTime must be integer epoch seconds');
    const startTime = Number(startText);
    const endTime = Number(endText);
    if (endTime <= startTime) return bad('endTime must be after startTime');
    if (endTime - startTime > MAX_WINDOW_SEC) return bad(`the window must be at most ${MAX_WINDOW_SEC} s`);
    if (!config.vehicles.includes(vehicle)) return bad(`unknown vehicle ${vehicle}`);
    if (!config.cameras.includes(camera)) return bad(`unknown camera ${camera}`);
    const todayStart = dayStartOf(dayOf(Math.floor(Date.now() / 1000))) as number;
    if (endTime > todayStart) return bad(CURRENT_DAY_MESSAGE);
    const start = clips.availability.firstClipIn(vehicle, camera, startTime, endTime);
    if (start === undefined) return send(res, 'video', 404, `no video for ${vehicle} ${camera} in [${startTime}, ${endTime})\n`);
    const n = jobCount++;
    const filename = `${createHash('sha256').update(`${config.seed}|job|${n}`).digest('hex').slice(0, 32)}.bag`;
    jobs.set(filename, { vehicle, camera, start, ...readinessOf(n, dice) });
    stats.clipsRequested += 1;
    const shape = pick(dice('video-shape'), config.videoShapes);
    if (shape === 'text') return send(res, 'video', 200, filename);
    send(res, 'video', 200, JSON.stringify(shape === 'json-object' ? { filename } : filename), 'application/json');
  }

  async function handleDownload(req: IncomingMessage, res: ServerResponse, url: URL, dice: (what: string) => number): Promise<void> {
    const filename = url.searchParams.get('filename');
    if (!filename) return send(res, 'download', 400, 'missing parameter filename\n');
    if (req.method === 'HEAD' && dice('head-405') < config.faults.headNotAllowedRate) {
      count('head-405');
      return send(res, 'download', 405, 'HEAD not allowed, use GET\n', 'text/plain; charset=utf-8', { Allow: 'GET' });
    }
    const job = jobs.get(filename);
    if (!job) return send(res, 'download', 404, `no such file ${filename}\n`);
    if (Date.now() < job.readyAtMs) {
      // a job that never becomes ready answers as one still processing, only with one status forever: a client
      // cannot tell them apart but by waiting, as with the vendor
      const status = job.neverReadyStatus ?? notReadyStatus(dice('not-ready'));
      return send(res, 'download', status, status === 404 ? 'file not found (still processing)\n' : 'clip is being processed\n');
    }
    if (req.method === 'HEAD') return send(res, 'download', 200, '', 'application/octet-stream');
    let variant: ClipVariant = 'good';
    if (dice('tiny') < config.faults.tinyRate) variant = 'tiny';
    else if (dice('corrupt') < config.faults.corruptRate) variant = dice('corrupt-kind') < 0.5 ? 'unindexed' : 'cut';
    if (variant !== 'good') count(variant === 'tiny' ? 'tiny' : 'corrupt');
    const shape = pick(dice('download-shape'), config.downloadShapes);
    if (shape === 'bytes') return serveClip(req, res, 'download', job, variant, dice);
    const expired = dice('presign-expired') < config.faults.presignExpiredRate;
    if (expired) count('presign-expired');
    const expires = Math.floor(Date.now() / 1000) + (expired ? -1 : config.presignTtlSec);
    const signature = createHmac('sha256', secret).update(`${filename}|${variant}|${expires}|${presigned.size}`).digest('base64url');
    presigned.set(signature, { clip: job, variant, expires });
    const link = `${baseUrl}/presigned/${signature}?expires=${expires}`;
    if (shape === 'redirect-302' || shape === 'redirect-307')
      return send(res, 'download', Number(shape.slice(-3)), `${link}\n`, 'text/plain; charset=utf-8', { Location: link });
    if (shape === 'json-url') return send(res, 'download', 200, JSON.stringify({ url: link }), 'application/json');
    send(res, 'download', 200, link, shape === 'octet-url' ? 'application/octet-stream' : 'text/plain; charset=utf-8');
  }

  async function handlePresigned(req: IncomingMessage, res: ServerResponse, url: URL, dice: (what: string) => number): Promise<void> {
    const entry = presigned.get(decodeURIComponent(url.pathname.slice('/presigned/'.length)));
    if (!entry || url.searchParams.get('expires') !== String(entry.expires))
      return s3Error(res, 'SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided.');
    if (Date.now() / 1000 > entry.expires) return s3Error(res, 'AccessDenied', 'Request has expired');
    await serveClip(req, res, 'presigned', entry.clip, entry.variant, dice);
  }

  /**
   * RFC 6749 §4.4: `grant_type=client_credentials` with the client's id and secret in HTTP Basic auth (each form-encoded,
   * §2.3.1) → a JWT-shaped bearer token valid `oauthTokenLifetimeSec` that `/v1/` accepts; 401 `invalid_client` for a
   * wrong id or secret, 400 for another grant.
   */
  async function handleOAuth(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const json = (status: number, doc: object, extra: OutgoingHttpHeaders = {}) =>
      send(res, 'oauth', status, JSON.stringify(doc), 'application/json', { 'Cache-Control': 'no-store', ...extra });
    const client = config.oauthClient;
    if (!client) return send(res, 'oauth', 404, 'no OAuth2 client configured\n');
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const form = new URLSearchParams(
      Buffer.concat(chunks)
        .toString('utf8')
        .slice(0, 16 * 1024),
    );
    const basic = /^Basic\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
    const formDecoded = (part: string): string | undefined => {
      try {
        return decodeURIComponent(part.replace(/\+/g, ' '));
      } catch {
        return undefined; // malformed: matches no client
      }
    };
    const [id, secret] = (basic ? Buffer.from(basic[1] as string, 'base64').toString('utf8') : ':').split(/:(.*)/s).map(formDecoded);
    if (id !== client.id || secret !== client.secret)
      return json(401, { error: 'invalid_client' }, { 'WWW-Authenticate': 'Basic realm="oauth2"' });
    if (form.get('grant_type') !== 'client_credentials') return json(400, { error: 'unsupported_grant_type' });
    // `exp` is whole seconds: rounded up, so the token never dies before `expires_in` says (a client may trust either)
    const token = mintToken({ expiresAtSec: Math.ceil(Date.now() / 1000) + config.oauthTokenLifetimeSec, subject: client.id });
    tokens.issue(token);
    json(200, { access_token: token, token_type: 'Bearer', expires_in: config.oauthTokenLifetimeSec });
  }

  function handleSim(res: ServerResponse, url: URL): void {
    if (url.pathname === '/_sim/stats') return send(res, 'sim', 200, JSON.stringify(stats), 'application/json');
    if (url.pathname !== '/_sim/truth') return send(res, 'sim', 404, 'unknown /_sim endpoint (stats, truth)\n');
    const q: TruthQuery = { day: url.searchParams.get('day') ?? '' };
    for (const key of ['vehicle', 'camera', 'from', 'to'] as const) {
      const v = url.searchParams.get(key);
      if (v !== null) q[key] = v;
    }
    try {
      const slots = clips.truth(q);
      send(res, 'sim', 200, JSON.stringify({ ...q, count: slots.length, slots }), 'application/json');
    } catch (err) {
      if (!(err instanceof FleetclipError)) throw err;
      send(res, 'sim', 400, `${err.message}\n`);
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', baseUrl);
    const endpoint = endpointOf(url.pathname);
    if (leaksToken(req, endpoint)) stats.tokenLeaks += 1;
    if (endpoint === 'sim') return handleSim(res, url);
    if (endpoint === 'other') return send(res, 'other', 404, 'not found\n');
    const allowed = endpoint === 'oauth' ? ['POST'] : endpoint === 'video' ? ['GET'] : ['GET', 'HEAD'];
    if (!allowed.includes(req.method ?? ''))
      return send(res, endpoint, 405, 'method not allowed\n', 'text/plain; charset=utf-8', { Allow: allowed.join(', ') });

    const key =
      endpoint === 'video' ? url.search : endpoint === 'download' ? `${req.method}|${url.searchParams.get('filename')}` : url.pathname;
    const n = seen.get(`${endpoint}|${key}`) ?? 0;
    seen.set(`${endpoint}|${key}`, n + 1);
    const dice = (what: string) => roll(config.seed, what, endpoint, key, n);

    if (config.latencyMs > 0) await sleep(scaled(config.latencyMs));
    if (dice('slow') < config.faults.slowRate) {
      count('slow');
      await sleep(scaled(config.faults.slowMs));
    }
    if (res.destroyed) return;
    const v1 = endpoint === 'video' || endpoint === 'download';
    if (v1 && !takeRateToken()) {
      count('rate-limit');
      return send(res, endpoint, 429, 'rate limit exceeded\n', 'text/plain; charset=utf-8', { 'Retry-After': '1' });
    }
    if (v1) {
      const failure = authFailure(req);
      if (failure)
        return send(res, endpoint, 401, `${failure}\n`, 'text/plain; charset=utf-8', {
          'WWW-Authenticate':
            failure === 'missing bearer token'
              ? 'Bearer realm="batch"'
              : `Bearer realm="batch", error="invalid_token", error_description="${failure}"`,
        });
    }
    if (v1 && dice('429') < config.faults.rate429) {
      count('429');
      const retryAfter = Math.round(scaled(config.faults.retryAfterSec * 1000) / 1000);
      return send(res, endpoint, 429, 'too many requests\n', 'text/plain; charset=utf-8', { 'Retry-After': String(retryAfter) });
    }
    if (dice('5xx') < config.faults.rate5xx) {
      count('5xx');
      const status = dice('5xx-status') < 0.5 ? 500 : 503;
      return send(res, endpoint, status, status === 500 ? 'internal server error\n' : 'service unavailable\n');
    }
    if (endpoint === 'video') return handleVideo(res, url, dice);
    if (endpoint === 'download') return handleDownload(req, res, url, dice);
    if (endpoint === 'oauth') return handleOAuth(req, res);
    return handlePresigned(req, res, url, dice);
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      stats.internalErrors += 1;
      if (res.headersSent) res.destroy();
      else send(res, 'other', 500, `simulator bug: ${err instanceof Error ? err.message : String(err)}\n`);
    });
  });
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  config.port = (server.address() as AddressInfo).port;
  baseUrl = `http://${config.host}:${config.port}`;

  return {
    baseUrl,
    config,
    stats: () => structuredClone(stats),
    resetStats: () => void (stats = emptyStats()),
    truth: (q) => clips.truth(q),
    setFaults: (f) => void (config.faults = mergeFaults(config.faults, f)),
    issuedTokens: () => tokens.issuedTokens(),
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}
