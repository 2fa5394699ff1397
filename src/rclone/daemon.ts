import { randomBytes } from 'node:crypto';
import { execa, ExecaError, type ResultPromise } from 'execa';
import { RcloneError, UsageError } from '../errors.js';

/** A file on a remote: `fs` is rclone's name of the remote's root (`box:fleet`, `:local:/x`), `remote` a path inside it. */
export interface RemoteFile {
  fs: string;
  remote: string;
}

export interface RemoteStat {
  bytes: number;
  /** by hash name (`sha256`, `md5`…), those the remote keeps or computes and were asked for */
  hashes: Record<string, string>;
}

/** What `fleetclip archive` asks of rclone: a few operations of its remote-control API, each an HTTP call to one daemon. */
export interface RcloneClient {
  /** the hash types the remote supports */
  hashTypes(fs: string): Promise<string[]>;
  /** the file's size and the asked hashes; undefined when there is no such file */
  stat(file: RemoteFile, hashTypes?: readonly string[]): Promise<RemoteStat | undefined>;
  /** true when `fs` is an existing folder (a bucket-based remote's root counts as one) */
  isFolder(fs: string): Promise<boolean>;
  copyFile(from: RemoteFile, to: RemoteFile): Promise<void>;
  moveFile(from: RemoteFile, to: RemoteFile): Promise<void>;
  deleteFile(file: RemoteFile): Promise<void>;
  /** stops the daemon */
  close(): Promise<void>;
}

const RCLONE_DEFAULTS = {
  /** the daemon says where it listens within this */
  startTimeoutMs: 30_000,
  /** rclone's own `rclone version` answer within this, or rclone is taken to be broken */
  versionTimeoutMs: 30_000,
} as const;

/**
 * rclone runs as `rclone rcd` behind a shell that kills it once our end of its stdin closes: when we close it, and
 * when we die any death (SIGKILL, OOM), so a daemon holding the user's cloud credentials never outlives us.
 */
const LEASH = '"$0" rcd "$@" </dev/null & rcd=$!; cat >/dev/null; kill "$rcd" 2>/dev/null; wait "$rcd"';

const SERVING = /Serving remote control on (http:\/\/127\.0\.0\.1:\d+)\//;

/**
 * Starts one rclone daemon on loopback for the life of an archive run: per operation it costs an HTTP request, where
 * an `rclone` process each would cost 0.1-0.4 s and, on Box or Drive, a token refresh. Its basic-auth user and
 * password are random and passed in its environment (other users can read a command line, not an environment).
 * `rclonePath` is looked up on PATH; a missing rclone is a UsageError that says how to install it.
 */
export async function startRcloneDaemon(opts: { rclonePath?: string; env?: NodeJS.ProcessEnv } = {}): Promise<RcloneClient> {
  const rclone = opts.rclonePath ?? 'rclone';
  const env = opts.env ?? process.env;
  await assertInstalled(rclone, env);
  const user = randomBytes(12).toString('hex');
  const pass = randomBytes(24).toString('hex');
  const daemon = execa('/bin/sh', ['-c', LEASH, rclone, '--rc-addr', '127.0.0.1:0'], {
    env: { ...env, RCLONE_RC_USER: user, RCLONE_RC_PASS: pass },
    extendEnv: false,
    stdin: 'pipe',
    stdout: 'ignore',
    stderr: 'pipe',
    reject: false,
    buffer: false,
    cleanup: false, // a SIGTERM to the shell on our exit would orphan rclone: the closed pipe stops it instead
    // its own process group: a terminal's Ctrl-C reaches fleetclip alone, which lets the copies in flight finish
    // before it closes the pipe; rclone, which stops on SIGINT, would cut them short
    detached: true,
  });
  const base = await listeningAddress(daemon);
  const auth = `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;

  async function call<T>(operation: string, params: Record<string, unknown>): Promise<T> {
    let response: Response;
    try {
      response = await fetch(`${base}/${operation}`, {
        method: 'POST',
        headers: { authorization: auth, 'content-type': 'application/json' },
        body: JSON.stringify(params),
      });
    } catch (err) {
      throw new RcloneError(`the rclone daemon does not answer (${(err as Error).message}): did it die?`, {}, { cause: err });
    }
    const text = await response.text();
    const body = parseJson(text) as (T & { error?: string }) | undefined;
    if (!response.ok || body === undefined)
      throw new RcloneError(`rclone ${operation} failed: ${body?.error ?? (text.trim() || `HTTP ${response.status}`)}`);
    return body;
  }

  /** What is at a path, or undefined: rclone answers a null item for a missing file, an error for a missing folder. */
  async function statItem<T>(params: Record<string, unknown>): Promise<T | undefined> {
    try {
      return (await call<{ item: T | null }>('operations/stat', params)).item ?? undefined;
    } catch (err) {
      if (err instanceof RcloneError && /directory not found|object not found|is a file not a directory/.test(err.message))
        return undefined;
      throw err;
    }
  }

  const fileParams = (prefix: 'src' | 'dst', f: RemoteFile) => ({ [`${prefix}Fs`]: f.fs, [`${prefix}Remote`]: f.remote });

  return {
    async hashTypes(fs) {
      return (await call<{ Hashes?: string[] }>('operations/fsinfo', { fs })).Hashes ?? [];
    },
    async stat(file, hashTypes = []) {
      type Item = { Size: number; IsDir: boolean; Hashes?: Record<string, string> };
      const item = await statItem<Item>({ fs: file.fs, remote: file.remote, opt: { showHash: hashTypes.length > 0, hashTypes } });
      return item && !item.IsDir ? { bytes: item.Size, hashes: item.Hashes ?? {} } : undefined;
    },
    async isFolder(fs) {
      return (await statItem<{ IsDir: boolean }>({ fs, remote: '' }))?.IsDir === true;
    },
    async copyFile(from, to) {
      await call('operations/copyfile', { ...fileParams('src', from), ...fileParams('dst', to) });
    },
    async moveFile(from, to) {
      await call('operations/movefile', { ...fileParams('src', from), ...fileParams('dst', to) });
    },
    async deleteFile(file) {
      await call('operations/deletefile', { fs: file.fs, remote: file.remote });
    },
    async close() {
      daemon.stdin?.end();
      await daemon;
    },
  };
}

/** `rclone version` answers: rclone is on PATH and runs (the daemon's shell could only say "not found" in its own words). */
async function assertInstalled(rclone: string, env: NodeJS.ProcessEnv): Promise<void> {
  try {
    await execa(rclone, ['version'], { env, extendEnv: false, timeout: RCLONE_DEFAULTS.versionTimeoutMs });
  } catch (err) {
    if (err instanceof ExecaError && err.code === 'ENOENT')
      throw new UsageError(
        `rclone is not installed (no \`${rclone}\` on PATH): install it (Debian/Ubuntu: apt-get install rclone; ` +
          'elsewhere https://rclone.org/install/, or `module load rclone` on a cluster), then run again',
      );
    throw new RcloneError(
      `\`${rclone} version\` failed: ${err instanceof ExecaError ? err.shortMessage : String(err)}`,
      {},
      { cause: err },
    );
  }
}

/** Waits for the daemon's "Serving remote control on …" line; its other words explain a daemon that exits instead. */
function listeningAddress(daemon: ResultPromise): Promise<string> {
  return new Promise((resolve, reject) => {
    let said = '';
    const timer = setTimeout(
      () => fail(`it did not say where it listens within ${RCLONE_DEFAULTS.startTimeoutMs / 1000} s`),
      RCLONE_DEFAULTS.startTimeoutMs,
    );
    const fail = (why: string): void => {
      clearTimeout(timer);
      daemon.stdin?.end();
      reject(
        new RcloneError(
          `the rclone daemon did not start: ${why}${said.trim() ? `: ${said.trim().split('\n').slice(-3).join(' | ')}` : ''}`,
        ),
      );
    };
    const listen = (text: string): void => {
      said += text;
      const address = SERVING.exec(said)?.[1];
      if (address) {
        clearTimeout(timer);
        daemon.stderr?.off('data', listen).resume(); // what it says from now on is not kept
        resolve(address);
      }
    };
    daemon.stderr?.setEncoding('utf8').on('data', listen);
    void daemon.then((result) => fail(`it exited (${result.exitCode ?? result.signal})`));
  });
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
