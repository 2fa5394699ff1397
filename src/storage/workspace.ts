import { statfs } from 'node:fs/promises';
import { QuotaError } from '../errors.js';

export interface WorkspaceLimits {
  outDir: string;
  /** the campaign's cap on clip bytes not yet archived (moved off the workspace) */
  workspaceCapBytes: number;
  /** free disk a download must leave beyond the clip itself */
  minFreeBytes: number;
  /** the expected size of one clip, reserved per clip in flight */
  clipBytesEstimate: number;
}

/**
 * The two storage limits a worker obeys before each download: real free disk space, and the campaign's workspace cap.
 * The workspace in use is told (`measured`: the manifest's bucket counters, read when a shard starts and at each
 * heartbeat, never a walk of the folders); between readings this worker adds what it placed itself.
 */
export class WorkspaceGuard {
  private measuredBytes = 0;
  private addedBytes = 0;

  constructor(private readonly limits: WorkspaceLimits) {}

  measured(bytes: number): void {
    this.measuredBytes = bytes;
    this.addedBytes = 0;
  }

  added(bytes: number): void {
    this.addedBytes += bytes;
  }

  get usedBytes(): number {
    return this.measuredBytes + this.addedBytes;
  }

  /** Throws QuotaError when the workspace cap is reached or the disk has no room for one more clip. */
  async check(inflightClips: number): Promise<void> {
    const { workspaceCapBytes, clipBytesEstimate, minFreeBytes, outDir } = this.limits;
    if (this.usedBytes + inflightClips * clipBytesEstimate >= workspaceCapBytes) {
      throw new QuotaError(
        `workspace cap reached: ${gib(this.usedBytes)} of ${gib(workspaceCapBytes)} GiB not yet archived under ${outDir}; ` +
          'archive them away (`fleetclip archive --move`), then resubmit',
        { path: outDir },
      );
    }
    const fs = await statfs(outDir).catch(() => undefined);
    if (fs && fs.bavail * fs.bsize < clipBytesEstimate * (inflightClips + 1) + minFreeBytes) {
      throw new QuotaError(`disk nearly full at ${outDir}: ${gib(fs.bavail * fs.bsize)} GiB free; free space, then resubmit`, {
        path: outDir,
      });
    }
  }
}

function gib(bytes: number): string {
  return (bytes / 2 ** 30).toFixed(2);
}
