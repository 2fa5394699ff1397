import { rm } from 'node:fs/promises';
import path from 'node:path';
import { RcloneError, UsageError } from '../errors.js';
import { formatArchiveDestination } from '../plan/index.js';
import type { RcloneClient, RemoteFile } from '../rclone/index.js';
import {
  archiveTempOf,
  assertWritableFolder,
  checkFile,
  compareFile,
  copyVerified,
  makeScratchDir,
  sha256Of,
  verificationError,
  writeFileAtomically,
  type ExpectedFile,
  type FileCheck,
} from '../storage/index.js';

/** Where `archive` puts clips: a folder, or a path on an rclone remote. Paths are relative to the destination, with `/`. */
export interface ArchiveTarget {
  /** how the manifest and messages name the destination */
  readonly location: string;
  /** refuses a destination that is missing or takes no file, before anything moves */
  check(): Promise<void>;
  /** the clip at `relPath` against what it must be */
  inspect(relPath: string, want: ExpectedFile): Promise<FileCheck>;
  /**
   * Copies `source` to `relPath` through a temporary beside it, compares the copy's size and sha256 at the destination
   * with `want`, and only then gives it its name; a copy that does not match is deleted (VerificationError).
   */
  put(
    source: string,
    relPath: string,
    want: ExpectedFile,
    control: { onBytes: (bytes: number) => void; signal: AbortSignal },
  ): Promise<void>;
  close(): Promise<void>;
}

export function folderTarget(root: string): ArchiveTarget {
  return {
    location: formatArchiveDestination({ kind: 'folder', path: root }),
    check: () => assertWritableFolder(root),
    inspect: (relPath, want) => checkFile(path.join(root, relPath), want),
    put: (source, relPath, want, control) => copyVerified(source, path.join(root, relPath), want, control),
    close: async () => undefined,
  };
}

/**
 * A path on an rclone remote, through one rclone daemon. The copy is verified with the remote's own sha256 where it
 * keeps one (local disks, S3 with checksums, Drive…), else by reading it back through rclone and hashing it here.
 */
export function rcloneTarget(remote: string, rclone: RcloneClient): ArchiveTarget {
  const location = formatArchiveDestination({ kind: 'rclone', remote });
  const at = (relPath: string): RemoteFile => ({ fs: remote, remote: relPath });
  let remoteSha256 = false;
  let scratch: string | undefined;
  let readbacks = 0;

  async function sha256At(file: RemoteFile): Promise<string | undefined> {
    if (remoteSha256) return (await rclone.stat(file, ['sha256']))?.hashes.sha256;
    scratch ??= await makeScratchDir('fleetclip-rclone-');
    const name = `readback-${++readbacks}`; // one per call: copies run side by side
    const local = path.join(scratch, name);
    await rclone.copyFile(file, { fs: scratch, remote: name });
    try {
      return await sha256Of(local);
    } finally {
      await rm(local, { force: true });
    }
  }

  async function found(file: RemoteFile, want: ExpectedFile): Promise<{ bytes: number; sha256?: string } | undefined> {
    const stat = await rclone.stat(file);
    if (!stat || stat.bytes !== want.bytes) return stat;
    const sha256 = await sha256At(file);
    return { bytes: stat.bytes, ...(sha256 !== undefined && { sha256 }) };
  }

  return {
    location,
    async check() {
      const unusable = (err: unknown): never => {
        if (err instanceof RcloneError)
          throw new RcloneError(`the destination ${location} cannot be used: ${err.message}`, {}, { cause: err });
        throw err;
      };
      if (!(await rclone.isFolder(remote).catch(unusable)))
        throw new UsageError(`the destination ${location} does not exist or is not a folder: create it first (rclone mkdir ${remote})`);
      const probeDir = await makeScratchDir('fleetclip-rclone-probe-');
      const probe = `.fleetclip-write-test-${process.pid}`;
      try {
        await writeFileAtomically(path.join(probeDir, probe), 'fleetclip archive write test\n');
        await rclone.copyFile({ fs: probeDir, remote: probe }, at(probe)).catch(unusable);
        await rclone.deleteFile(at(probe)).catch(unusable);
      } finally {
        await rm(probeDir, { recursive: true, force: true });
      }
      remoteSha256 = (await rclone.hashTypes(remote)).includes('sha256');
    },
    async inspect(relPath, want) {
      return compareFile(await found(at(relPath), want), want);
    },
    async put(source, relPath, want, { onBytes }) {
      const temp = at(archiveTempOf(relPath));
      await rclone.copyFile({ fs: path.dirname(source), remote: path.basename(source) }, temp);
      onBytes(want.bytes);
      const copy = (await found(temp, want)) ?? { bytes: 0 };
      if (compareFile(copy, want) !== 'verified') {
        await rclone.deleteFile(temp);
        throw verificationError(`${location}/${relPath}`, copy, want);
      }
      await rclone.moveFile(temp, at(relPath));
    },
    async close() {
      await rclone.close();
      if (scratch) await rm(scratch, { recursive: true, force: true });
    },
  };
}
