/** Characters that need no quoting, in a POSIX shell word (and in an #SBATCH value, which sbatch reads itself). */
export const PLAIN_SHELL_WORD = /^[\w@%+=:,./-]+$/;

/** A word as a POSIX shell reads it back: as is when plain, else in single quotes (`'` written as `'\''`). */
export function shellWord(word: string): string {
  return word !== '' && PLAIN_SHELL_WORD.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}
