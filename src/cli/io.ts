/** Where a command writes, and the exit code it wants when it ends without throwing. */
export interface Io {
  stdout: { write(text: string): unknown; isTTY?: boolean };
  stderr: { write(text: string): unknown; isTTY?: boolean };
  /** set by a command that ends normally with a non-zero outcome (e.g. `fetch` found no data → 3) */
  exitCode: number;
}

export function processIo(): Io {
  return { stdout: process.stdout, stderr: process.stderr, exitCode: 0 };
}
