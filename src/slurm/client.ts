import { SlurmCommandError } from '../errors.js';
import {
  SACCT_FORMAT,
  SQUEUE_FORMAT,
  parseMaxArraySize,
  parseSacct,
  parseSbatchParsable,
  parseSqueue,
  parseSqueueEndTime,
  type TaskState,
} from './parse.js';

export type SlurmCommand = 'sbatch' | 'squeue' | 'sacct' | 'scancel' | 'scontrol';

/** The scheduler's commands, run with execa. Parsing lives in parse.ts, apart from running. */
export interface SlurmClient {
  /** when the job's time limit ends (epoch ms), or undefined when squeue cannot tell; never throws */
  jobEndTime(jobId: string): Promise<number | undefined>;
  /** `sbatch --parsable <script>` → the job id; SlurmCommandError with sbatch's stderr when it refuses */
  submit(scriptPath: string): Promise<string>;
  /**
   * Every task of these jobs (array job ids or plain job ids) in ONE sacct call. When accounting storage is disabled
   * or slurmdbd does not answer, ONE `squeue -r -t all` call instead (it knows jobs that ended within MinJobAge). A job slurmdbd has not recorded yet (about
   * half a second after sbatch) is asked of squeue in one more call. A job neither knows is absent from `tasks`.
   */
  taskStates(jobIds: readonly string[]): Promise<{ source: 'sacct' | 'squeue'; tasks: TaskState[] }>;
  /** one scancel for all: `52` (a whole array), `52_3` (one task); ids already ended or unknown are no error */
  cancel(jobIds: readonly string[]): Promise<void>;
  /** `scontrol show config` → MaxArraySize; 1001 (Slurm's default) when it cannot tell */
  maxArraySize(): Promise<number>;
  /** scheduler commands run so far by this client (HPC citizenship: callers print it with --verbose) */
  readonly calls: number;
}

export interface SlurmClientOptions {
  /** per command (default 60 s; jobEndTime at most 15 s: it delays a worker's start) */
  timeoutMs?: number;
  /** where each command is, when not on PATH */
  bin?: Partial<Record<SlurmCommand, string>>;
  /** environment for the commands (default process.env); sbatch never gets the variables in `SUBMIT_ENV_DROPPED` */
  env?: NodeJS.ProcessEnv;
}

/**
 * sbatch copies the caller's whole environment into the job (`--export=ALL`) and slurmctld keeps it in its state
 * files: a bearer token in the environment must not travel that way. Workers read the token file.
 */
export const SUBMIT_ENV_DROPPED: readonly string[] = ['FLEETCLIP_TOKEN'];

/** sacct cannot answer, but slurmctld can: accounting is off, or slurmdbd is down (`Problem talking to the database`) */
const SACCT_UNAVAILABLE = /accounting storage is disabled|Problem talking to the database/i;
const DEFAULT_MAX_ARRAY_SIZE = 1001;

export function execaSlurmClient({ timeoutMs = 60_000, bin = {}, env = process.env }: SlurmClientOptions = {}): SlurmClient {
  let calls = 0;

  async function run(command: SlurmCommand, args: string[], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<string> {
    const file = bin[command] ?? command;
    calls++;
    const { execa, ExecaError } = await import('execa'); // loaded only under Slurm: keeps ~15 MB out of every local worker
    try {
      const result = await execa(file, args, {
        timeout: opts.timeoutMs ?? timeoutMs,
        env: opts.env ?? env,
        extendEnv: false,
        stdin: 'ignore',
      });
      return result.stdout;
    } catch (error) {
      if (error instanceof ExecaError) {
        const said = String(error.stderr || error.stdout || '').trim() || error.shortMessage;
        throw new SlurmCommandError([file, ...args], said, { cause: error });
      }
      throw error;
    }
  }

  async function squeueTasks(jobIds: readonly string[]): Promise<TaskState[]> {
    try {
      return parseSqueue(await run('squeue', ['-h', '-r', '-t', 'all', '-j', jobIds.join(','), '-O', SQUEUE_FORMAT]));
    } catch (err) {
      // one id that slurmctld no longer holds (or never did) is an error; several are filtered quietly
      if (err instanceof SlurmCommandError && /Invalid job id specified/i.test(err.stderr)) return [];
      throw err;
    }
  }

  return {
    get calls() {
      return calls;
    },

    async jobEndTime(jobId) {
      try {
        return parseSqueueEndTime(await run('squeue', ['-h', '-j', jobId, '-o', '%e'], { timeoutMs: Math.min(timeoutMs, 15_000) }));
      } catch {
        return undefined; // never fatal: a worker without a known deadline simply claims until work runs out
      }
    },

    async submit(scriptPath) {
      const submitEnv = { ...env };
      for (const name of SUBMIT_ENV_DROPPED) delete submitEnv[name];
      const args = ['--parsable', scriptPath];
      return parseSbatchParsable(await run('sbatch', args, { env: submitEnv }), [bin.sbatch ?? 'sbatch', ...args]);
    },

    async taskStates(jobIds) {
      const ids = [...new Set(jobIds)];
      if (ids.length === 0) return { source: 'sacct', tasks: [] };
      let tasks: TaskState[];
      try {
        tasks = parseSacct(await run('sacct', ['-X', '--parsable2', '--noheader', `--format=${SACCT_FORMAT}`, '-j', ids.join(',')]));
      } catch (err) {
        if (err instanceof SlurmCommandError && SACCT_UNAVAILABLE.test(err.stderr))
          return { source: 'squeue', tasks: await squeueTasks(ids) };
        throw err;
      }
      const baseOf = (id: string): string => id.split('_')[0] ?? id;
      const seen = new Set(tasks.flatMap((t) => [t.arrayJobId, t.jobId ?? t.arrayJobId]));
      const unrecorded = ids.filter((id) => !seen.has(baseOf(id)));
      if (unrecorded.length > 0) {
        const bases = new Set(unrecorded.map(baseOf));
        const late = (await squeueTasks(unrecorded)).filter((t) => bases.has(t.arrayJobId) || bases.has(t.jobId ?? ''));
        tasks = [...tasks, ...late];
      }
      return { source: 'sacct', tasks };
    },

    async cancel(jobIds) {
      const ids = [...new Set(jobIds)];
      if (ids.length > 0) await run('scancel', ids);
    },

    async maxArraySize() {
      try {
        return parseMaxArraySize(await run('scontrol', ['show', 'config'])) ?? DEFAULT_MAX_ARRAY_SIZE;
      } catch {
        return DEFAULT_MAX_ARRAY_SIZE;
      }
    },
  };
}
