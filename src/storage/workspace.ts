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
 * The two storage limits a worker obeys before each download and while it streams: real free disk space, and the
 * campaign's workspace cap. The workspace in use is told (`measured`: the manifest's bucket counters, read when a
 * shard starts and at each heartbeat, never a walk of the folders); between readings this worker adds what it placed
 * itself, and what its temporaries hold while clips stream (`writing`).
 */
export class WorkspaceGuard {
  private measuredBytes = 0;
  private addedBytes = 0;
  private streamingBytes = 0;
  private sinceFreeCheckBytes = 0;

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
    const { workspaceCapBytes, clipBytesEstimate } = this.limits;
    if (this.usedBytes + inflightClips * clipBytesEstimate >= workspaceCapBytes) throw this.capReached(this.usedBytes);
    await this.checkFreeSpace(clipBytesEstimate * (inflightClips + 1));
  }

  /**
   * This worker's temporaries are about to grow by `deltaBytes` (negative: they shrank, or went away). Growth that
   * would carry the workspace over its cap throws QuotaError and is not counted; after every clipBytesEstimate bytes
   * of growth the free-space floor is checked again. A clip far bigger than expected stops mid-way, not after.
   */
  async writing(deltaBytes: number): Promise<void> {
    const holding = this.usedBytes + this.streamingBytes;
    if (deltaBytes > 0 && holding + deltaBytes > this.limits.workspaceCapBytes) throw this.capReached(holding);
    this.streamingBytes += deltaBytes;
    if (deltaBytes <= 0) return;
    this.sinceFreeCheckBytes += deltaBytes;
    if (this.sinceFreeCheckBytes < this.limits.clipBytesEstimate) return;
    this.sinceFreeCheckBytes = 0;
    try {
      await this.checkFreeSpace(deltaBytes);
    } catch (err) {
      this.streamingBytes -= deltaBytes;
      throw err;
    }
  }

  private capReached(holdingBytes: number): QuotaError {
    const { workspaceCapBytes, outDir } = this.limits;
    return new QuotaError(
      `workspace cap reached: ${gib(holdingBytes)} of ${gib(workspaceCapBytes)} GiB not yet archived under ${outDir}; ` +
        'archive them away (`fleetclip archive --move`), then resubmit',
      { path: outDir },
    );
  }

  /** Throws QuotaError when writing `bytes` more would leave less than `minFreeBytes` free. */
  private async checkFreeSpace(bytes: number): Promise<void> {
    const { minFreeBytes, outDir } = this.limits;
    const fs = await statfs(outDir).catch(() => undefined);
    if (fs && fs.bavail * fs.bsize < bytes + minFreeBytes) {
      throw new QuotaError(`disk nearly full at ${outDir}: ${gib(fs.bavail * fs.bsize)} GiB free; free space, then resubmit`, {
        path: outDir,
      });
    }
  }
}

function gib(bytes: number): string {
  return (bytes / 2 ** 30).toFixed(2);
}
