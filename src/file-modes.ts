import fs from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';

/**
 * The modes of every folder and file a campaign creates: the manifest (SQLite gives its journal, -wal and -shm the
 * manifest's own mode), campaign.json, receipts, logs, Slurm scripts, clips. Owner-only unless the campaign was
 * planned with `--share-with-group`: then folders are setgid (what is created in them takes the folder's group) and
 * the group may read and write everything, so its members can run workers too. Modes are set with chmod, never left
 * to the umask (which may mask them) or to mkdir (which ignores setgid); only what fleetclip creates is changed,
 * never a folder or file that was already there (it may not even be ours).
 */
export interface FileModes {
  dir: number;
  file: number;
}

export const OWNER_ONLY: Readonly<FileModes> = Object.freeze({ dir: 0o700, file: 0o600 });
export const GROUP_SHARED: Readonly<FileModes> = Object.freeze({ dir: 0o2770, file: 0o660 });

export const fileModesOf = (settings: { shareWithGroup?: boolean }): Readonly<FileModes> =>
  settings.shareWithGroup ? GROUP_SHARED : OWNER_ONLY;

/** Folders `mkdir -p` would create for `dir`, outermost first. */
function missingFolders(dir: string): string[] {
  const missing: string[] = [];
  for (let d = path.resolve(dir); !fs.existsSync(d); d = path.dirname(d)) {
    missing.unshift(d);
    if (path.dirname(d) === d) break;
  }
  return missing;
}

/** `mkdir -p`; every folder it creates gets `modes.dir` (one made by someone else meanwhile is left alone). */
export function makeDirSync(dir: string, modes: Readonly<FileModes>): void {
  for (const d of missingFolders(dir)) {
    try {
      fs.mkdirSync(d, { mode: modes.dir & 0o777 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') continue;
      throw err;
    }
    fs.chmodSync(d, modes.dir);
  }
  fs.mkdirSync(dir, { recursive: true }); // mkdir -p's own error when a file is in the way
}

/** `makeDirSync` without blocking when the folder is there already (a clip's bucket, nearly always). */
export async function makeDir(dir: string, modes: Readonly<FileModes>): Promise<void> {
  const there = await stat(dir).then(
    (s) => s.isDirectory(),
    () => false,
  );
  if (!there) makeDirSync(dir, modes);
}

/**
 * Opens `file` (`a`, `a+` or `w` as fs.openSync takes them), creating it with `modes.file` if it is not there; a file
 * that was there keeps its mode. `created` says which.
 */
export function openCreatingSync(file: string, flags: 'a' | 'a+' | 'w', modes: Readonly<FileModes>): { fd: number; created: boolean } {
  let fd: number;
  try {
    fd = fs.openSync(file, `${flags[0]}x${flags.slice(1)}`, modes.file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return { fd: fs.openSync(file, flags), created: false };
  }
  try {
    fs.fchmodSync(fd, modes.file);
  } catch (err) {
    fs.closeSync(fd);
    throw err;
  }
  return { fd, created: true };
}
