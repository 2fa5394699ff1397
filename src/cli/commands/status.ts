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
import { formatDuration, parseDuration } from '../../duration.js';
import { EXIT, FleetclipError, UsageError } from '../../errors.js';
import { liveTaskCount, slurmView } from '../../executor/index.js';
import type { SlurmClient } from '../../slurm/index.js';
import { onStopSignals } from '../../signals.js';
import { slurmDeps } from '../slurm.js';
import type { Io } from '../io.js';
import type { CommandFactory } from '../main.js';
import { manifestFlag, single } from '../flags.js';
import { REPORT_FILE_NAME, reportPathFor, writeReportFile, type WrittenReport } from '../report-file.js';

interface StatusFlags {
  manifest?: string | string[];
  by?: string;
  failed?: boolean;
  json?: boolean;
  watch?: string;
  wait?: boolean;
  giveUpAfter?: string;
  slurm?: boolean;
  verbose?: boolean;
  report?: string | string[];
}

const CLEAR_SCREEN = '\x1b[H\x1b[2J';
/** The scheduler is asked at most this often, however often the manifest is read (HPC citizenship). */
const SLURM_POLL_MS = 60_000;
/** `--wait` reads the manifest this often (a cheap read), and says how far it got this often without a terminal. */
const WAIT_POLL_MS = 5_000;
const WAIT_LINE_MS = 60_000;
/**
 * `--wait` gives up once nothing has worked on the campaign this long (`--give-up-after`): long enough for workers
 * to start and claim, short enough that a campaign whose jobs all ended does not hold a script forever.
 */
const GIVE_UP_AFTER_DEFAULT = '5m';

type SlurmView = Awaited<ReturnType<typeof slurmView>>;

interface SlurmViewer {
  view(): Promise<SlurmView>;
  /** when the view `view()` returns was taken */
  atMs(): number;
}

/** The scheduler's view of the campaign's jobs, asked for again only once it is a minute old. */
function slurmViewer(manifest: StatusSource, slurm: SlurmClient): SlurmViewer {
  let cached: { atMs: number; view: SlurmView } | undefined;
  return {
    async view() {
      if (!cached || Date.now() - cached.atMs >= SLURM_POLL_MS) cached = { atMs: Date.now(), view: await slurmView(manifest, slurm) };
      return cached.view;
    },
    atMs: () => cached?.atMs ?? 0,
  };
}

function renderSlurm(view: SlurmView): string {
  if (view.submissions.length === 0) return 'slurm: nothing submitted\n';
  return view.submissions
    .map((s) => {
      const tasks = Object.entries(s.tasks).map(([state, n]) => `${n} ${state}`);
      return `slurm job ${s.jobId} (${s.kind}${s.arrayRange ? ` ${s.arrayRange}` : ''}, ${s.submittedAt}): ${tasks.join(', ') || 'not known to the scheduler (yet)'}\n`;
    })
    .join('');
}

/** One snapshot of the manifest (and, with --slurm, of the scheduler), rendered. */
async function snapshot(
  manifest: StatusSource,
  options: StatusOptions,
  flags: StatusFlags,
  compactJson: boolean,
  slurm?: SlurmViewer,
  htmlReport?: WrittenReport,
): Promise<string> {
  const report = readStatusReport(manifest, options.by, options.rateWindowMs);
  const view = slurm ? await slurm.view() : undefined;
  if (flags.json) {
    const doc = { ...report, ...(view && { slurm: view }), ...(htmlReport && { htmlReport }) };
    return `${compactJson ? JSON.stringify(doc) : JSON.stringify(doc, null, 2)}\n`;
  }
  return (flags.failed ? renderFailedShards(report) : renderStatusText(report)) + (view ? renderSlurm(view) : '');
}

/** Refreshes until SIGINT or SIGTERM: in place on a terminal, one frame after another otherwise (JSON: one per line). */
async function watch(io: Io, seconds: number, frame: () => Promise<string>): Promise<void> {
  const stop = new AbortController();
  const stopListening = onStopSignals(() => stop.abort());
  try {
    while (!stop.signal.aborted) {
      const text = await frame();
      io.stdout.write(io.stdout.isTTY ? `${CLEAR_SCREEN}${text}every ${seconds} s; Ctrl-C stops\n` : text);
      await sleep(seconds * 1000, undefined, { signal: stop.signal }).catch(() => undefined);
    }
  } finally {
    stopListening();
  }
}

/**
 * `--wait`: until no shard is pending, released or running (exit 0; 1 when some failed), a line now and then on
 * stderr. Ctrl-C ends the wait (exit 10); the campaign goes on. It gives up (exit 11) once nothing has worked on the
 * campaign for `giveUpMs` (0: never): no shard leased by a live worker and, when the campaign has Slurm jobs, none of
 * their tasks pending or running — their own view, asked at most once a minute, and only while no lease is live.
 */
async function waitUntilSettled(io: Io, manifest: StatusSource, giveUpMs: number, slurm: SlurmClient): Promise<number> {
  const stop = new AbortController();
  const stopListening = onStopSignals(() => stop.abort());
  const scheduler = slurmViewer(manifest, slurm);
  let lastLineMs = 0;
  let idleSinceMs: number | undefined;
  let schedulerUnreadable = false;
  try {
    for (;;) {
      const { shards, slots } = manifest.progress();
      if (shards.unfinished === 0) return shards.failed > 0 ? EXIT.someFailed : EXIT.ok;
      if (giveUpMs > 0) {
        const nowMs = Date.now();
        const leased = shards.unfinished - shards.claimable > 0;
        const hasJobs = !leased && manifest.submissions().length > 0;
        let tasksLive = false;
        if (hasJobs) {
          try {
            tasksLive = liveTaskCount(await scheduler.view()) > 0;
          } catch (error) {
            if (!(error instanceof FleetclipError)) throw error;
            tasksLive = true; // not known: waiting on is the safe side
            if (!schedulerUnreadable) io.stderr.write(`fleetclip status: cannot ask the scheduler (${error.message}); waiting on\n`);
            schedulerUnreadable = true;
          }
        }
        if (leased || tasksLive) idleSinceMs = undefined;
        else idleSinceMs ??= nowMs;
        // the scheduler's word must be younger than the idleness it confirms
        if (idleSinceMs !== undefined && nowMs - idleSinceMs >= giveUpMs && (!hasJobs || scheduler.atMs() >= idleSinceMs)) {
          io.stderr.write(
            `fleetclip status: gave up waiting: nothing has worked on the campaign for ${formatDuration(giveUpMs / 1000)} ` +
              `(no shard leased by a live worker${hasJobs ? ', no Slurm task pending or running' : ''}); ` +
              `${shards.unfinished} of ${shards.total} shard(s) unfinished: resubmit them (fleetclip resubmit, or fleetclip run), then wait again\n`,
          );
          return EXIT.stalled;
        }
      }
      if (Date.now() - lastLineMs >= WAIT_LINE_MS) {
        io.stderr.write(
          `fleetclip status: waiting: ${shards.unfinished} of ${shards.total} shard(s) unfinished, ${slots.done}/${slots.total} slots done\n`,
        );
        lastLineMs = Date.now();
      }
      await sleep(WAIT_POLL_MS, undefined, { signal: stop.signal }).catch(() => undefined);
      if (stop.signal.aborted) return EXIT.interrupted;
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
        '$0 status --manifest FILE [--by vehicle|hour|camera|shard] [--failed] [--json] [--watch [SECS]] [--wait [--give-up-after DURATION]] [--slurm] [--report [FILE]]\n\n' +
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
      })
      .option('wait', {
        type: 'boolean',
        describe:
          'block until no shard is pending or running, then print the status; exit 0 when every shard is done, 1 when some failed, 11 when nothing worked on the campaign for --give-up-after',
      })
      .option('give-up-after', {
        type: 'string',
        requiresArg: true,
        describe: `with --wait: give up (exit 11) once no live worker holds a shard and no Slurm task is pending or running for this long, e.g. 90s, 10m; 0 never gives up (default ${GIVE_UP_AFTER_DEFAULT})`,
      })
      .option('slurm', {
        type: 'boolean',
        describe:
          "add the scheduler's view of each submission (tasks by state); asked at most once a minute, however often --watch refreshes",
      })
      .option('verbose', { type: 'boolean', describe: 'with --slurm: say how many scheduler commands were run' })
      .option('report', {
        type: 'string',
        describe: `also write the HTML report (\`fleetclip report\`) to FILE (default ${REPORT_FILE_NAME} beside the manifest) and print its path; with --wait, once the wait is over`,
      }),
  handler: async (argv: ArgumentsCamelCase<StatusFlags>) => {
    const manifestPath = manifestFlag(argv);
    const options = normalizeStatusOptions({ by: argv.by, watch: argv.watch });
    const reportOut = single('report', argv.report);
    if (reportOut !== undefined && options.watchSeconds !== undefined && !argv.wait)
      throw new UsageError('--report writes the report once: leave out --watch (or use --wait)');
    const giveUpAfter = single('give-up-after', argv.giveUpAfter);
    if (giveUpAfter !== undefined && !argv.wait) throw new UsageError('--give-up-after goes with --wait');
    const giveUpMs = parseDuration('give-up-after', giveUpAfter ?? GIVE_UP_AFTER_DEFAULT) * 1000;
    const manifest = openStatusSource(manifestPath);
    const scheduler = slurmDeps().slurm; // one client: --verbose counts the wait's commands and the view's
    const slurm = argv.slurm ? slurmViewer(manifest, scheduler) : undefined;
    try {
      if (argv.wait) io.exitCode = await waitUntilSettled(io, manifest, giveUpMs, scheduler);
      if (reportOut !== undefined) {
        const outPath = await reportPathFor(manifestPath, reportOut || undefined);
        // the text status first: a report that cannot be written hides nothing of it (JSON carries the report's figures)
        if (!argv.json) io.stdout.write(await snapshot(manifest, options, argv, false, slurm));
        const written = await writeReportFile(io, manifestPath, outPath, 'fleetclip status');
        io.stdout.write(argv.json ? await snapshot(manifest, options, argv, false, slurm, written) : `report: ${written.path}\n`);
      } else if (options.watchSeconds === undefined || argv.wait) io.stdout.write(await snapshot(manifest, options, argv, false, slurm));
      else await watch(io, options.watchSeconds, () => snapshot(manifest, options, argv, true, slurm));
      if (slurm && argv.verbose) io.stderr.write(`fleetclip: ${scheduler.calls} scheduler command(s) run\n`);
    } finally {
      manifest.close();
    }
  },
});
