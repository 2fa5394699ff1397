import type { ArgumentsCamelCase, Argv } from 'yargs';
import {
  ARCHIVE_DEFAULTS,
  MIN_ARCHIVE_WATCH_SECONDS,
  archiveCampaign,
  emptyArchiveCounts,
  listArchive,
  normalizeArchiveOptions,
} from '../../archive/index.js';
import { EXIT, UsageError } from '../../errors.js';
import { formatArchiveFailure, formatArchiveProgress, renderArchiveListing, renderArchiveReport } from '../../report/index.js';
import { onStopSignals } from '../../signals.js';
import { ProgressReporter, RateMeter, type ProgressMode } from '../../worker/index.js';
import type { CommandFactory } from '../main.js';
import { manifestFlag, progressFlags, single } from '../flags.js';

interface ArchiveFlags {
  manifest?: string | string[];
  dest?: string | string[];
  move?: boolean;
  tz?: string | string[];
  dryRun?: boolean;
  watch?: string | string[];
  json?: boolean;
  progress?: ProgressMode;
  progressInterval?: number;
}

const D = ARCHIVE_DEFAULTS;

export const archiveCommand: CommandFactory = (io) => ({
  command: 'archive',
  describe: 'regroup downloaded clips by day into another folder or an rclone remote, verified, copied or moved off the workspace',
  builder: (y: Argv) =>
    progressFlags(y, D)
      .usage(
        '$0 archive --manifest PATH --dest DIR|rclone:NAME:path [--move] [--tz ZONE] [--dry-run] [--watch [SECS]] [--json]\n\n' +
          'Copies every downloaded clip to <dest>/<YYYY-MM-DD>/<vehicle>/<camera>/<file>, the day taken in --tz (default: the ' +
          "campaign's time zone), verifies its size and sha256 at the destination against the manifest, and records where it " +
          'is. With --move the workspace copy is then deleted and its bytes leave the workspace count, so workers under the ' +
          'workspace cap can go on. A destination that is missing or not writable is an error before anything moves. ' +
          'Interrupted, it goes on where it stopped when run again; a source is never deleted before its copy is verified. ' +
          'Only clips whose slot is final (ok) are archived, so it can run beside the workers: --watch repeats until the ' +
          'campaign is done. Exit 0 when every clip was archived, 1 when some could not be (their sources are left in ' +
          'place), 10 when stopped by a signal. See docs/archive.md.',
      )
      .option('manifest', { type: 'string', requiresArg: true, demandOption: true, describe: 'the campaign manifest' })
      .option('dest', {
        type: 'string',
        requiresArg: true,
        demandOption: true,
        describe: 'an existing folder, or rclone:NAME:path on an rclone remote (rclone must be installed)',
      })
      .option('move', { type: 'boolean', describe: 'delete each workspace copy once its copy at the destination is verified' })
      .option('tz', { type: 'string', requiresArg: true, describe: "time zone of the date folders (default: the campaign's)" })
      .option('dry-run', {
        type: 'boolean',
        describe: 'list what would be archived, per date folder, vehicle and camera, with bytes; change nothing',
      })
      .option('watch', {
        type: 'string',
        describe: `archive again every SECS seconds (default ${D.watchSeconds}, at least ${MIN_ARCHIVE_WATCH_SECONDS}) until the campaign is done`,
      })
      .option('json', { type: 'boolean', describe: 'print the report (or the --dry-run listing) as JSON' }),
  handler: async (argv: ArgumentsCamelCase<ArchiveFlags>) => {
    const tz = single('tz', argv.tz);
    const watch = single('watch', argv.watch);
    const options = normalizeArchiveOptions({
      manifestPath: manifestFlag(argv),
      dest: single('dest', argv.dest) ?? '',
      move: argv.move ?? false,
      dryRun: argv.dryRun ?? false,
      ...(tz !== undefined && { tz }),
      ...(watch !== undefined && { watch }),
    });
    const interval = argv.progressInterval;
    if (interval !== undefined && !(interval > 0)) throw new UsageError(`--progress-interval must be > 0 seconds, got ${interval}`);
    if (options.dryRun) {
      const listing = await listArchive(options);
      io.stdout.write(argv.json ? `${JSON.stringify(listing, null, 2)}\n` : renderArchiveListing(listing));
      return;
    }

    const counts = emptyArchiveCounts();
    const startedMs = Date.now();
    const meter = new RateMeter();
    let copiedSeen = 0;
    const reporter = new ProgressReporter(
      io.stderr,
      argv.progress ?? D.progress,
      interval !== undefined ? interval * 1000 : D.progressIntervalMs,
      () => {
        if (counts.pass === 0) return undefined; // nothing counted yet
        const now = Date.now();
        meter.add(counts.bytesCopied - copiedSeen, now);
        copiedSeen = counts.bytesCopied;
        return { counts, bytesPerSec: meter.perSecond(now, startedMs) };
      },
      formatArchiveProgress,
    );
    const say = (line: string): void => {
      reporter.clear();
      io.stderr.write(`fleetclip archive: ${line}\n`);
    };
    // the first signal lets the copies in progress finish; a second cuts them short (their temporaries stay, nothing else)
    const stop = new AbortController();
    const abort = new AbortController();
    const stopListening = onStopSignals((signal) => {
      if (stop.signal.aborted) {
        say(`${signal} again: cutting the copies in progress short (their temporaries stay for the next run)`);
        return abort.abort();
      }
      stop.abort();
      say(`${signal}: stopping after the copies in progress (a second signal cuts them short)`);
    });
    reporter.start();
    let report;
    try {
      report = await archiveCampaign(
        options,
        {
          onFailure: (failure) => say(`not archived: ${formatArchiveFailure(failure)}`),
          onWait: ({ pass, unfinishedShards, watchSeconds }) =>
            say(`pass ${pass} done; ${unfinishedShards} shard(s) still pending or running: next pass in ${watchSeconds} s`),
        },
        { stop: stop.signal, abort: abort.signal },
        counts,
      );
    } finally {
      reporter.stop();
      stopListening();
    }
    io.stdout.write(argv.json ? `${JSON.stringify(report, null, 2)}\n` : renderArchiveReport(report));
    io.exitCode = report.stopped ? EXIT.interrupted : report.failed > 0 ? EXIT.someFailed : EXIT.ok;
  },
});
