import type { Argv } from 'yargs';
import { UsageError } from '../../errors.js';
import {
  SUBMIT_DEFAULTS,
  cancelCampaign,
  resubmitCampaign,
  submitCampaign,
  type SubmitOptions,
  type SubmitResult,
} from '../../executor/index.js';
import { PROFILE_NAMES } from '../../slurm/index.js';
import type { Io } from '../io.js';
import type { CommandFactory } from '../main.js';
import { manifestFlag, single } from '../flags.js';
import { slurmDeps } from '../slurm.js';

/** The options `submit` and `resubmit` share: where and how long the array tasks run. */
function submitFlags<T>(y: Argv<T>, forResubmit: boolean): Argv<T> {
  const fromLast = forResubmit ? ' (default: as the last submission)' : '';
  return y
    .option('profile', {
      type: 'string',
      requiresArg: true,
      describe: `cluster profile in slurm/profiles/: ${PROFILE_NAMES.join(', ')} (default ${SUBMIT_DEFAULTS.profile})${fromLast}`,
    })
    .option('account', { type: 'string', requiresArg: true, describe: `Slurm account, e.g. fc_myproject (required on Savio)${fromLast}` })
    .option('qos', { type: 'string', requiresArg: true, describe: `QoS (default: the profile's)${fromLast}` })
    .option('partition', { type: 'string', requiresArg: true, describe: `partition (default: the profile's)${fromLast}` })
    .option('time', {
      type: 'string',
      requiresArg: true,
      describe: `time limit of each task, e.g. 12:00:00 (default: the profile's)${fromLast}`,
    })
    .option('mem', { type: 'string', requiresArg: true, describe: `memory of each task, e.g. 1G (default: the profile's)${fromLast}` })
    .option('workers', {
      type: 'number',
      describe: `array tasks: workers running at once (default ${SUBMIT_DEFAULTS.minWorkers}: one worker's window fills the campaign's budget, the second is a spare; never more than shards left)${fromLast}`,
    })
    .option('max-running', { type: 'number', describe: `tasks running at once (--array %K; default: all)${fromLast}` })
    .option('setup', {
      type: 'string',
      requiresArg: true,
      describe: `a line run before the worker starts, e.g. "module load nodejs" (repeatable)${fromLast}`,
    })
    .option('worker-arg', {
      type: 'string',
      requiresArg: true,
      describe: `a flag every worker gets, e.g. --worker-arg=--log-level=debug (repeatable)${fromLast}`,
    })
    .option('auto-resubmit', {
      type: 'number',
      describe:
        'also submit a small job that runs after the array and resubmits what is left, N times over: the campaign heals itself with no process on the login node',
    })
    .option('allow-token-expiry', {
      type: 'boolean',
      describe: 'submit even if the token expires before --time ends (workers pick up a renewed token file)',
    })
    .option('dry-run', { type: 'boolean', describe: 'write the scripts and print them with the sbatch command; submit nothing' })
    .option('json', { type: 'boolean', describe: 'print the outcome as JSON' })
    .option('verbose', { type: 'boolean', describe: 'also say how many scheduler commands were run' });
}

const list = (v: unknown): string[] | undefined => (v === undefined ? undefined : [v].flat().map(String));

function numberFlag(flag: string, v: unknown, min: number): number | undefined {
  const n = single(flag, v as number | undefined);
  if (n === undefined) return undefined;
  if (!Number.isInteger(n) || n < min) throw new UsageError(`--${flag} must be an integer >= ${min}, got ${String(n)}`);
  return n;
}

/** Flags → options; nothing given stays undefined (resubmit then takes the last submission's). */
function optionsFrom(a: Record<string, unknown>): Partial<SubmitOptions> {
  const text = (flag: string, key: string): string | undefined => single(flag, a[key] as string | undefined);
  const o: Partial<SubmitOptions> = {
    profile: text('profile', 'profile'),
    account: text('account', 'account'),
    qos: text('qos', 'qos'),
    partition: text('partition', 'partition'),
    time: text('time', 'time'),
    mem: text('mem', 'mem'),
    workers: numberFlag('workers', a.workers, 1),
    maxRunning: numberFlag('max-running', a.maxRunning, 1),
    setup: list(a.setup),
    workerArgs: list(a.workerArg),
    autoResubmit: numberFlag('auto-resubmit', a.autoResubmit, 0),
    allowTokenExpiry: a.allowTokenExpiry === true ? true : undefined,
  };
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}

function print(io: Io, result: SubmitResult, a: Record<string, unknown>): void {
  if (a.json) io.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  else {
    if (result.dryRun) for (const s of result.scripts) io.stdout.write(`# ${s.command.join(' ')}\n${s.text}\n`);
    io.stdout.write(`${result.summary}\n`);
  }
  if (a.verbose) io.stderr.write(`fleetclip: ${result.schedulerCalls} scheduler command(s) run\n`);
}

export const submitCommand: CommandFactory = (io) => ({
  command: 'submit',
  describe: 'submit the campaign to Slurm as an array job of workers (Savio HTC partitions, single-core tasks)',
  builder: (y: Argv) =>
    submitFlags(
      y
        .usage(
          '$0 submit --manifest FILE --account ACCOUNT [--profile savio3_htc] [--time 12:00:00] [--workers N] [--auto-resubmit N] [--dry-run]\n\n' +
            'Renders an sbatch array script into <run>/slurm/ (one task per worker, logs in <run>/logs/%A_%a.out), submits it with sbatch --parsable and records the job in the manifest. Tasks get a USR1 before their time limit and release their shard. Refuses a token that expires before --time ends. See docs/savio.md.',
        )
        .option('manifest', { type: 'string', requiresArg: true, demandOption: true, describe: 'the campaign manifest' }),
      false,
    ),
  handler: async (a: Record<string, unknown>) => {
    const opts = { profile: SUBMIT_DEFAULTS.profile, ...optionsFrom(a) } as SubmitOptions;
    const result = await submitCampaign(manifestFlag(a as { manifest?: string }), opts, slurmDeps(), a.dryRun === true);
    print(io, result, a);
  },
});

/** `--only vehicle=mav,hour=2025-11-17T08:00Z`: vehicles and hour starts to resubmit, both optional. */
function parseOnly(v: unknown): { vehicles?: string[]; hourStarts?: number[] } | undefined {
  const text = single('only', v as string | undefined);
  if (text === undefined) return undefined;
  const only: { vehicles?: string[]; hourStarts?: number[] } = {};
  for (const part of text
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const [key, value] = part.split('=');
    if (key === 'vehicle' && value) only.vehicles = [...(only.vehicles ?? []), value];
    else if (key === 'hour' && value) {
      const ms = /^\d+$/.test(value) ? Number(value) * 1000 : Date.parse(value);
      if (!Number.isFinite(ms))
        throw new UsageError(`--only hour=${value}: expected an ISO instant with a zone (2025-11-17T08:00Z) or epoch seconds`);
      only.hourStarts = [...(only.hourStarts ?? []), Math.floor(ms / 1000)];
    } else throw new UsageError(`--only "${part}": expected vehicle=NAME or hour=ISO_INSTANT, comma-separated`);
  }
  return only;
}

export const resubmitCommand: CommandFactory = (io) => ({
  command: 'resubmit',
  describe: 'reconcile the campaign with Slurm, queue failed and lost shards again and submit an array for what is left',
  builder: (y: Argv) =>
    submitFlags(
      y
        .usage(
          '$0 resubmit --manifest FILE [--only vehicle=NAME,hour=ISO] [--max-attempts N] [--dry-run]\n\n' +
            `Shards still running whose Slurm task has ended (TIMEOUT, NODE_FAIL, OUT_OF_MEMORY, CANCELLED, FAILED, PREEMPTED) are released; failed shards tried fewer than --max-attempts times (default ${SUBMIT_DEFAULTS.maxAttempts}) are queued again, their ok and missing slots kept; then an array sized to what is left is submitted, like the last submission unless told otherwise. "nothing to resubmit" (exit 0) when all is done. See docs/savio.md.`,
        )
        .option('manifest', { type: 'string', requiresArg: true, demandOption: true, describe: 'the campaign manifest' })
        .option('only', {
          type: 'string',
          requiresArg: true,
          describe: 'resubmit only failed shards of these: vehicle=NAME and/or hour=ISO_INSTANT, comma-separated',
        })
        .option('max-attempts', {
          type: 'number',
          describe: `a shard claimed this many times is failed for good (default ${SUBMIT_DEFAULTS.maxAttempts})`,
        }),
      true,
    ),
  handler: async (a: Record<string, unknown>) => {
    const only = parseOnly(a.only);
    const maxAttempts = numberFlag('max-attempts', a.maxAttempts, 1);
    const result = await resubmitCampaign(
      manifestFlag(a as { manifest?: string }),
      { ...optionsFrom(a), ...(only && { only }), ...(maxAttempts !== undefined && { maxAttempts }) },
      slurmDeps(),
      a.dryRun === true,
    );
    print(io, result, a);
    if (!a.json && result.gaveUp.length > 0)
      io.stdout.write(`${result.gaveUp.length} shard(s) failed for good after their attempts: fleetclip status --failed lists them\n`);
  },
});

export const cancelCommand: CommandFactory = (io) => ({
  command: 'cancel',
  describe: "scancel the campaign's Slurm jobs and release the shards their tasks held",
  builder: (y: Argv) =>
    y
      .usage(
        '$0 cancel --manifest FILE\n\nOne scancel for every job the campaign submitted; the shards their tasks held are released, their progress kept (resubmit continues them).',
      )
      .option('manifest', { type: 'string', requiresArg: true, demandOption: true, describe: 'the campaign manifest' })
      .option('json', { type: 'boolean', describe: 'print the outcome as JSON' })
      .option('verbose', { type: 'boolean', describe: 'also say how many scheduler commands were run' }),
  handler: async (a: Record<string, unknown>) => {
    const result = await cancelCampaign(manifestFlag(a as { manifest?: string }), slurmDeps());
    io.stdout.write(a.json ? `${JSON.stringify(result, null, 2)}\n` : `${result.summary}\n`);
    if (a.verbose) io.stderr.write(`fleetclip: ${result.schedulerCalls} scheduler command(s) run\n`);
  },
});
