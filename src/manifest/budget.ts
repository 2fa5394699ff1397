/**
 * The campaign-wide request budget: a token bucket whose rate follows AIMD. A 429 halves the rate (once per
 * cooldown, however many workers report the same burst); without 429s it climbs back linearly to the planned
 * rate. Pure arithmetic; the manifest stores the state in `request_budget` and changes it in one transaction.
 */
export const REQUEST_BUDGET = {
  /** tokens the bucket holds at most, in seconds of the current rate (at least one request) */
  burstSeconds: 1,
  decreaseFactor: 0.5,
  /** the rate never drops below this fraction of the planned rate */
  minRateFraction: 0.02,
  /** from the floor back to the planned rate takes this long without a 429 */
  recoverySeconds: 60,
  /** 429s reported within this long after a decrease belong to the same burst */
  decreaseCooldownMs: 1000,
} as const;

export interface BudgetState {
  ratePerSec: number;
  tokens: number;
  refilledMs: number;
  lastDecreaseMs: number;
}

export function initialBudget(maxRatePerSec: number, nowMs: number): BudgetState {
  return { ratePerSec: maxRatePerSec, tokens: capacity(maxRatePerSec), refilledMs: nowMs, lastDecreaseMs: 0 };
}

function capacity(ratePerSec: number): number {
  return Math.max(1, ratePerSec * REQUEST_BUDGET.burstSeconds);
}

/** The state at `nowMs`: rate recovered and tokens refilled for the time passed (a clock running behind adds nothing). */
export function budgetAt(state: BudgetState, maxRatePerSec: number, nowMs: number): BudgetState {
  const elapsedSec = Math.max(0, nowMs - state.refilledMs) / 1000;
  const ratePerSec = Math.min(maxRatePerSec, state.ratePerSec + (maxRatePerSec / REQUEST_BUDGET.recoverySeconds) * elapsedSec);
  const tokens = Math.min(capacity(ratePerSec), state.tokens + ratePerSec * elapsedSec);
  return { ...state, ratePerSec, tokens, refilledMs: Math.max(state.refilledMs, nowMs) };
}

export function draw(state: BudgetState, wanted: number): { state: BudgetState; granted: number } {
  const granted = Math.max(0, Math.min(Math.floor(wanted), Math.floor(state.tokens)));
  return { state: { ...state, tokens: state.tokens - granted }, granted };
}

export function decrease(state: BudgetState, maxRatePerSec: number, nowMs: number): BudgetState {
  if (nowMs - state.lastDecreaseMs < REQUEST_BUDGET.decreaseCooldownMs) return state;
  const ratePerSec = Math.max(maxRatePerSec * REQUEST_BUDGET.minRateFraction, state.ratePerSec * REQUEST_BUDGET.decreaseFactor);
  return { ...state, ratePerSec, tokens: 0, lastDecreaseMs: nowMs };
}
