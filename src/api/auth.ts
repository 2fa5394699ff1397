import { AuthExpiredError, type ErrorContext } from '../errors.js';
import type { ApiLog } from './log.js';
import { formatDuration } from '../duration.js';
import type { Token, TokenSource } from './token.js';
import { sleep } from './wait.js';

/**
 * What happens after a 401. A changed token is retried at once; an unchanged one waits for a renewal
 * of the token file for the grace period, announced once per expiry, then gives up with
 * AuthExpiredError (the worker releases its shard). Waits run in the callers, under their signals.
 */
export class AuthKeeper {
  /** wall time spent waiting for renewals, so readiness deadlines can leave it out */
  waitedMs = 0;
  private episode?: { refused: string; startedMs: number };
  private deadToken?: string;

  constructor(
    private readonly source: TokenSource,
    private readonly limits: { authGraceMs: number; tokenPollMs: number },
    private readonly log: ApiLog,
  ) {}

  async afterUnauthorized(used: Token, context: ErrorContext, signal?: AbortSignal): Promise<void> {
    if ((await this.source.current()).value !== used.value) return;
    if (!this.source.renewable || this.deadToken === used.value) throw this.expiredError(used, context);
    const { renewer } = this.source;
    renewer?.refused(used);
    if (this.episode?.refused !== used.value) {
      this.episode = { refused: used.value, startedMs: Date.now() };
      const renewal = renewer ? `renewing it through ${renewer.via}` : `put a new token in ${this.source.where}`;
      this.log.warn(
        `the Batch API refused the token${expiryNote(used)}: ${renewal}; waiting up to ${formatDuration(this.limits.authGraceMs / 1000)} for it`,
      );
    }
    const deadline = this.episode.startedMs + this.limits.authGraceMs;
    for (let left = deadline - Date.now(); left > 0; left = deadline - Date.now()) {
      await sleep(Math.min(this.limits.tokenPollMs, left), signal);
      if ((await this.source.current()).value !== used.value) return this.endEpisode(used);
      if (renewer?.failure) throw renewer.failure;
    }
    this.deadToken = used.value;
    throw this.expiredError(used, context);
  }

  private endEpisode(used: Token): void {
    if (this.episode?.refused !== used.value) return;
    this.waitedMs += Date.now() - this.episode.startedMs;
    this.episode = undefined;
    this.log.info(`picked up a new token from ${this.source.where}`);
  }

  private expiredError(used: Token, context: ErrorContext): AuthExpiredError {
    const renew = this.source.renewer
      ? `no renewal through ${this.source.renewer.via} arrived (see \`fleetclip token --manifest\`); renew it`
      : this.source.renewable
        ? `put a new token in ${this.source.where}`
        : `set a new token in ${this.source.where}`;
    return new AuthExpiredError(`the Batch API token expired${expiryNote(used)}: ${renew} and resubmit`, context);
  }
}

function expiryNote(token: Token): string {
  return token.expiresAtSec === undefined ? '' : ` (JWT exp ${new Date(token.expiresAtSec * 1000).toISOString()})`;
}
