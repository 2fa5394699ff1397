import { UsageError } from '../errors.js';

/** Vehicle and camera names end up in paths, file names and sbatch scripts: nothing a shell or a path could read. */
export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]*$/;
const NAME_MAX_LENGTH = 64;

/**
 * A comma-separated list (or a repeated flag) of names → sorted, without duplicates.
 * `flag` is the flag's name without dashes, for the error message.
 */
export function parseNameList(flag: string, raw: string | readonly string[] | undefined): string[] {
  const items = [raw ?? []]
    .flat()
    .flatMap((part) => part.split(','))
    .map((name) => name.trim())
    .filter((name) => name !== '');
  if (items.length === 0) throw new UsageError(`--${flag} needs at least one name`);
  for (const name of items) {
    if (!NAME_PATTERN.test(name) || name.length > NAME_MAX_LENGTH)
      throw new UsageError(
        `--${flag}: '${name}' is not a valid name (letters, digits, '_' and '-', starting with a letter or digit, at most ${NAME_MAX_LENGTH} characters)`,
      );
  }
  return [...new Set(items)].sort();
}
