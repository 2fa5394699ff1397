import { setTimeout as delay } from 'node:timers/promises';
import type { RequestBudget } from '../api/index.js';
import type { WorkerManifest } from '../manifest/index.js';

/** Who hears of a campaign budget's events: a worker's window (it sizes itself by them), a scan's request count. */
export interface BudgetListener {
  /** one /v1/ request is about to be sent */
  requested(): void;
  /** a 429 */
  rateLimited(): void;
  /** a 5xx or a network error, retried */
  struggled(): void;
}

/**
 * Requests drawn from the campaign-wide budget in the manifest, `batch` at a time per short transaction (a few
 * seconds' worth); a 429 anywhere slows every client of the campaign down (the manifest halves the rate).
 */
export function campaignBudget(
  manifest: Pick<WorkerManifest, 'drawRequestAllowance' | 'report429'>,
  clientId: string,
  batch: number,
  listener: BudgetListener,
): RequestBudget {
  let tokens = 0;
  return {
    async acquire(signal) {
      while (tokens <= 0) {
        tokens += manifest.drawRequestAllowance(clientId, batch);
        if (tokens <= 0) await delay(20 + Math.random() * 80, undefined, signal ? { signal } : {});
      }
      tokens--;
      listener.requested();
    },
    rateLimited: () => {
      listener.rateLimited();
      manifest.report429();
    },
    struggled: () => listener.struggled(),
  };
}
