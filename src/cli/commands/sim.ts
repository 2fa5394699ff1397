import { readFileSync } from 'node:fs';
import type { Argv } from 'yargs';
import { UsageError } from '../../errors.js';
import {
  DOWNLOAD_SHAPES,
  NEVER_READY_STATUSES,
  SIM_DEFAULTS,
  VIDEO_SHAPES,
  mintToken,
  normalizeSimConfig,
  startSimulator,
  writeTokenFile,
  type MsRange,
  type SimConfigInput,
  type SimFaults,
} from '../../sim/index.js';
import { onStopSignals, type StopSignal } from '../../signals.js';
import type { CommandFactory } from '../main.js';
import { single } from '../flags.js';

const F = SIM_DEFAULTS.faults;
const MINTED_TOKEN_LIFETIME_SEC = 24 * 3600;
const FAULTS_GROUP = 'Faults (rates are 0..1):';

/** numeric flag → the fault it sets, with its help text (--long-job-ms, a range, is declared apart) */
const FAULT_FLAGS = {
  'rate-429': ['rate429', `rate of 429 Too Many Requests (with Retry-After) on /v1/ (default ${F.rate429})`],
  'retry-after': ['retryAfterSec', `Retry-After of those 429s, seconds, times --time-scale (default ${F.retryAfterSec})`],
  'rate-5xx': ['rate5xx', `rate of 500/503 on /v1/video, /v1/download, /presigned and /oauth2/token (default ${F.rate5xx})`],
  'slow-rate': ['slowRate', `rate of slow responses (default ${F.slowRate})`],
  'slow-ms': ['slowMs', `delay of a slow response, ms, times --time-scale (default ${F.slowMs})`],
  'drop-rate': ['dropRate', `rate of clip bodies whose connection is destroyed mid-body (default ${F.dropRate})`],
  'short-body-rate': ['shortBodyRate', `rate of clip bodies shorter than their Content-Length (default ${F.shortBodyRate})`],
  'tiny-rate': ['tinyRate', `rate of downloads handing out a tiny (< 1 MB) invalid file (default ${F.tinyRate})`],
  'corrupt-rate': ['corruptRate', `rate of downloads handing out a full-size broken bag (default ${F.corruptRate})`],
  'head-405-rate': ['headNotAllowedRate', `rate of 405 answers to HEAD /v1/download (default ${F.headNotAllowedRate})`],
  'presign-expired-rate': ['presignExpiredRate', `rate of presigned URLs handed out already expired (default ${F.presignExpiredRate})`],
  'never-ready-rate': [
    'neverReadyRate',
    `rate of jobs that never become ready: /v1/download answers --never-ready-status forever (default ${F.neverReadyRate})`,
  ],
  'never-ready-status': [
    'neverReadyStatus',
    `what /v1/download answers for such a job: ${NEVER_READY_STATUSES.join('|')} (default ${F.neverReadyStatus})`,
  ],
  'long-job-rate': ['longJobRate', `rate of jobs that take --long-job-ms instead of --processing-delay (default ${F.longJobRate})`],
} as const satisfies Record<string, readonly [keyof SimFaults, string]>;

/** config key → flag, so a bad value is reported under the flag the user typed (a range's `.min`/`.max` under the range's) */
const FLAG_OF: Record<string, string> = {
  port: 'port',
  seed: 'seed',
  vehicles: 'vehicles',
  cameras: 'cameras',
  clipBytes: 'clip-bytes',
  processingDelayMs: 'processing-delay',
  'faults.longJobMs': 'long-job-ms',
  latencyMs: 'latency',
  timeScale: 'time-scale',
  rateLimitPerSec: 'rate-limit',
  presignTtlSec: 'presign-ttl',
  videoShapes: 'video-shapes',
  downloadShapes: 'download-shapes',
  tokenFile: 'token-file',
  oauthClient: 'oauth-client-id',
  oauthTokenLifetimeSec: 'oauth-token-lifetime',
  ...Object.fromEntries(Object.entries(FAULT_FLAGS).map(([flag, [key]]) => [`faults.${key}`, flag])),
};

type Flags = Record<string, unknown>;

function listOf(flag: string, value: unknown): string[] | undefined {
  const text = single(flag, value) as string | undefined;
  if (text === undefined) return undefined;
  const items = text.split(',').map((s) => s.trim());
  if (items.some((s) => s === '')) throw new UsageError(`--${flag} must be a comma-separated list without empty items, got "${text}"`);
  return items;
}

/** `MIN..MAX` or one number, in ms */
function msRange(flag: string, value: unknown): MsRange | undefined {
  const text = single(flag, value) as string | undefined;
  if (text === undefined) return undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(?:\.\.\s*(\d+(?:\.\d+)?)\s*)?$/.exec(text);
  if (!m) throw new UsageError(`--${flag} must be MIN..MAX or one number of ms, got "${text}"`);
  const min = Number(m[1]);
  return { min, max: m[2] === undefined ? min : Number(m[2]) };
}

/** `--oauth-client-id` with `--oauth-client-secret-file`: the secret is read from the file, never taken on the command line. */
function oauthClientFromFlags(argv: Flags): SimConfigInput['oauthClient'] {
  const id = single('oauth-client-id', argv['oauth-client-id']) as string | undefined;
  const secretFile = single('oauth-client-secret-file', argv['oauth-client-secret-file']) as string | undefined;
  if (id === undefined && secretFile === undefined) return undefined;
  if (id === undefined || secretFile === undefined) throw new UsageError('--oauth-client-id and --oauth-client-secret-file go together');
  let secret: string;
  try {
    secret = readFileSync(secretFile, 'utf8').trim();
  } catch (err) {
    throw new UsageError(`cannot read --oauth-client-secret-file ${secretFile}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  return { id, secret };
}

/** Flags → the simulator's config input; the values are checked by normalizeSimConfig. */
function simConfigFromFlags(argv: Flags): SimConfigInput {
  const num = (flag: string) => {
    // yargs leaves a number flag given without its value as a present key holding undefined
    if (flag in argv && argv[flag] === undefined) throw new UsageError(`--${flag} needs a value`);
    return single(flag, argv[flag]) as number | undefined;
  };
  // unchecked numbers (neverReadyStatus among them) until normalizeSimConfig checks them
  const faults = Object.fromEntries(Object.entries(FAULT_FLAGS).map(([flag, [key]]) => [key, num(flag)])) as Partial<SimFaults>;
  return {
    port: num('port'),
    seed: num('seed'),
    vehicles: listOf('vehicles', argv.vehicles),
    cameras: listOf('cameras', argv.cameras),
    clipBytes: num('clip-bytes'),
    processingDelayMs: msRange('processing-delay', argv['processing-delay']),
    latencyMs: num('latency'),
    timeScale: num('time-scale'),
    rateLimitPerSec: num('rate-limit'),
    presignTtlSec: num('presign-ttl'),
    videoShapes: listOf('video-shapes', argv['video-shapes']) as SimConfigInput['videoShapes'],
    downloadShapes: listOf('download-shapes', argv['download-shapes']) as SimConfigInput['downloadShapes'],
    tokenFile: single('token-file', argv['token-file']) as string | undefined,
    oauthClient: oauthClientFromFlags(argv),
    oauthTokenLifetimeSec: num('oauth-token-lifetime'),
    faults: { ...faults, longJobMs: msRange('long-job-ms', argv['long-job-ms']) },
  };
}

function waitForStopSignal(): Promise<StopSignal> {
  return new Promise((resolve) => {
    const stopListening = onStopSignals((signal) => {
      stopListening();
      resolve(signal);
    });
  });
}

export const simCommand: CommandFactory = (io) => ({
  command: 'sim',
  describe: 'the Batch API simulator (a real HTTP server on loopback)',
  builder: (y: Argv) => {
    const D = SIM_DEFAULTS;
    let b = y
      .usage(
        '$0 sim [options]\n\nServe a simulated Batch API on 127.0.0.1 until SIGINT/SIGTERM/SIGUSR1. The first stdout line is "fleetclip sim listening <base URL>". See docs/sim.md.',
      )
      .option('port', { type: 'number', describe: `TCP port on 127.0.0.1; 0 picks a free one (default ${D.port})` })
      .option('seed', { type: 'number', describe: `seed of data availability, ids, shapes and faults (default ${D.seed})` })
      .option('vehicles', { type: 'string', describe: `comma-separated vehicle names (default ${D.vehicles.join(',')})` })
      .option('cameras', { type: 'string', describe: `comma-separated camera names (default ${D.cameras.join(',')})` })
      .option('clip-bytes', { type: 'number', describe: `approximate size of a clip, bytes (default ${D.clipBytes})` })
      .option('processing-delay', {
        type: 'string',
        describe: `MIN..MAX ms from /v1/video until a clip is ready, times --time-scale (default ${D.processingDelayMs.min}..${D.processingDelayMs.max})`,
      })
      .option('latency', { type: 'number', describe: `ms added to every response, times --time-scale (default ${D.latencyMs})` })
      .option('time-scale', { type: 'number', describe: `multiplies every simulated delay; 0.1 = 10x faster (default ${D.timeScale})` })
      .option('rate-limit', {
        type: 'number',
        describe: `global requests/s on /v1/, 429 beyond it; 0 = off (default ${D.rateLimitPerSec})`,
      })
      .option('presign-ttl', { type: 'number', describe: `lifetime of a presigned URL, seconds (default ${D.presignTtlSec})` })
      .option('video-shapes', { type: 'string', describe: `shapes /v1/video may answer in (default ${VIDEO_SHAPES.join(',')})` })
      .option('download-shapes', {
        type: 'string',
        describe: `shapes a ready /v1/download may answer in (default ${DOWNLOAD_SHAPES.join(',')})`,
      })
      .option('token-file', {
        type: 'string',
        describe: 'file of valid bearer tokens, one a line, re-read on change; a JWT exp is honoured',
      })
      .option('mint-token', {
        type: 'boolean',
        describe: 'write a fresh token valid 24 h into --token-file (mode 0600) before serving; never printed',
      })
      .option('oauth-client-id', {
        type: 'string',
        describe:
          'the OAuth2 client POST /oauth2/token hands tokens to (client credentials, HTTP Basic auth); with --oauth-client-secret-file',
      })
      .option('oauth-client-secret-file', { type: 'string', describe: "file holding that client's secret (its first line)" })
      .option('oauth-token-lifetime', {
        type: 'number',
        describe: `seconds a token from /oauth2/token is valid (expires_in; not scaled) (default ${D.oauthTokenLifetimeSec})`,
      });
    for (const [flag, [, describe]] of Object.entries(FAULT_FLAGS)) b = b.option(flag, { type: 'number', describe, group: FAULTS_GROUP });
    return b.option('long-job-ms', {
      type: 'string',
      describe: `MIN..MAX ms a long job takes, times --time-scale (default ${F.longJobMs.min}..${F.longJobMs.max})`,
      group: FAULTS_GROUP,
    });
  },
  handler: async (argv: Flags) => {
    const config = normalizeSimConfig(simConfigFromFlags(argv), (key) => `--${FLAG_OF[key.replace(/\.(min|max)$/, '')] ?? key}`);
    if (single('mint-token', argv['mint-token']) === true) {
      if (!config.tokenFile) throw new UsageError('--mint-token needs --token-file');
      writeTokenFile(config.tokenFile, mintToken({ expiresAtSec: Date.now() / 1000 + MINTED_TOKEN_LIFETIME_SEC }));
      io.stderr.write(`fleetclip sim: wrote a new token valid 24 h to ${config.tokenFile}\n`);
    }
    const sim = await startSimulator(config);
    io.stdout.write(`fleetclip sim listening ${sim.baseUrl}\n`);
    if (!config.tokenFile) io.stderr.write('fleetclip sim: no --token-file, so every /v1/ request is answered 401\n');
    const signal = await waitForStopSignal();
    await sim.close();
    io.stderr.write(`fleetclip sim: ${signal}, stopped\n`);
  },
});
