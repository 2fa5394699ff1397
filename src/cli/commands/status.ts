import { setTimeout as sleep } from 'node:timers/promises';
import type { ArgumentsCamelCase, Argv } from 'yargs';
import { type StatusSource, openStatusSource } from '../../manifest/index.js';
import {
  MIN_WATCH_SECONDS,
  STATUS_CUTS,
  STATUS_DEFAULTS,
  type StatusOptions,
  readStatusReport,
  normalizeStatusOptions,
  renderFailedShards,
  renderStatusText,
} from '../../report/index.js';
import { onStopSignals } from '../../signals.js';
import type { Io } from '../io.js';
import type { CommandFactory } from '../main.js';
import { manifestFlag } from '../flags.js';

interface StatusFlags {
  manifest?: string | string[];
  by?: string;
  failed?: boolean;
  json?: boolean;
  watch?: string;
}

const CLEAR_SCREEN = '\x1b[H\x1b[2J';

/** One snapshot of the manifest, rendered. */
function snapshot(manifest: StatusSource, options: StatusOptions, flags: StatusFlags, compactJson: boolean): string {
  const report = readStatusReport(manifest, options.by, options.rateWindowMs);
  if (flags.json) return `${compactJson ? JSON.stringify(report) : JSON.stringify(report, null, 2)}\n`;
  return flags.failed ? renderFailedShards(report) : renderStatusText(report);
}

/** Refreshes until SIGINT or SIGTERM: in place on a terminal, one frame after another otherwise (JSON: one per line). */
async function watch(io: Io, seconds: number, frame: () => string): Promise<void> {
  const stop = new AbortController();
  const stopListening = onStopSignals(() => stop.abort());
  try {
    while (!stop.signal.aborted) {
      const text = frame();
      io.stdout.write(io.stdout.isTTY ? `${CLEAR_SCREEN}${text}every ${seconds} s; Ctrl-C stops\n` : text);
      await sleep(seconds * 1000, undefined, { signal: stop.signal }).catch(() => undefined);
    }
  } finally {
    stopListening();
  }
}

export const statusCommand: CommandFactory = (io) => ({
  command: 'status',
  describe: 'progress of a campaign from its manifest: per vehicle, hour, camera or shard',
  builder: (y: Argv) =>
    y
      .usage(
        '$0 status --manifest FILE [--by vehicle|hour|camera|shard] [--failed] [--json] [--watch [SECS]]\n\n' +
          'Read the manifest (never blocking workers) and print shards and clips done, rates and ETA. See docs/campaign.md.',
      )
      .option('manifest', { type: 'string', requiresArg: true, demandOption: true, describe: 'the campaign manifest' })
      .option('by', { type: 'string', requiresArg: true, describe: `rows per ${STATUS_CUTS.join(' | ')} (default ${STATUS_DEFAULTS.by})` })
      .option('failed', {
        type: 'boolean',
        describe: 'list the failed shards with their last error (JSON always has them in failedShards)',
      })
      .option('json', { type: 'boolean', describe: 'print the status document as JSON (schema in docs/campaign.md)' })
      .option('watch', {
        type: 'string',
        describe: `refresh every SECS seconds (default ${STATUS_DEFAULTS.watchSeconds}, at least ${MIN_WATCH_SECONDS}) until Ctrl-C; with --json one document per line`,
      }),
  handler: async (argv: ArgumentsCamelCase<StatusFlags>) => {
    const manifestPath = manifestFlag(argv);
    const options = normalizeStatusOptions({ by: argv.by, watch: argv.watch });
    const manifest = openStatusSource(manifestPath);
    try {
      if (options.watchSeconds === undefined) io.stdout.write(snapshot(manifest, options, argv, false));
      else await watch(io, options.watchSeconds, () => snapshot(manifest, options, argv, true));
    } finally {
      manifest.close();
    }
  },
});
