export { createBatchApiClient } from './client.js';
export type {
  BatchApiClient,
  BatchApiClientOptions,
  CallControl,
  DownloadControl,
  ReadyClip,
  ReadyWait,
  RequestOutcome,
} from './client.js';
export type { RequestBudget } from './http.js';
export { SILENT_LOG, type ApiLog } from './log.js';
export { API_DEFAULTS, normalizeApiLimits } from './options.js';
export type { ApiLimits } from './options.js';
export { urlForLog } from './redact.js';
export { backoffDelayMs, retryAfterMs } from './retry-delay.js';
export { DEFAULT_TOKEN_FILE, TOKEN_ENV, inspectToken, jwtExpiry, openTokenSource, tokenFileWarning } from './token.js';
export type { Token, TokenReport, TokenSource, TokenSourceInput } from './token.js';
export { assertOwnerOnly, parseToken, storeToken } from './token.js';
export type { TokenRenewer } from './token.js';
export { TOKEN_SOURCE_DEFAULTS, assertTokenSourceFiles, obtainToken } from './credentials.js';
export type { ObtainedToken, TokenSourceLimits } from './credentials.js';
export { renderTokenReport } from './token-report.js';
