export const MANIFEST_DEFAULTS = {
  /**
   * SQLite's own busy handler is off: it sleeps up to 100 ms between tries, so a newcomer overtakes a long waiter and
   * the claim p99 reached seconds with 16 processes. `retryBusy` polls every 1-5 ms instead (docs/performance.md).
   */
  busyTimeoutMs: 0,
  /** how long one write keeps retrying SQLITE_BUSY (with jitter) before giving up with a ManifestError */
  retryDeadlineMs: 120_000,
  leaseMs: 120_000,
  journal: 'delete',
} as const;
