/**
 * Every failure a user can cause or meet is a FleetclipError: a stable `code`, the exit code the CLI
 * returns for it, and the context (vehicle, camera, slot, HTTP status…) a user needs to act on it.
 * The CLI prints `oneLine(err)` and never a stack trace for these; anything else is a bug (exit 70).
 * The exit-code table is published in docs/exit-codes.md: keep both in step.
 */
export interface ErrorContext {
  vehicle?: string;
  camera?: string;
  /** UTC ISO instant of the 30 s slot */
  slot?: string;
  shardId?: number;
  status?: number;
  url?: string;
  path?: string;
}

export const EXIT = {
  ok: 0,
  someFailed: 1,
  usage: 2,
  noData: 3,
  api: 4,
  authExpired: 5,
  storage: 6,
  manifest: 7,
  slurm: 8,
  tokenSource: 9,
  interrupted: 10,
  stalled: 11,
  internal: 70,
} as const;

export abstract class FleetclipError extends Error {
  abstract readonly code: string;
  abstract readonly exitCode: number;
  constructor(
    message: string,
    readonly context: ErrorContext = {},
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Bad flags, bad input, bad configuration: the user can fix it and run again. */
export class UsageError extends FleetclipError {
  readonly code = 'E_USAGE';
  readonly exitCode = EXIT.usage;
}

/** The Batch API answered something we cannot use (after retries, where retrying made sense). */
export class ApiError extends FleetclipError {
  readonly code: string = 'E_API';
  readonly exitCode: number = EXIT.api;
}

export class ApiHttpError extends ApiError {
  override readonly code = 'E_API_HTTP';
  get retryable(): boolean {
    const s = this.context.status ?? 0;
    return s === 429 || s >= 500;
  }
}

/** A clip that did not become ready within the wait allowed for it. */
export class ClipNotReadyError extends ApiError {
  override readonly code = 'E_API_NOT_READY';
}

/** A 200 whose body is not any shape the API is known to use. */
export class ApiProtocolError extends ApiError {
  override readonly code = 'E_API_PROTOCOL';
}

/** A downloaded file that is not a complete ROS1 bag (or too small): deleted, counted as `invalid`. */
export class ClipInvalidError extends ApiError {
  override readonly code = 'E_CLIP_INVALID';
}

/**
 * A clip body larger than the campaign's per-clip cap (`--max-clip-bytes`): a server defect (a body that never ends).
 * The transfer stops at the cap; the clip is not fetched or requested again (the slot fails, resubmittable).
 */
export class ClipTooLargeError extends ApiError {
  override readonly code = 'E_CLIP_TOO_LARGE';
}

/** The token expired and no renewal arrived within the grace period. Work is released, not failed. */
export class AuthExpiredError extends FleetclipError {
  readonly code: string = 'E_AUTH_EXPIRED';
  readonly exitCode: number = EXIT.authExpired;
}

/**
 * A campaign's token source (a credential command, OAuth2 client credentials) could not give a token. `retryable`
 * failures (the identity provider down, a command that timed out) are retried with backoff by whoever renews; one that
 * is not (refused credentials, a command that prints no token) stops every worker of the campaign, shards released.
 */
export class TokenSourceError extends AuthExpiredError {
  override readonly code = 'E_TOKEN_SOURCE';
  override readonly exitCode = EXIT.tokenSource;
  constructor(
    message: string,
    readonly retryable: boolean,
    options?: ErrorOptions,
  ) {
    super(message, {}, options);
  }
}

/** Disk full, quota reached, unwritable folder. Work is released, not failed. */
export class StorageError extends FleetclipError {
  readonly code: string = 'E_STORAGE';
  readonly exitCode: number = EXIT.storage;
}

export class QuotaError extends StorageError {
  override readonly code = 'E_QUOTA';
}

/** A copy whose size or sha256 at its destination is not what the manifest recorded: the copy is dropped, the source kept. */
export class VerificationError extends StorageError {
  override readonly code = 'E_VERIFY';
}

/**
 * rclone refused or failed an operation on a remote (not configured, unreachable, permission, quota), or its daemon
 * did not start or died. The message quotes rclone's own words.
 */
export class RcloneError extends StorageError {
  override readonly code = 'E_RCLONE';
}

/** Corrupt, foreign or newer manifest; a lease taken over by another worker. */
export class ManifestError extends FleetclipError {
  readonly code: string = 'E_MANIFEST';
  readonly exitCode: number = EXIT.manifest;
}

export class LeaseLostError extends ManifestError {
  override readonly code = 'E_LEASE_LOST';
}

/**
 * A scheduler command (sbatch, squeue, sacct, scancel, scontrol) failed, timed out or printed something unreadable.
 * Keeps the command line and what the command wrote on stderr (sbatch's refusals say exactly what is wrong).
 */
export class SlurmCommandError extends FleetclipError {
  readonly code = 'E_SLURM';
  readonly exitCode = EXIT.slurm;
  constructor(
    readonly argv: readonly string[],
    readonly stderr: string,
    options: ErrorOptions & { message?: string } = {},
  ) {
    const said = stderr
      .split('\n')
      .map((l) => l.trim())
      .find((l) => l !== '');
    super(options.message ?? `${argv[0]?.split('/').pop() ?? 'slurm'} failed: ${said ?? 'no message'}`, {}, options);
  }
}

/** A signal asked us to stop; the shard in progress was released with its progress kept. */
export class InterruptedError extends FleetclipError {
  readonly code = 'E_INTERRUPTED';
  readonly exitCode = EXIT.interrupted;
}

/** One line for a terminal: message, then where, then the HTTP status. Never a token or a query string. */
export function oneLine(err: FleetclipError): string {
  const { vehicle, camera, slot, status } = err.context;
  const where = [vehicle, camera, slot].filter(Boolean).join(' ');
  return `${err.message}${where ? ` [${where}]` : ''}${status ? ` (HTTP ${status})` : ''}`;
}
