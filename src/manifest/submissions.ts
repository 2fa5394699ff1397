import type { Store } from './store.js';
import type { SlurmSubmission } from './types.js';

/** `slurm_submission`: one row per `sbatch` of an array. */
export class Submissions {
  private readonly sql;

  constructor(private readonly store: Store) {
    const p = (text: string) => store.db.prepare(text);
    this.sql = {
      insert: p(`INSERT INTO slurm_submission (job_id, array_range, at_ms) VALUES (@jobId, @arrayRange, @atMs)`),
      all: p(`SELECT job_id AS jobId, array_range AS arrayRange, at_ms AS atMs FROM slurm_submission ORDER BY id`),
    };
  }

  recordSubmission(submission: SlurmSubmission): void {
    this.store.write(this.store.adminJournalId(), (receipt) => {
      this.insert(submission);
      receipt({ t: 'submission', submission });
    });
  }

  submissions(): SlurmSubmission[] {
    return this.store.read(() => this.sql.all.all()) as SlurmSubmission[];
  }

  /** Inside a write (also restore's). */
  insert(submission: SlurmSubmission): void {
    this.sql.insert.run(submission);
  }
}
