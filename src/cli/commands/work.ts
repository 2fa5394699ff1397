import type { Argv } from 'yargs';
import { API_DEFAULTS, type ApiLimits } from '../../api/index.js';
import { runThisWorker } from '../../executor/index.js';
import { parseOnMiss } from '../../plan/grammar.js';
import { parseByteSize } from '../../plan/index.js';
import { CLIP_DEFAULTS, LOG_LEVELS, WORKER_DEFAULTS, type WorkerRunInput } from '../../worker/index.js';
import type { CommandFactory } from '../main.js';
import { progressFlags, single } from '../flags.js';

const D = WORKER_DEFAULTS;

/** seconds on the command line, ms inside */
const msOf = (flag: string, v: unknown): number | undefined => {
  const s = single(flag, v as number | undefined);
  return s === undefined ? undefined : s * 1000;
};

function workInputFromFlags(a: Record<string, unknown>): Parameters<typeof runThisWorker>[0] {
  const apiLimits: Partial<ApiLimits> = {};
  const authGrace = msOf('auth-grace', a.authGrace);
  if (authGrace !== undefined) apiLimits.authGraceMs = authGrace;
  const maxClipBytes = single('max-clip-bytes', a.maxClipBytes as string | undefined);
  if (maxClipBytes !== undefined) apiLimits.maxClipBytes = parseByteSize('max-clip-bytes', maxClipBytes);
  const minClipBytes = single('min-clip-bytes', a.minClipBytes as number | undefined);
  const hedgeFloorMs = msOf('hedge-floor', a.hedgeFloor);
  const onMiss = single('on-miss', a.onMiss as string | undefined);
  const workerId = single('worker-id', a.workerId as string | undefined);
  return {
    manifestPath: single('manifest', a.manifest as string),
    ...(workerId !== undefined && { workerId }),
    deadline: single('deadline', a.deadline as string | undefined),
    ...(onMiss !== undefined && { onMiss: parseOnMiss(onMiss) }),
    maxConcurrent: single('max-concurrent', a.maxConcurrent as number | undefined),
    minTimeMs: single('min-time-ms', a.minTimeMs as number | undefined),
    leaseMs: msOf('lease', a.lease),
    heartbeatMs: msOf('heartbeat', a.heartbeat),
    graceMs: msOf('grace', a.grace),
    progressIntervalMs: msOf('progress-interval', a.progressInterval),
    progress: single('progress', a.progress as WorkerRunInput['progress']),
    logLevel: single('log-level', a.logLevel as WorkerRunInput['logLevel']),
    apiLimits,
    clipOptions: { ...(minClipBytes !== undefined && { minClipBytes }), ...(hedgeFloorMs !== undefined && { hedgeFloorMs }) },
  };
}

/** Shared by `work` and `run` (which passes them on to its workers). */
export function workerFlags<T>(y: Argv<T>): Argv<T> {
  return y
    .option('on-miss', {
      type: 'string',
      describe: "override the campaign's missing-data strategy: probe-all, skip:SECS or gallop[:MAXSTRIDE_SECS]",
    })
    .option('max-concurrent', {
      type: 'number',
      describe: "override the campaign's cap of clips in flight per worker (the window itself follows the budget, up to the cap)",
    })
    .option('hedge-floor', {
      type: 'number',
      describe: `seconds a clip job is waited for at least before it is hedged (requested again); the hedge comes at ${CLIP_DEFAULTS.hedgeFactor} x the campaign's observed p90 readiness time, not before this (default ${CLIP_DEFAULTS.hedgeFloorMs / 1000})`,
    })
    .option('min-time-ms', { type: 'number', describe: "override the campaign's minimum gap between two API requests of a worker, ms" })
    .option('lease', { type: 'number', describe: `shard lease, seconds (default ${D.leaseMs / 1000})` })
    .option('heartbeat', {
      type: 'number',
      describe: `lease renewal interval, seconds; at most half the lease (default ${D.heartbeatMs / 1000})`,
    })
    .option('grace', {
      type: 'number',
      describe: `after a stop signal, seconds in-flight downloads may take before they are abandoned (default ${D.graceMs / 1000})`,
    })
    .option('min-clip-bytes', { type: 'number', describe: `a clip smaller than this is invalid (default ${CLIP_DEFAULTS.minClipBytes})` })
    .option('max-clip-bytes', {
      type: 'string',
      describe: "override the campaign's largest clip body, e.g. 500MB (plan --max-clip-bytes): a longer one is cut off and its slot fails",
    })
    .option('auth-grace', {
      type: 'number',
      describe: `seconds to wait for a renewed token file after the token expired (default ${API_DEFAULTS.authGraceMs / 1000})`,
    })
    .option('log-level', {
      type: 'string',
      choices: LOG_LEVELS,
      describe: `level of <run>/logs/<worker-id>.log; debug logs one line per clip (default ${D.logLevel})`,
    });
}

export const workCommand: CommandFactory = (io) => ({
  command: 'work',
  describe: 'Claim shards from a manifest and download their clips until no work is left',
  builder: (y: Argv) =>
    workerFlags(
      progressFlags(y, D)
        .usage(
          '$0 work --manifest PATH [options]\n\n' +
            'Claims a shard, downloads every clip of it (concurrently), records outcomes in the manifest, claims the next; ' +
            'exits 0 when no work is left. SIGTERM, SIGINT or SIGUSR1 stop it gracefully (release the shard, exit 10); ' +
            'a second signal stops at once. Logs: <run>/logs/<worker-id>.log. See docs/worker.md.',
        )
        .option('manifest', { type: 'string', demandOption: true, describe: 'the campaign manifest (from `fleetclip plan`)' })
        .option('worker-id', {
          type: 'string',
          describe: 'worker name in the manifest and log (default: <job>_<task> under Slurm, else local-<host>-<pid>)',
        })
        .option('deadline', {
          type: 'string',
          describe:
            'do not claim a shard that cannot finish before this time: ISO time or +DURATION (+90m); default: the Slurm end time (squeue %e), else none',
        }),
    ),
  handler: async (argv: Record<string, unknown>) => {
    const result = await runThisWorker(workInputFromFlags(argv), io);
    io.stderr.write(`fleetclip work: ${result.summary}\n`);
    io.exitCode = result.exitCode;
  },
});
