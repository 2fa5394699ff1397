import type { Store } from './store.js';
import type { SlurmSubmission } from './types.js';

/** `slurm_submission`: one row per `sbatch` of an array. */
export class Submissions {
  private readonly sql;

  constructor(private readonly store: Store) {
    const p = (text: string) => store.db.prepare(text);
    this.sql = {
      insert: p(`INSERT INTO slurm_submission (job_id, array_range, at_ms, kind, script, options)
                 VALUES (@jobId, @arrayRange, @atMs, @kind, @script, @options)`),
      all: p(`SELECT job_id, array_range, at_ms, kind, script, options FROM slurm_submission ORDER BY id`),
    };
  }

  recordSubmission(submission: SlurmSubmission): void {
    this.store.write(this.store.adminJournalId(), (receipt) => {
      this.insert(submission);
      receipt({ t: 'submission', submission });
    });
  }

  submissions(): SlurmSubmission[] {
    type Row = { job_id: string; array_range: string; at_ms: number; kind: string; script: string | null; options: string | null };
    return (this.store.read(() => this.sql.all.all()) as Row[]).map((r) => ({
      jobId: r.job_id,
      arrayRange: r.array_range,
      atMs: r.at_ms,
      kind: r.kind as 'workers' | 'heal',
      ...(r.script !== null && { script: r.script }),
      ...(r.options !== null && { options: JSON.parse(r.options) as Record<string, unknown> }),
    }));
  }

  /** Inside a write (also restore's). */
  insert(s: SlurmSubmission): void {
    this.sql.insert.run({
      jobId: s.jobId,
      arrayRange: s.arrayRange,
      atMs: s.atMs,
      kind: s.kind ?? 'workers',
      script: s.script ?? null,
      options: s.options ? JSON.stringify(s.options) : null,
    });
  }
}
