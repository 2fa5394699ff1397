import { budgetAt, decrease, draw, initialBudget, type BudgetState } from './budget.js';
import type { ActivityTable } from './activity.js';
import type { CampaignTable } from './campaign.js';
import type { Store } from './store.js';

/** `request_budget` and `request_usage`: the campaign-wide request budget (budget.ts has the arithmetic); grants also count per minute. */
export class BudgetTable {
  private readonly sql;

  constructor(
    private readonly store: Store,
    private readonly campaign: CampaignTable,
    private readonly activity: ActivityTable,
  ) {
    const p = (text: string) => store.db.prepare(text);
    this.sql = {
      budget: p(
        `SELECT rate_per_sec AS ratePerSec, tokens, refilled_ms AS refilledMs, last_decrease_ms AS lastDecreaseMs FROM request_budget WHERE id = 1`,
      ),
      save: p(`INSERT OR REPLACE INTO request_budget (id, rate_per_sec, tokens, refilled_ms, last_decrease_ms)
               VALUES (1, @ratePerSec, @tokens, @refilledMs, @lastDecreaseMs)`),
      addUsage: p(`INSERT INTO request_usage (worker, granted, last_ms) VALUES (?, ?, ?)
                   ON CONFLICT (worker) DO UPDATE SET granted = granted + excluded.granted, last_ms = excluded.last_ms`),
    };
  }

  drawRequestAllowance(workerId: string, wanted: number, nowMs: number = Date.now()): number {
    const maxRate = this.campaign.settings().apiRatePerSec;
    return this.store.write(undefined, () => {
      const { state, granted } = draw(this.budgetNow(maxRate, nowMs), wanted);
      this.sql.save.run(state);
      if (granted > 0) {
        this.sql.addUsage.run(workerId, granted, nowMs);
        this.activity.countGranted(granted, nowMs);
      }
      return granted;
    });
  }

  report429(nowMs: number = Date.now()): void {
    const maxRate = this.campaign.settings().apiRatePerSec;
    this.store.write(undefined, () => {
      this.sql.save.run(decrease(this.budgetNow(maxRate, nowMs), maxRate, nowMs));
    });
  }

  requestRate(nowMs: number = Date.now()): number {
    const maxRate = this.campaign.settings().apiRatePerSec;
    return this.store.read(() => this.budgetNow(maxRate, nowMs).ratePerSec);
  }

  private budgetNow(maxRate: number, nowMs: number): BudgetState {
    const stored = this.sql.budget.get() as BudgetState | undefined;
    return stored ? budgetAt(stored, maxRate, nowMs) : initialBudget(maxRate, nowMs);
  }
}
