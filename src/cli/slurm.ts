import { fileURLToPath } from 'node:url';
import type { SlurmDeps } from '../executor/index.js';
import { execaSlurmClient } from '../slurm/index.js';

/** What the Slurm commands need: the scheduler's commands, and what runs this fleetclip inside a job (this node, this CLI). */
export function slurmDeps(): SlurmDeps {
  return { slurm: execaSlurmClient(), fleetclip: [process.execPath, fileURLToPath(new URL('../cli.js', import.meta.url))] };
}
