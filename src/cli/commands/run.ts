import { fileURLToPath } from 'node:url';
import type { Argv } from 'yargs';
import { UsageError } from '../../errors.js';
import { openManifest } from '../../manifest/index.js';
import { campaignApiBase } from '../../plan/grammar.js';
import { STATUS_DEFAULTS, plural, readStatusReport, renderStatusText } from '../../report/index.js';
import { EXECUTOR_DEFAULTS, defaultWorkerCount, localExecutor, maxWorkerCount } from '../../executor/index.js';
import type { ProgressMode } from '../../worker/index.js';
import type { CommandFactory } from '../main.js';
import { progressFlags, single } from '../flags.js';
import { workerFlags } from './work.js';

/** flags `run` hands on to every `work` child unchanged */
const PASSED_ON = [
  'on-miss',
  'max-concurrent',
  'min-time-ms',
  'lease',
  'heartbeat',
  'grace',
  'min-clip-bytes',
  'max-clip-bytes',
  'hedge-floor',
  'auth-grace',
  'log-level',
] as const;

const camel = (flag: string): string => flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

function workerArgsFrom(argv: Record<string, unknown>): string[] {
  return PASSED_ON.flatMap((flag) => {
    const v = argv[camel(flag)];
    if (v === undefined) return [];
    return [`--${flag}`, String(single(flag, v))];
  });
}

export const runCommand: CommandFactory = (io) => ({
  command: 'run',
  describe: 'Run a campaign on this machine: N supervised `fleetclip work` processes, a combined progress bar, a final status',
  builder: (y: Argv) =>
    workerFlags(
      progressFlags(y, EXECUTOR_DEFAULTS)
        .usage(
          '$0 run --manifest PATH [--workers N] [worker options]\n\n' +
            "Starts N workers, shows the campaign's progress from the manifest, replaces a worker that dies (its shard is " +
            'released at once), and prints the status table at the end. Ctrl-C stops the workers gracefully; a second Ctrl-C ' +
            'stops them at once. Exits 1 if any shard failed (docs/exit-codes.md). See docs/worker.md.',
        )
        .option('manifest', { type: 'string', demandOption: true, describe: 'the campaign manifest (from `fleetclip plan`)' })
        .option('workers', {
          type: 'number',
          describe: `worker processes, at most ${EXECUTOR_DEFAULTS.maxWorkersPerCore} per core (${maxWorkerCount()} here) (default: the number of cores, ${defaultWorkerCount()} here)`,
        })
        .option('retry-failed', {
          type: 'boolean',
          describe: 'queue the failed shards again before starting (their ok and missing slots are kept)',
        }),
    ),
  handler: async (argv: Record<string, unknown>) => {
    const manifestPath = argv.manifest;
    if (typeof manifestPath !== 'string') throw new UsageError('--manifest is required, once');
    const workers = (argv.workers as number | undefined) ?? defaultWorkerCount();
    const most = maxWorkerCount();
    if (!Number.isInteger(workers) || workers < 1 || workers > most)
      throw new UsageError(
        `--workers must be an integer from 1 to ${most} (${EXECUTOR_DEFAULTS.maxWorkersPerCore} per core), got ${String(argv.workers)}`,
      );
    const interval = argv.progressInterval as number | undefined;
    if (interval !== undefined && !(interval > 0)) throw new UsageError(`--progress-interval must be > 0 seconds, got ${interval}`);
    // a missing or foreign manifest is a one-line error before anything starts
    const opened = openManifest(manifestPath, { readonly: argv.retryFailed !== true });
    try {
      campaignApiBase(opened.settings(), opened.path); // every worker would refuse it
      if (argv.retryFailed === true) io.stderr.write(`fleetclip run: ${plural(opened.resetFailed(), 'failed shard')} queued again\n`);
    } finally {
      opened.close();
    }
    const executor = localExecutor(
      {
        cliPath: fileURLToPath(new URL('../../cli.js', import.meta.url)),
        progress: (argv.progress as ProgressMode | undefined) ?? EXECUTOR_DEFAULTS.progress,
        progressIntervalMs: interval !== undefined ? interval * 1000 : EXECUTOR_DEFAULTS.progressIntervalMs,
        restartsPerWorker: EXECUTOR_DEFAULTS.restartsPerWorker,
      },
      io,
    );
    const result = await executor.launch({ manifestPath, workers, workerArgs: workerArgsFrom(argv) });
    const manifest = openManifest(manifestPath, { readonly: true });
    try {
      const report = readStatusReport(manifest, 'vehicle', STATUS_DEFAULTS.rateWindowMinutes * 60_000);
      io.stdout.write(renderStatusText(report));
      io.stdout.write(`clips are under ${manifest.outDir()}/<vehicle>/download<N>/\n`);
    } finally {
      manifest.close();
    }
    io.stderr.write(`fleetclip run: ${result.summary} (${result.started} worker(s) started, ${result.restarted} replacement(s))\n`);
    io.exitCode = result.exitCode;
  },
});
