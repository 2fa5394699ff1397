import type { Argv } from 'yargs';
import { UsageError } from '../errors.js';
import { PROGRESS_MODES } from '../worker/index.js';

/** A flag that may be given once: yargs collects a repeated one into an array. */
export function single<T>(flag: string, value: T | T[]): T {
  if (Array.isArray(value)) throw new UsageError(`--${flag} was given more than once`);
  return value;
}

/** `--manifest`: required, once. */
export function manifestFlag(argv: { manifest?: string | string[] }): string {
  const manifest = single('manifest', argv.manifest);
  if (manifest === undefined) throw new UsageError('--manifest is required');
  return manifest;
}

/** `--progress` and `--progress-interval`, for a worker (`work`) or for the local executor (`run`). */
export function progressFlags<T>(y: Argv<T>, defaults: { progress: string; progressIntervalMs: number }): Argv<T> {
  return y
    .option('progress', {
      type: 'string',
      choices: PROGRESS_MODES,
      describe: `progress display: a bar on a TTY, else a line every --progress-interval (default ${defaults.progress})`,
    })
    .option('progress-interval', {
      type: 'number',
      describe: `seconds between progress lines without a TTY (default ${defaults.progressIntervalMs / 1000})`,
    });
}
