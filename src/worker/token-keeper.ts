import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import {
  type ApiLog,
  type Token,
  type TokenRenewer,
  TOKEN_SOURCE_DEFAULTS,
  type TokenSourceLimits,
  backoffDelayMs,
  obtainToken,
  parseToken,
  storeToken,
} from '../api/index.js';
import { FleetclipError, TokenSourceError } from '../errors.js';
import type { TokenRenewalLedger, TokenRenewalState } from '../manifest/index.js';
import { describeTokenSource } from '../plan/grammar.js';
import type { TokenSourceSettings } from '../plan/types.js';

/** When and how a campaign's token is renewed. docs/api.md#renewal explains each. */
export interface TokenRenewalLimits {
  marginShare: number;
  maxMarginMs: number;
  leaseMs: number;
  pollMs: number;
  idleLookMs: number;
  retryBaseMs: number;
  retryCapMs: number;
}

export const TOKEN_RENEWAL_DEFAULTS: Readonly<TokenRenewalLimits> = Object.freeze({
  /** a token is renewed when this share of its lifetime is left… */
  marginShare: 0.1,
  /** …or this much, whichever is less: 30 min before a 24 h token expires, 2 s before a 20 s one */
  maxMarginMs: 30 * 60_000,
  /** the renewer's lease: longer than one token request or command run may take, so a renewer is never doubled */
  leaseMs: 2 * TOKEN_SOURCE_DEFAULTS.commandTimeoutMs,
  /** how often a worker looks again while another renews, and at least once in `idleLookMs` otherwise */
  pollMs: 1_000,
  idleLookMs: 60_000,
  /** backoff after a failed renewal: base doubling up to the cap, half of it jittered; one renewer retries at a time */
  retryBaseMs: 5_000,
  retryCapMs: 5 * 60_000,
});

/** When a token obtained at `obtainedMs` that expires at `expiresMs` is due for renewal (pure). */
export function renewalDueAt(
  obtainedMs: number,
  expiresMs: number,
  limits: Pick<TokenRenewalLimits, 'marginShare' | 'maxMarginMs'>,
): number {
  const lifetimeMs = Math.max(0, expiresMs - obtainedMs);
  return expiresMs - Math.min(limits.marginShare * lifetimeMs, limits.maxMarginMs);
}

export interface TokenKeeperOptions {
  source: TokenSourceSettings;
  tokenFile: string;
  ledger: TokenRenewalLedger;
  /** who renews, in the lease: the worker id (or the `token --renew` command's) */
  holder: string;
  /** the manifest, for the advice in messages; the credential command runs in its folder */
  manifestPath: string;
  log: ApiLog;
  limits?: Partial<TokenRenewalLimits>;
  sourceLimits?: TokenSourceLimits;
}

const isoOf = (ms: number | undefined): string => (ms === undefined ? 'unknown' : new Date(ms).toISOString());

/**
 * Keeps a campaign's token file fresh from its token source, together with every other worker of the campaign: the
 * manifest's renewal lease lets one of them renew at a time (ahead of expiry, or after a 401), the new token goes into
 * the token file every worker re-reads, and the others wait for the renewal's generation to move instead of asking the
 * token source too. A failed renewal is retried with backoff by whoever holds the lease next; workers go on with the old
 * token meanwhile. A refusal (wrong credentials) stops renewals for the campaign until `fleetclip token --renew`.
 */
export class TokenKeeper implements TokenRenewer {
  readonly via: string;
  /** the source refused for good: the error every request waiting for a renewal ends with */
  failure: TokenSourceError | undefined;
  private readonly limits: TokenRenewalLimits;
  /** the file token the Batch API refused (held only to compare it with the file's) */
  private refusedToken: string | undefined;
  private wakeUp: AbortController = new AbortController();
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(private readonly options: TokenKeeperOptions) {
    this.via = describeTokenSource(options.source);
    this.limits = { ...TOKEN_RENEWAL_DEFAULTS, ...options.limits };
  }

  refused(token: Token): void {
    this.refusedToken = token.value;
    this.wakeUp.abort();
  }

  /** Looks after the token in the background until `stop`. */
  start(): void {
    this.running ??= this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wakeUp.abort();
    await this.running;
  }

  /**
   * Resolves once the token file holds a token that has not expired (a renewal may still be due: it goes on in the
   * background); throws the refusal when there is none and the source refused.
   */
  async ensureToken(signal?: AbortSignal): Promise<void> {
    for (;;) {
      const token = await this.fileToken();
      const expiresMs = token && (expiryMsOf(token) ?? this.options.ledger.tokenRenewal().expiresMs);
      if (token && (expiresMs === undefined || expiresMs > Date.now())) return;
      if (this.failure) throw this.failure;
      await delay(this.limits.pollMs, undefined, signal ? { signal } : {});
    }
  }

  /**
   * `fleetclip token --renew`: one renewal now, whatever the schedule, backoff or refusal (after the renewal in progress,
   * if any). Throws the TokenSourceError when it fails.
   */
  async renewNow(signal?: AbortSignal): Promise<TokenRenewalState> {
    for (;;) {
      const claimed = this.options.ledger.claimTokenRenewal(this.options.holder, {
        generation: 0,
        leaseMs: this.limits.leaseMs,
        force: true,
      });
      if (claimed) {
        const error = await this.renew(claimed);
        if (error) throw error;
        return this.options.ledger.tokenRenewal();
      }
      await delay(this.limits.pollMs, undefined, signal ? { signal } : {});
    }
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      let waitMs: number;
      try {
        waitMs = await this.look();
      } catch (err) {
        // the manifest busy beyond its retries, a full disk: said, and looked at again later
        this.options.log.warn(`token renewal: ${err instanceof Error ? err.message : String(err)}`);
        waitMs = this.limits.pollMs;
      }
      if (waitMs > 0 && !this.stopped) {
        this.wakeUp = new AbortController();
        await delay(Math.min(waitMs, this.limits.idleLookMs), undefined, { signal: this.wakeUp.signal }).catch(() => undefined);
      }
    }
  }

  /** One look at the renewal: renews when it is due and this worker may; how long until the next look. */
  private async look(nowMs = Date.now()): Promise<number> {
    const { ledger, holder } = this.options;
    // the state before the file: a renewer writes the file before it moves the generation, so a claim made with this
    // generation cannot follow a renewal whose token this worker has not seen
    const state = ledger.tokenRenewal();
    if (state.refused) {
      this.failure ??= this.refusalError(state.lastError ?? 'refused');
      return this.limits.idleLookMs;
    }
    this.failure = undefined;
    if (!(await this.isDue(state, nowMs))) return state.renewAtMs === undefined ? this.limits.idleLookMs : state.renewAtMs - nowMs;
    if (state.holder !== undefined && (state.leaseUntilMs ?? 0) >= nowMs) return this.limits.pollMs;
    if ((state.retryAtMs ?? 0) > nowMs) return (state.retryAtMs ?? 0) - nowMs;
    const claimed = ledger.claimTokenRenewal(holder, { generation: state.generation, leaseMs: this.limits.leaseMs, nowMs });
    if (!claimed) return Math.min(this.limits.pollMs, 100); // another worker was quicker: look at what it did
    await this.renew(claimed);
    return 0;
  }

  /** Due: no token in the file, the file's token was refused, none renewed yet for this campaign, or its time has come. */
  private async isDue(state: TokenRenewalState, nowMs: number): Promise<boolean> {
    const token = await this.fileToken();
    if (token === undefined) return true;
    if (this.refusedToken !== undefined) {
      if (this.refusedToken === token.value) return true;
      this.refusedToken = undefined;
    }
    return state.generation === 0 || (state.renewAtMs !== undefined && nowMs >= state.renewAtMs);
  }

  /** One request to the token source while holding the lease; the failure, if it failed (said and recorded either way). */
  private async renew(claimed: TokenRenewalState): Promise<TokenSourceError | undefined> {
    const { ledger, holder, log, source, tokenFile, manifestPath } = this.options;
    const startedMs = Date.now();
    try {
      const obtained = await obtainToken(source, path.dirname(manifestPath), this.options.sourceLimits);
      await storeToken(tokenFile, obtained.value);
      const expiresMs = obtained.expiresAtMs;
      const renewAtMs = expiresMs === undefined ? undefined : renewalDueAt(startedMs, expiresMs, this.limits);
      if (!ledger.finishTokenRenewal(holder, { ok: true, ...(expiresMs !== undefined && { expiresMs, renewAtMs }) }))
        log.warn('token renewal: the renewal lease lapsed while renewing; another worker took it over');
      this.refusedToken = undefined;
      this.failure = undefined;
      log.info(`renewed the token through ${this.via}: it expires ${isoOf(expiresMs)}, next renewal ${isoOf(renewAtMs)}`, {
        tokenRenewal: claimed.generation + 1,
      });
      return undefined;
    } catch (err) {
      if (!(err instanceof FleetclipError)) throw err;
      const retryable = err instanceof TokenSourceError ? err.retryable : true;
      const failures = claimed.failures + 1;
      const retryAtMs = retryable
        ? Date.now() +
          backoffDelayMs(failures, { backoffBaseMs: this.limits.retryBaseMs, backoffCapMs: this.limits.retryCapMs, jitter: 0.5 })
        : undefined;
      ledger.finishTokenRenewal(holder, {
        ok: false,
        error: err.message,
        refused: !retryable,
        ...(retryAtMs !== undefined && { retryAtMs }),
      });
      if (retryable) {
        log.warn(`token renewal failed (${failures} in a row): ${err.message}; retrying at ${isoOf(retryAtMs)}`, {
          tokenRenewalFailures: failures,
        });
        return err instanceof TokenSourceError ? err : new TokenSourceError(err.message, true, { cause: err });
      }
      this.failure = this.refusalError(err.message);
      log.warn(this.failure.message);
      return this.failure;
    }
  }

  private refusalError(reason: string): TokenSourceError {
    return new TokenSourceError(
      `the token source refused: ${reason}; fix it, then run \`fleetclip token --renew --manifest ${this.options.manifestPath}\``,
      false,
    );
  }

  /** The token file's token as it is now (no cache: a missing, empty or unreadable file is undefined). */
  private async fileToken(): Promise<Token | undefined> {
    try {
      return parseToken(await readFile(this.options.tokenFile, 'utf8'), this.options.tokenFile);
    } catch {
      return undefined;
    }
  }
}

function expiryMsOf(token: Token): number | undefined {
  return token.expiresAtSec === undefined ? undefined : token.expiresAtSec * 1000;
}
