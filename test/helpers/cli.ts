import { execFile } from 'node:child_process';
import path from 'node:path';
import { main } from '../../src/cli/main.js';
import type { Io } from '../../src/cli/io.js';

export const CLI = path.resolve('dist/cli.js');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `main()` in this process with captured output. */
export async function runMain(argv: string[]): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const io: Io = {
    stdout: { write: (t: string) => (stdout += t) },
    stderr: { write: (t: string) => (stderr += t) },
    exitCode: 0,
  };
  const code = await main(argv, io);
  return { code, stdout, stderr };
}

/** Runs the built binary (`npm run build` first; `npm test` does) as a child process; `as` another user (root only). */
export function runCli(
  argv: string[],
  opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; as?: { uid: number; gid: number } } = {},
): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, ...argv],
      { env: { ...process.env, ...opts.env }, timeout: opts.timeoutMs ?? 30_000, ...opts.as },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}
