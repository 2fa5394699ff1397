/**
 * Where a manifest lives, and whether SQLite locking there is safe for workers on many nodes. Pure: the
 * mount table text and the statfs magic number come in as arguments (see doctor.ts for the I/O).
 */

export interface MountEntry {
  device: string;
  mountPoint: string;
  fsType: string;
  options: string[];
}

export type FilesystemKind = 'local' | 'nfs' | 'lustre' | 'gpfs' | 'other';
/** Lustre client lock modes (mount.lustre(8)); `unstated` = none of the three in the options, the client default applies */
export type LustreLocking = 'flock' | 'localflock' | 'noflock' | 'unstated';

/** `/proc/mounts` escapes space, tab, newline and backslash in paths as octal (`\040`). */
function unescapeMountField(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_m, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

export function parseProcMounts(text: string): MountEntry[] {
  return text
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter((f) => f.length >= 4)
    .map(([device, mountPoint, fsType, options]) => ({
      device: unescapeMountField(device!),
      mountPoint: unescapeMountField(mountPoint!),
      fsType: fsType!,
      options: options!.split(','),
    }));
}

/** The mount that holds `realPath`: the longest mount point that is a prefix (the last one if mounted over). */
export function mountFor(realPath: string, mounts: readonly MountEntry[]): MountEntry | undefined {
  let best: MountEntry | undefined;
  for (const m of mounts) {
    const prefix = m.mountPoint.endsWith('/') ? m.mountPoint : `${m.mountPoint}/`;
    const inside = realPath === m.mountPoint || realPath.startsWith(prefix);
    if (inside && (!best || m.mountPoint.length >= best.mountPoint.length)) best = m;
  }
  return best;
}

/** statfs(2) `f_type` magic numbers (linux/magic.h, and the vendors' own for Lustre, GPFS, BeeGFS). */
export const STATFS_MAGIC: Readonly<Record<number, string>> = {
  0xef53: 'ext4',
  0x58465342: 'xfs',
  0x9123683e: 'btrfs',
  0x01021994: 'tmpfs',
  0x2fc12fc1: 'zfs',
  0x794c7630: 'overlay',
  0x6969: 'nfs',
  0x0bd00bd0: 'lustre',
  0x47504653: 'gpfs',
  0x19830326: 'beegfs',
  0xff534d42: 'cifs',
  0xfe534d42: 'smb2',
  0x00c36400: 'ceph',
  0x65735546: 'fuse',
};

const LOCAL_TYPES = new Set(['ext2', 'ext3', 'ext4', 'xfs', 'btrfs', 'tmpfs', 'zfs', 'overlay', 'f2fs', 'jfs', 'reiserfs']);

function kindOf(fsType: string): FilesystemKind {
  const t = fsType.toLowerCase();
  if (LOCAL_TYPES.has(t)) return 'local';
  if (t === 'nfs' || t === 'nfs4') return 'nfs';
  if (t === 'lustre') return 'lustre';
  if (t === 'gpfs') return 'gpfs';
  return 'other';
}

export function lustreLocking(options: readonly string[]): LustreLocking {
  // mount.lustre takes the last of conflicting options
  const last = [...options].reverse().find((o) => o === 'flock' || o === 'localflock' || o === 'noflock');
  return (last as LustreLocking | undefined) ?? 'unstated';
}

export interface LockTestResult {
  /** a second process was refused the write lock while the first held it, and got it once released */
  ok: boolean;
  detail: string;
}

export interface LocationFacts {
  path: string;
  fsType: string;
  mount?: MountEntry;
  lockTest: LockTestResult;
  /** the manifest's journal mode, if the file exists */
  journalMode?: string;
}

export interface LocationVerdict {
  kind: FilesystemKind;
  fsType: string;
  mountPoint?: string;
  lustreLocking?: LustreLocking;
  /** workers on this one machine can share the manifest */
  safeForOneNode: boolean;
  /** Slurm workers on many nodes can share the manifest */
  safeForManyNodes: boolean;
  /** one line per finding, in plain words */
  reasons: string[];
}

/** The rules of docs/manifest.md ("Shared filesystems"), as one function of the facts. */
export function assessLocation(facts: LocationFacts): LocationVerdict {
  const fsType = facts.mount?.fsType ?? facts.fsType;
  const kind = kindOf(fsType);
  const reasons: string[] = [];
  let many = false;
  const base = { kind, fsType, ...(facts.mount && { mountPoint: facts.mount.mountPoint }) };

  switch (kind) {
    case 'local':
      reasons.push(`${fsType} is a local disk: fine for workers on this machine; Slurm workers on other nodes cannot see it`);
      break;
    case 'lustre': {
      const mode = lustreLocking(facts.mount?.options ?? []);
      if (mode === 'flock') {
        many = true;
        reasons.push('Lustre mounted with flock: POSIX locks are coherent across all client nodes');
      } else if (mode === 'localflock') {
        reasons.push(
          'Lustre mounted with localflock: locks are node-local, so workers on two nodes could both write and silently corrupt the manifest',
        );
      } else if (mode === 'noflock') {
        reasons.push('Lustre mounted with noflock: file locking fails (ENOSYS); SQLite cannot lock the manifest');
      } else {
        reasons.push(
          'Lustre mount options name neither flock, localflock nor noflock: the client default applies and cannot be confirmed from here; ask the admins or use a path on a flock mount',
        );
      }
      return { ...base, lustreLocking: mode, reasons, ...finish(facts, reasons, kind, many) };
    }
    case 'gpfs':
      many = true;
      reasons.push('GPFS (Spectrum Scale) keeps POSIX byte-range locks coherent across the cluster');
      break;
    case 'nfs': {
      const opts = facts.mount?.options ?? [];
      if (opts.includes('nolock') || opts.some((o) => o === 'local_lock=all' || o === 'local_lock=posix')) {
        reasons.push("NFS mounted with local-only locks (nolock / local_lock): workers on two nodes would not see each other's locks");
      } else {
        reasons.push(
          'NFS: sqlite.org warns that fcntl locking is broken on many NFS implementations; do not share a manifest across nodes here',
        );
      }
      break;
    }
    default:
      reasons.push(`${fsType}: not a filesystem whose cross-node locking fleetclip knows; treat it as unsafe for many nodes`);
  }
  return { ...base, reasons, ...finish(facts, reasons, kind, many) };
}

/** The lock self-test decides for one node; WAL or a failed self-test rules out many. */
function finish(
  facts: LocationFacts,
  reasons: string[],
  kind: FilesystemKind,
  many: boolean,
): Pick<LocationVerdict, 'safeForOneNode' | 'safeForManyNodes'> {
  reasons.push(`lock self-test ${facts.lockTest.ok ? 'passed' : 'FAILED'}: ${facts.lockTest.detail}`);
  if (facts.journalMode === 'wal' && kind !== 'local') {
    reasons.push(
      'the manifest is in WAL mode, which needs all processes on one host (shared memory); switch it back to the rollback journal',
    );
  }
  const manyOk = many && facts.lockTest.ok && facts.journalMode !== 'wal';
  return { safeForOneNode: facts.lockTest.ok, safeForManyNodes: manyOk };
}
