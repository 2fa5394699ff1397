import path from 'node:path';
import type { ArgumentsCamelCase, Argv } from 'yargs';
import {
  API_DEFAULTS,
  type ApiLog,
  DEFAULT_TOKEN_FILE,
  TOKEN_ENV,
  createBatchApiClient,
  openTokenSource,
  tokenFileWarning,
} from '../../api/index.js';
import { ClipInvalidError, EXIT, InterruptedError, UsageError } from '../../errors.js';
import { parseApiBase, parseName } from '../../plan/grammar.js';
import { parseByteSize } from '../../plan/index.js';
import { onStopSignals } from '../../signals.js';
import { parseSlotInstant, slotIso } from '../../storage/index.js';
import { CLIP_DEFAULTS, createClipFetcher, folderDestination } from '../../worker/index.js';
import type { Io } from '../io.js';
import type { CommandFactory } from '../main.js';
import { single } from '../flags.js';

interface FetchFlags {
  apiBase: string;
  tokenFile?: string;
  vehicle: string;
  camera: string;
  at: string;
  out: string;
  minClipBytes?: string;
  maxClipBytes?: string;
  verbose?: boolean;
  insecureHttp?: boolean;
}

function stderrLog(io: Io, verbose: boolean): ApiLog {
  const line = (level: string) => (message: string) => void io.stderr.write(`fleetclip: ${level}${message}\n`);
  return { warn: line('warning: '), info: line(''), debug: verbose ? line('debug: ') : () => undefined };
}

function parseByteCount(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text.trim())) throw new UsageError(`--min-clip-bytes must be a whole number of bytes, got "${text}"`);
  return Number(text);
}

const isoSeconds = (sec: number): string => new Date(Math.round(sec * 1000)).toISOString();

export const fetchCommand: CommandFactory = (io) => ({
  command: 'fetch',
  describe: 'download one clip on demand (spot checks, debugging), through the same path the workers use',
  builder: (y: Argv) =>
    y
      .usage(
        '$0 fetch --api-base URL --vehicle V --camera C --at INSTANT --out DIR [--token-file PATH]\n\n' +
          'Requests the 30 s clip that starts at --at (floored to the 30 s grid), waits until it is ready, downloads, ' +
          'validates it as a complete ROS1 bag and saves it as DIR/<vehicle>_<camera>_<YYYYMMDDTHHMMSSZ>_30s.bag. ' +
          `Prints the path and the clip's size, sha256, topics, message count and time range; "no data" (exit ${EXIT.noData}) ` +
          `when the API has no video for that slot. The token comes from --token-file, else $${TOKEN_ENV}, else ` +
          `${DEFAULT_TOKEN_FILE}. Limits and retry policy: docs/api.md.`,
      )
      .option('api-base', { type: 'string', requiresArg: true, demandOption: true, describe: 'Batch API base URL, http(s)' })
      .option('token-file', {
        type: 'string',
        requiresArg: true,
        describe: `file holding the bearer token (default ${DEFAULT_TOKEN_FILE})`,
      })
      .option('vehicle', { type: 'string', requiresArg: true, demandOption: true, describe: 'vehicle name' })
      .option('camera', { type: 'string', requiresArg: true, demandOption: true, describe: 'camera name' })
      .option('at', {
        type: 'string',
        requiresArg: true,
        demandOption: true,
        describe: 'slot start: ISO instant with zone (2025-11-17T08:30:00Z) or epoch seconds',
      })
      .option('out', {
        type: 'string',
        requiresArg: true,
        demandOption: true,
        describe: 'folder to save the clip in (temporaries go to DIR/.partial/)',
      })
      .option('min-clip-bytes', {
        type: 'string',
        requiresArg: true,
        describe: `smaller clips are invalid (default ${CLIP_DEFAULTS.minClipBytes})`,
      })
      .option('insecure-http', {
        type: 'boolean',
        describe: 'allow a plain http:// --api-base beyond loopback (the token then travels unencrypted)',
      })
      .option('max-clip-bytes', {
        type: 'string',
        requiresArg: true,
        describe: `the largest clip body accepted, e.g. 200MB: a longer one is cut off there (exit ${EXIT.api}) (default ${API_DEFAULTS.maxClipBytes})`,
      })
      .option('verbose', { type: 'boolean', describe: 'also print each retry on stderr' }),
  handler: async (args: ArgumentsCamelCase) => {
    const argv = args as ArgumentsCamelCase<FetchFlags>; // demandOption guarantees the required flags
    for (const flag of ['api-base', 'token-file', 'vehicle', 'camera', 'at', 'out', 'min-clip-bytes', 'max-clip-bytes'])
      if (Array.isArray(args[flag])) throw new UsageError(`--${flag} takes one value`);
    const slot = {
      vehicle: parseName('vehicle', argv.vehicle),
      camera: parseName('camera', argv.camera),
      start: parseSlotInstant(argv.at),
    };
    const minClipBytes = parseByteCount(argv.minClipBytes);
    const token = openTokenSource({ tokenFile: single('token-file', argv.tokenFile) });
    const log = stderrLog(io, argv.verbose === true);
    const maxClipBytes = argv.maxClipBytes === undefined ? undefined : parseByteSize('max-clip-bytes', argv.maxClipBytes);
    const client = createBatchApiClient({
      apiBase: parseApiBase(argv.apiBase, { insecureHttp: argv.insecureHttp === true }),
      token,
      log,
      ...(maxClipBytes !== undefined && { maxClipBytes }),
    });
    const clips = createClipFetcher(client, minClipBytes !== undefined ? { minClipBytes } : {}, log);
    await token.current(); // an unreadable token file is a usage error before any request
    const tokenWarning = await tokenFileWarning(token);
    if (tokenWarning) log.warn(tokenWarning);
    const stop = new AbortController();
    const stopListening = onStopSignals((signal) => stop.abort(new InterruptedError(`stopped by ${signal}; nothing was saved`)));
    try {
      const outcome = await clips.fetch(slot, folderDestination(path.resolve(argv.out)), { signal: stop.signal }).catch((err: unknown) => {
        // a stop aborts whatever was under way, and some layers (got reading an answer) say so with their own AbortError
        throw stop.signal.aborted ? stop.signal.reason : err;
      });
      if (outcome.kind === 'missing') {
        io.stdout.write('no data\n');
        io.exitCode = EXIT.noData;
        return;
      }
      const context = { vehicle: slot.vehicle, camera: slot.camera, slot: slotIso(slot.start) };
      if (outcome.kind === 'invalid')
        throw new ClipInvalidError(`invalid clip after ${outcome.attempts} tries: ${outcome.reason}`, context);
      const { bag } = outcome;
      io.stdout.write(
        `${outcome.path}\n` +
          `  size      ${outcome.bytes} bytes\n` +
          `  sha256    ${outcome.sha256}\n` +
          `  topics    ${bag.topics.join(', ')}\n` +
          `  messages  ${bag.messageCount}\n` +
          `  time      ${isoSeconds(bag.firstMessageTime)} .. ${isoSeconds(bag.lastMessageTime)}\n`,
      );
    } finally {
      stopListening();
    }
  },
});
