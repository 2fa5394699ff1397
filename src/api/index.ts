export { createBatchApiClient } from './client.js';
export type {
  BatchApiClient,
  BatchApiClientOptions,
  CallControl,
  PlaceInfo,
  RequestOutcome,
  SlotFetchOutcome,
  SlotRequest,
} from './client.js';
export type { ApiLog } from './log.js';
export { API_DEFAULTS, normalizeApiBase, normalizeApiLimits } from './options.js';
export type { ApiLimits } from './options.js';
export { urlForLog } from './redact.js';
export { backoffDelayMs, retryAfterMs } from './retry-delay.js';
export { DEFAULT_TOKEN_FILE, TOKEN_ENV, inspectToken, jwtExpiry, openTokenSource } from './token.js';
export type { Token, TokenReport, TokenSource, TokenSourceInput } from './token.js';
export { formatDurationSec, renderTokenReport } from './token-report.js';
