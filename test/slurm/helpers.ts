import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe } from '@jest/globals';
import { isFinalState, type TaskState } from '../../src/slurm/index.js';

/** Set by scripts/test.sh after it brought the local cluster up (root on Debian); elsewhere these tests are skipped. */
export const HAVE_SLURM = process.env.FLEETCLIP_SLURM === '1';

/** `describe` on the local cluster, or a visibly skipped block that says why. */
export function describeWithSlurm(name: string, body: () => void): void {
  if (HAVE_SLURM) describe(name, body);
  else
    describe.skip(
      `${name} — skipped: no Slurm (FLEETCLIP_SLURM is not 1; scripts/test.sh starts a local cluster only as root on Debian)`,
      body,
    );
}

/** Calls `probe` every `intervalMs` until `done` holds for its result; throws with the last result after `timeoutMs`. */
export async function until<T>(probe: () => Promise<T>, done: (v: T) => boolean, timeoutMs: number, intervalMs = 1000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (done(v)) return v;
    if (Date.now() > deadline) throw new Error(`not done after ${timeoutMs} ms; last: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export const allFinal = (count: number) => (r: { tasks: TaskState[] }) =>
  r.tasks.length >= count && r.tasks.every((t) => isFinalState(t.state));

export const taskOf = (tasks: TaskState[], taskId: number): TaskState | undefined => tasks.find((t) => t.taskId === taskId);

/**
 * A stand-in for `fleetclip` in real jobs: started as `node stand-in.mjs work --manifest <path> [flags]`, it records
 * what it saw (argv, pid, its parent's name, SLURM_* ids) and every USR1/TERM in `<manifest dir>/record-<job>_<task>.jsonl`.
 * Flags: `--exit-codes 0,3,…` (exit with the code at the task's index), `--sleep S`, `--exit-on-usr1 N`
 * (exit N on USR1, as a worker does), `--only-task I` (other tasks exit 0 at once).
 */
const STAND_IN = `
import { appendFileSync, readFileSync } from 'node:fs';
import path from 'node:path';
const argv = process.argv.slice(2);
const flag = (name) => { const i = argv.indexOf(name); return i < 0 ? undefined : argv[i + 1]; };
const task = Number(process.env.SLURM_ARRAY_TASK_ID ?? 0);
const file = path.join(path.dirname(flag('--manifest')), 'record-' + (process.env.SLURM_ARRAY_JOB_ID ?? process.env.SLURM_JOB_ID) + '_' + task + '.jsonl');
const t0 = Date.now();
const record = (event, more = {}) => appendFileSync(file, JSON.stringify({ event, ms: Date.now() - t0, ...more }) + '\\n');
let parent = '';
try { parent = readFileSync('/proc/' + process.ppid + '/comm', 'utf8').trim(); } catch {}
record('start', { argv, pid: process.pid, parent, jobId: process.env.SLURM_JOB_ID, nodeOptions: process.env.NODE_OPTIONS ?? null, cwd: process.cwd() });
const codes = flag('--exit-codes');
if (codes !== undefined) process.exit(Number(codes.split(',')[task] ?? 0));
const only = flag('--only-task');
if (only !== undefined && Number(only) !== task) process.exit(0);
process.on('SIGUSR1', () => { record('USR1'); const c = flag('--exit-on-usr1'); if (c !== undefined) process.exit(Number(c)); });
process.on('SIGTERM', () => { record('TERM'); process.exit(143); });
setTimeout(() => { record('slept'); process.exit(0); }, Number(flag('--sleep') ?? 0) * 1000);
`;

export interface Workspace {
  dir: string;
  manifestPath: string;
  logsDir: string;
  fleetclip: string[];
}

/** A folder with a space in its name (quoting!), a manifest path in it and the stand-in program. */
export async function workspace(): Promise<Workspace> {
  const dir = await mkdtemp(path.join(tmpdir(), 'fc slurm '));
  const standIn = path.join(dir, 'stand-in.mjs');
  await writeFile(standIn, STAND_IN);
  return { dir, manifestPath: path.join(dir, 'manifest.sqlite'), logsDir: path.join(dir, 'logs'), fleetclip: [process.execPath, standIn] };
}

export interface Recorded {
  event: 'start' | 'USR1' | 'TERM' | 'slept';
  ms: number;
  argv?: string[];
  pid?: number;
  parent?: string;
  jobId?: string;
  nodeOptions?: string | null;
  cwd?: string;
}

export async function recordOf(ws: Workspace, arrayJobId: string, taskId: number): Promise<Recorded[]> {
  try {
    const text = await readFile(path.join(ws.dir, `record-${arrayJobId}_${taskId}.jsonl`), 'utf8');
    return text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Recorded);
  } catch {
    return [];
  }
}
