import { parseSqueueEndTime } from './parse.js';

/** The scheduler's commands, run with execa. Parsing lives in parse.ts, apart from running. */
export interface SlurmClient {
  /** when the job's time limit ends (epoch ms), or undefined when squeue cannot tell */
  jobEndTime(jobId: string): Promise<number | undefined>;
}

export function execaSlurmClient({ timeoutMs = 15_000 }: { timeoutMs?: number } = {}): SlurmClient {
  return {
    async jobEndTime(jobId) {
      try {
        const { execa } = await import('execa'); // loaded only under Slurm: keeps ~15 MB out of every local worker
        const { stdout } = await execa('squeue', ['-h', '-j', jobId, '-o', '%e'], { timeout: timeoutMs });
        return parseSqueueEndTime(stdout);
      } catch {
        return undefined; // never fatal: a worker without a known deadline simply claims until work runs out
      }
    },
  };
}
