import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * Small tmpfs mounts, for tests that need a real full or read-only filesystem. Only root may mount (CI runs as root on
 * a VM); `whyNoTmpfs` says why not otherwise, for the name of a skipped test.
 */
export function whyNoTmpfs(): string | undefined {
  if (process.getuid?.() !== 0) return 'mounting a tmpfs needs root';
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fc-mount-probe-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', dir], { stdio: 'ignore' });
    execFileSync('umount', [dir], { stdio: 'ignore' });
    return undefined;
  } catch {
    return 'mount -t tmpfs was refused (no CAP_SYS_ADMIN here)';
  } finally {
    fs.rmdirSync(dir);
  }
}

/** The tmpfs mounts of a test file: `unmountAll` in afterEach/afterAll, before the folders holding them are removed. */
export class TmpfsMounts {
  private readonly mounted: string[] = [];

  /** mounts a tmpfs on `dir` (created if needed) with mount options such as `size=1m` or `ro,size=1g` */
  mount(dir: string, options: string): void {
    fs.mkdirSync(dir, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', dir]);
    this.mounted.push(dir);
  }

  unmountAll(): void {
    for (const dir of this.mounted.splice(0).reverse()) execFileSync('umount', ['--lazy', dir]);
  }
}
