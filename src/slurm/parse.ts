import { SlurmCommandError } from '../errors.js';
import { isFinalState, slurmStateOf, type SlurmState } from './states.js';

/**
 * What the scheduler says about one array task (or one plain job). Outputs of sacct and squeue are read into these by
 * the pure parsers below; the runner (client.ts) only runs the commands.
 */
export interface TaskState {
  /** the array's job id; a plain (non-array) job's own id */
  arrayJobId: string;
  /**
   * the array index. Undefined for a plain job — and for the record of an array's tasks that never got one of their own
   * when sacct does not say which they are (a bare `48|48|CANCELLED` row, see parseSacct): read it as "every task of
   * this array that has no entry of its own".
   */
  taskId?: number;
  state: SlurmState;
  /** who cancelled it, from `CANCELLED by 0` (a uid) */
  cancelledBy?: string;
  /** for a task that has ended: its exit code (`3:0` → 3) */
  exitCode?: number;
  /** for a task that has ended: the signal that ended it (`0:15` → 15); 0 when none */
  signal?: number;
  /** the job record's own id (JobIDRaw): a started task's own id; for never-started tasks, the array's id */
  jobId?: string;
  /** squeue's reason for a task that has not ended (`Resources`, `JobArrayTaskLimit`, `Dependency`…) */
  reason?: string;
}

/** The sacct fields parseSacct reads, in order: `sacct -X --parsable2 --noheader --format=${SACCT_FORMAT}`. */
export const SACCT_FORMAT = 'JobID,JobIDRaw,State,ExitCode';

/**
 * The squeue fields parseSqueue reads, in order (`squeue -h -r -t all -O ${SQUEUE_FORMAT}`): each ends with `|`, so no
 * padding and no truncation. Unlike the `%i|%F|%K|%T|%r` letters, `-O` gives each task's own job id and its exit code.
 */
export const SQUEUE_FORMAT = 'JobID:|,ArrayJobID:|,ArrayTaskID:|,State:|,Reason:|,exit_code:|';

/**
 * `squeue -h -j JOB -o %e` prints the job's end time in the cluster's local time without a zone
 * (`2026-06-15T18:00:00`), or `N/A` / `Unknown` / `NONE` when there is none. Undefined when it says nothing usable.
 */
export function parseSqueueEndTime(text: string): number | undefined {
  const line = text.trim().split('\n')[0]?.trim() ?? '';
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$/.test(line)) return undefined;
  const ms = Date.parse(line); // no zone: local time, which is what squeue prints
  return Number.isFinite(ms) ? ms : undefined;
}

/**
 * `sbatch --parsable` prints `1234` or `1234;cluster` (errors go to stderr). Throws SlurmCommandError (with `argv`, and
 * the output quoted in the message) when the last line is not that: sbatch ran but we cannot tell which job it made.
 */
export function parseSbatchParsable(stdout: string, argv: readonly string[] = ['sbatch', '--parsable']): string {
  const last = stdout.trim().split('\n').pop()?.trim() ?? '';
  const m = /^(\d+)(?:;\S+)?$/.exec(last);
  if (!m?.[1]) {
    const shown = last.length > 120 ? `${last.slice(0, 120)}…` : last;
    throw new SlurmCommandError(argv, '', { message: `sbatch printed no job id (expected "1234" or "1234;cluster", got "${shown}")` });
  }
  return m[1];
}

/**
 * Array indices as sbatch, squeue and sacct write them: `3`, `2-5`, `[2-7,12-17%4]`, `0-15:4`, `2,4-5%1` (brackets and
 * the `%N` throttle are ignored). Undefined when the text is not an index expression.
 */
export function parseArrayIndices(text: string): number[] | undefined {
  const body = text
    .trim()
    .replace(/^\[(.*)\]$/, '$1')
    .replace(/%\d+$/, '');
  if (body === '') return undefined;
  const out: number[] = [];
  for (const part of body.split(',')) {
    const m = /^(\d+)(?:-(\d+)(?::(\d+))?)?$/.exec(part);
    if (!m) return undefined;
    const from = Number(m[1]);
    const to = m[2] === undefined ? from : Number(m[2]);
    const step = m[3] === undefined ? 1 : Number(m[3]);
    if (to < from || step < 1) return undefined;
    for (let i = from; i <= to; i += step) out.push(i);
  }
  return out;
}

/** `3:0` → exit code 3, signal 0; undefined when unreadable. */
function exitOfSacct(text: string | undefined): { exitCode: number; signal: number } | undefined {
  const m = /^(\d+):(\d+)$/.exec(text?.trim() ?? '');
  return m ? { exitCode: Number(m[1]), signal: Number(m[2]) } : undefined;
}

/** squeue's exit_code is the raw wait status: 768 = exit 3, 15 = killed by signal 15. */
function exitOfWaitStatus(text: string | undefined): { exitCode: number; signal: number } | undefined {
  const t = text?.trim() ?? '';
  if (!/^\d+$/.test(t)) return undefined;
  const status = Number(t);
  return { exitCode: (status >> 8) & 0xff, signal: status & 0x7f };
}

function taskKey(t: TaskState): string {
  return `${t.arrayJobId}_${t.taskId ?? ''}`;
}

function byJobThenTask(a: TaskState, b: TaskState): number {
  const byJob = Number(a.arrayJobId) - Number(b.arrayJobId) || a.arrayJobId.localeCompare(b.arrayJobId);
  return byJob || (a.taskId ?? -1) - (b.taskId ?? -1);
}

function withState(
  base: { arrayJobId: string; taskId?: number; jobId?: string },
  stateText: string,
  exit?: { exitCode: number; signal: number },
): TaskState {
  const { state, cancelledBy } = slurmStateOf(stateText);
  return {
    ...base,
    state,
    ...(cancelledBy !== undefined && { cancelledBy }),
    ...(exit && isFinalState(state) && exit),
  };
}

/**
 * `sacct -X --parsable2 --noheader --format=JobID,JobIDRaw,State,ExitCode` → one TaskState per task, sorted by job then
 * task. Rows are read as Slurm 22.05 writes them:
 * - `52_3|60|FAILED|3:0`: task 3 of array 52, its own job id 60.
 * - `52_[2-5]|52|PENDING|0:0` or `20_[2-7,12-17%4]|20|CANCELLED by 0|0:0`: the array's own record, holding the tasks
 *   that never started. It is expanded to those tasks, but only to tasks with no row of their own: the range can be
 *   stale (`16_[2-5]` after 2–4 ran, each with its own row).
 * - `52|52|PENDING|0:0` (nothing started yet) or `48|48|CANCELLED|0:0` (after a restart, the range lost): a bare id is
 *   a plain job, or that same record of never-started tasks; it is kept as one TaskState without taskId.
 * A task cancelled while pending in the middle of a range leaves no row at all: callers treat a task id that no row
 * names, in an array that has ended, as cancelled before it started.
 * Lines that are not job records (steps such as `60.batch`, blank lines) are skipped.
 */
export function parseSacct(text: string): TaskState[] {
  const own = new Map<string, TaskState>();
  const rest: TaskState[] = [];
  for (const line of text.split('\n')) {
    const [jobIdText = '', raw = '', stateText = '', exitText] = line.trim().split('|');
    if (!stateText) continue;
    const exit = exitOfSacct(exitText);
    const jobId = raw.trim() || undefined;
    let m: RegExpExecArray | null;
    if ((m = /^(\d+)_(\d+)$/.exec(jobIdText))) {
      const t = withState({ arrayJobId: m[1]!, taskId: Number(m[2]), ...(jobId && { jobId }) }, stateText, exit);
      own.set(taskKey(t), t);
    } else if ((m = /^(\d+)_(\[.*\])$/.exec(jobIdText))) {
      for (const taskId of parseArrayIndices(m[2]!) ?? [])
        rest.push(withState({ arrayJobId: m[1]!, taskId, ...(jobId && { jobId }) }, stateText, exit));
    } else if ((m = /^(\d+)$/.exec(jobIdText))) {
      const t = withState({ arrayJobId: m[1]!, ...(jobId && { jobId }) }, stateText, exit);
      own.set(taskKey(t), t);
    }
  }
  for (const t of rest) if (!own.has(taskKey(t))) own.set(taskKey(t), t);
  return [...own.values()].sort(byJobThenTask);
}

/**
 * squeue's view of jobs still in slurmctld's memory (finished ones for MinJobAge), one TaskState per task, sorted. Reads
 * either format, told apart by the number of fields:
 * - `squeue -h -r -t all -O '${SQUEUE_FORMAT}'` (what the client runs): `60|52|3|FAILED|NonZeroExitCode|768|`, with
 *   the task's own job id and its raw wait status (768 = exit 3; 15 = signal 15);
 * - `squeue -h -r -t all -o '%i|%F|%K|%T|%r'`: `52_3|52|3|FAILED|NonZeroExitCode`, no exit code.
 * `N/A` as task id means a plain job. Without `-r` a pending array is one line whose task id is a range
 * (`1-5%1`): it is expanded.
 */
export function parseSqueue(text: string): TaskState[] {
  const out = new Map<string, TaskState>();
  for (const line of text.split('\n')) {
    const fields = line.trim().split('|');
    if (fields.length < 5) continue;
    const withCodes = fields.length >= 6;
    const [idText = '', arrayJobId = '', taskText = '', stateText = '', reasonText = ''] = fields.map((f) => f.trim());
    if (!/^\d+$/.test(arrayJobId) || !stateText) continue;
    // -O JobID is the record's own id; %i is `52_3` for a task and the plain id for a plain job
    const jobId = withCodes ? idText : /^\d+$/.test(idText) ? idText : undefined;
    const exit = withCodes ? exitOfWaitStatus(fields[5]) : undefined;
    const taskIds = taskText === 'N/A' || taskText === '' ? [undefined] : parseArrayIndices(taskText);
    if (!taskIds) continue;
    for (const taskId of taskIds) {
      const t = withState({ arrayJobId, ...(taskId !== undefined && { taskId }), ...(jobId && { jobId }) }, stateText, exit);
      if (!isFinalState(t.state) && reasonText && reasonText !== 'None') t.reason = reasonText;
      out.set(taskKey(t), t);
    }
  }
  return [...out.values()].sort(byJobThenTask);
}

/** `scontrol show config` → MaxArraySize (`MaxArraySize            = 1001`), or undefined when absent. */
export function parseMaxArraySize(text: string): number | undefined {
  const m = /^\s*MaxArraySize\s*=\s*(\d+)\s*$/m.exec(text);
  return m ? Number(m[1]) : undefined;
}
