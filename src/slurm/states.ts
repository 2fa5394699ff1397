/** A job's or array task's state as sacct and squeue print it (long names), folded onto the states fleetclip acts on. */
export type SlurmState =
  | 'PENDING'
  | 'RUNNING'
  | 'SUSPENDED'
  | 'COMPLETING'
  | 'COMPLETED'
  | 'FAILED'
  | 'TIMEOUT'
  | 'CANCELLED'
  | 'NODE_FAIL'
  | 'OUT_OF_MEMORY'
  | 'PREEMPTED'
  | 'BOOT_FAIL'
  | 'DEADLINE'
  | 'REQUEUED'
  | 'UNKNOWN';

const NOT_FINAL: ReadonlySet<SlurmState> = new Set(['PENDING', 'RUNNING', 'SUSPENDED', 'COMPLETING', 'REQUEUED']);

/** Whether the task has ended for good: anything but pending, running, suspended, completing or requeued. */
export function isFinalState(s: SlurmState): boolean {
  return !NOT_FINAL.has(s);
}

const KNOWN: ReadonlySet<string> = new Set([
  'PENDING',
  'RUNNING',
  'SUSPENDED',
  'COMPLETING',
  'COMPLETED',
  'FAILED',
  'TIMEOUT',
  'CANCELLED',
  'NODE_FAIL',
  'OUT_OF_MEMORY',
  'PREEMPTED',
  'BOOT_FAIL',
  'DEADLINE',
  'REQUEUED',
]);

/** States Slurm has beyond ours, mapped to what they mean for a worker (squeue/sacct man pages, JOB STATE CODES). */
const ALIASES: Readonly<Record<string, SlurmState>> = {
  CONFIGURING: 'RUNNING', // allocated, nodes booting
  RESIZING: 'RUNNING',
  SIGNALING: 'RUNNING',
  STAGE_OUT: 'COMPLETING',
  STOPPED: 'SUSPENDED',
  REQUEUE_FED: 'REQUEUED',
  REQUEUE_HOLD: 'REQUEUED',
  SPECIAL_EXIT: 'REQUEUED', // requeued and held because of its exit code
  RESV_DEL_HOLD: 'PENDING',
  REVOKED: 'CANCELLED', // a federation sibling that another cluster ran
  // short codes, in case a format asks for %t
  PD: 'PENDING',
  R: 'RUNNING',
  S: 'SUSPENDED',
  CG: 'COMPLETING',
  CD: 'COMPLETED',
  F: 'FAILED',
  TO: 'TIMEOUT',
  CA: 'CANCELLED',
  NF: 'NODE_FAIL',
  OOM: 'OUT_OF_MEMORY',
  PR: 'PREEMPTED',
  BF: 'BOOT_FAIL',
  DL: 'DEADLINE',
  RQ: 'REQUEUED',
};

/**
 * `CANCELLED by 0` → `{ state: 'CANCELLED', cancelledBy: '0' }`; a truncated `CANCELLED+` is read as CANCELLED;
 * anything unknown is UNKNOWN (which counts as final: nothing will change it from our side).
 */
export function slurmStateOf(text: string): { state: SlurmState; cancelledBy?: string } {
  const [word = '', by, who] = text.trim().split(/\s+/);
  const name = word.replace(/\+$/, '').toUpperCase();
  const state: SlurmState = KNOWN.has(name) ? (name as SlurmState) : (ALIASES[name] ?? 'UNKNOWN');
  return by === 'by' && who ? { state, cancelledBy: who } : { state };
}
