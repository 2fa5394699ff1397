import type { Store } from './store.js';
import type { TokenRenewalClaim, TokenRenewalOutcome, TokenRenewalState } from './types.js';

interface TokenRenewalRow {
  generation: number;
  holder: string | null;
  leaseUntilMs: number | null;
  requests: number;
  renewedMs: number | null;
  expiresMs: number | null;
  renewAtMs: number | null;
  failures: number;
  lastError: string | null;
  failedMs: number | null;
  retryAtMs: number | null;
  refused: number;
}

const NO_RENEWAL: TokenRenewalRow = {
  generation: 0,
  holder: null,
  leaseUntilMs: null,
  requests: 0,
  renewedMs: null,
  expiresMs: null,
  renewAtMs: null,
  failures: 0,
  lastError: null,
  failedMs: null,
  retryAtMs: null,
  refused: 0,
};

const COLUMNS = `generation, holder, lease_until_ms AS leaseUntilMs, requests, renewed_ms AS renewedMs, expires_ms AS expiresMs,
  renew_at_ms AS renewAtMs, failures, last_error AS lastError, failed_ms AS failedMs, retry_at_ms AS retryAtMs, refused`;

function stateOf(row: TokenRenewalRow): TokenRenewalState {
  const state: TokenRenewalState = {
    generation: row.generation,
    requests: row.requests,
    failures: row.failures,
    refused: row.refused === 1,
  };
  for (const key of ['holder', 'leaseUntilMs', 'renewedMs', 'expiresMs', 'renewAtMs', 'lastError', 'failedMs', 'retryAtMs'] as const)
    if (row[key] !== null) Object.assign(state, { [key]: row[key] });
  return state;
}

/**
 * `token_renewal`: one renewer at a time for all the workers of a campaign, on whatever node. A worker that finds the
 * token due takes the lease only if nobody renewed since it looked (`generation`) and the last failure's backoff is
 * over; the others wait for the generation to move and re-read the token file. State, not campaign data: not
 * receipted, and a rebuilt manifest starts with a renewal due.
 */
export class TokenRenewals {
  private readonly sql;

  constructor(private readonly store: Store) {
    const p = (text: string) => store.db.prepare(text);
    this.sql = {
      state: p(`SELECT ${COLUMNS} FROM token_renewal WHERE id = 1`),
      claim: p(`UPDATE token_renewal SET holder = @holder, lease_until_ms = @leaseUntilMs, requests = requests + 1
                WHERE id = 1 AND (holder IS NULL OR lease_until_ms < @nowMs)
                  AND (@force = 1 OR (generation = @generation AND refused = 0 AND coalesce(retry_at_ms, 0) <= @nowMs))
                RETURNING ${COLUMNS}`),
      succeeded: p(`UPDATE token_renewal SET generation = generation + 1, holder = NULL, lease_until_ms = NULL, renewed_ms = @nowMs,
                      expires_ms = @expiresMs, renew_at_ms = @renewAtMs, failures = 0, last_error = NULL, failed_ms = NULL,
                      retry_at_ms = NULL, refused = 0
                    WHERE id = 1 AND holder = @holder`),
      failed: p(`UPDATE token_renewal SET holder = NULL, lease_until_ms = NULL, failures = failures + 1, last_error = @error,
                   failed_ms = @nowMs, retry_at_ms = @retryAtMs, refused = @refused
                 WHERE id = 1 AND holder = @holder`),
    };
  }

  tokenRenewal(): TokenRenewalState {
    return stateOf((this.store.read(() => this.sql.state.get()) as TokenRenewalRow | undefined) ?? NO_RENEWAL);
  }

  claimTokenRenewal(holder: string, claim: TokenRenewalClaim): TokenRenewalState | undefined {
    const nowMs = claim.nowMs ?? Date.now();
    const row = this.store.write(
      undefined,
      () =>
        this.sql.claim.get({
          holder,
          nowMs,
          leaseUntilMs: nowMs + claim.leaseMs,
          generation: claim.generation,
          force: claim.force ? 1 : 0,
        }) as TokenRenewalRow | undefined,
    );
    return row && stateOf(row);
  }

  finishTokenRenewal(holder: string, outcome: TokenRenewalOutcome, nowMs = Date.now()): boolean {
    const changes = this.store.write(undefined, () =>
      outcome.ok
        ? this.sql.succeeded.run({ holder, nowMs, expiresMs: outcome.expiresMs ?? null, renewAtMs: outcome.renewAtMs ?? null }).changes
        : this.sql.failed.run({
            holder,
            nowMs,
            error: outcome.error,
            retryAtMs: outcome.retryAtMs ?? null,
            refused: outcome.refused ? 1 : 0,
          }).changes,
    );
    return changes > 0;
  }
}
