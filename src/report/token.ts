import { formatDuration } from '../duration.js';
import type { TokenRenewalState } from '../manifest/index.js';
import { describeTokenSource } from '../plan/grammar.js';
import type { TokenSourceSettings } from '../plan/types.js';

/** A campaign's token renewal as `status` and `fleetclip token --manifest` show it (times ISO, UTC). Never a token. */
export interface TokenView {
  source: string;
  /** renewals that succeeded, and renewals tried (each one request to the token source) */
  renewals: number;
  requests: number;
  renewedAt: string | null;
  expiresAt: string | null;
  nextRenewalAt: string | null;
  /** the worker renewing now, while its lease runs */
  renewing: string | null;
  /** failed renewals since the last success, the last one's message, and when the next try may come */
  failures: number;
  lastError: string | null;
  retryAt: string | null;
  /** the source refused for good: nothing renews until `fleetclip token --renew` succeeds */
  refused: boolean;
}

const isoOrNull = (ms: number | undefined): string | null => (ms === undefined ? null : new Date(ms).toISOString());

export function tokenView(source: TokenSourceSettings, state: TokenRenewalState, nowMs: number): TokenView {
  return {
    source: describeTokenSource(source),
    renewals: state.generation,
    requests: state.requests,
    renewedAt: isoOrNull(state.renewedMs),
    expiresAt: isoOrNull(state.expiresMs),
    nextRenewalAt: isoOrNull(state.renewAtMs),
    renewing: state.holder !== undefined && (state.leaseUntilMs ?? 0) >= nowMs ? state.holder : null,
    failures: state.failures,
    lastError: state.lastError ?? null,
    retryAt: isoOrNull(state.retryAtMs),
    refused: state.refused,
  };
}

/** `2025-11-17T08:00:00Z (in 3m05s)`, or `(5s ago)` */
function when(iso: string, nowMs: number): string {
  const seconds = (Date.parse(iso) - nowMs) / 1000;
  const relative = seconds >= 0 ? `in ${formatDuration(seconds)}` : `${formatDuration(-seconds)} ago`;
  return `${iso.replace(/\.\d+Z$/, 'Z')} (${relative})`;
}

/** The lines of a token view: source, renewals and schedule, then what is wrong, if anything. */
export function renderTokenView(view: TokenView, nowMs: number, manifestPath: string): string {
  const schedule =
    view.renewals === 0
      ? 'not renewed yet (the first worker renews it)'
      : `renewed ${view.renewals} time(s) in ${view.requests} request(s), last ${when(view.renewedAt ?? '', nowMs)}; ` +
        `expires ${view.expiresAt ? when(view.expiresAt, nowMs) : 'unknown'}; ` +
        `next renewal ${view.nextRenewalAt ? when(view.nextRenewalAt, nowMs) : 'after a 401'}`;
  const lines = [`token source: ${view.source}`, `renewal:      ${schedule}`];
  if (view.renewing) lines.push(`              renewing now: ${view.renewing}`);
  if (view.refused)
    lines.push(`              REFUSED: ${view.lastError}; fix it, then run \`fleetclip token --renew --manifest ${manifestPath}\``);
  else if (view.failures > 0)
    lines.push(
      `              last renewal FAILED (${view.failures} in a row): ${view.lastError}; ` +
        `retrying ${view.retryAt ? when(view.retryAt, nowMs) : 'soon'}`,
    );
  return `${lines.join('\n')}\n`;
}
