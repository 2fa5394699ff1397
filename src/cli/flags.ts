import { UsageError } from '../errors.js';

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
