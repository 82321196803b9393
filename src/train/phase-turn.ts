// The turn of a LoRA-B trajectory: the step where its local cosine (smallest k) rises well above its running level,
// away from the run's ends. Pure (no imports): the report upgrade runs it in the browser too. Axes: [step].

export interface TurnRule {
  /** How far the local cosine must rise above its running level (cosine units). */
  minRise: number;
  /** The first and last share of the run where no turn is looked for (the metric's edges and the settled end). */
  margin: number;
  /** The running level at a step: the median of the defined local cosines over this many steps before it (at least 3). */
  window: number;
  /**
   * The share of B's way still ahead at a turn: ‖B[last] − B[t]‖ over the largest ‖B[s] − B[first]‖ of the run. The
   * local cosine does not see how far B moves, so once B has settled the jitter of its tiny steps swings it as much as a
   * turn would; a turn to another solution has B moving on to it.
   */
  minTravel: number;
}

export const TURN_RULE: TurnRule = { minRise: 0.5, margin: 0.1, window: 10, minTravel: 0.25 };

/**
 * The rule as a result states it (phase-transition's turn_rule); min_travel null where it could not be applied (a
 * result upgraded from one that kept no B positions).
 */
export const turnRuleFields = (rule: TurnRule = TURN_RULE, travelApplied = true) => ({ min_rise: rule.minRise, margin: rule.margin, window: rule.window, min_travel: travelApplied ? rule.minTravel : null });

export interface Turn {
  /** The step of the largest rise of at least minRise inside the run's middle, or null (no turn). */
  step: number | null;
  /** Its rise (null without a turn). */
  rise: number | null;
  /** [step]: the local cosine minus its running level (null where either is undefined). */
  rises: (number | null)[];
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * A straight run keeps the local cosine near −1 (the steps before and after point opposite ways); a turn lifts it
 * toward 0 or above. The running level is the median of the `window` steps before t, so a run that stays curved (a
 * level near 0 throughout) is no turn: only a rise against what came before counts. `travel` ([step]: the share of
 * B's way still ahead, see TurnRule.minTravel) rules out a rise where B has settled; without it that is not checked.
 */
export function detectTurn(steps: number[], cosine: (number | null)[], rule: TurnRule = TURN_RULE, travel?: readonly number[]): Turn {
  const rises = steps.map((t, i) => {
    const c = cosine[i];
    if (c === null || c === undefined) return null;
    const before: number[] = [];
    for (let j = i - 1; j >= 0 && steps[j] >= t - rule.window; j--) {
      const b = cosine[j];
      if (b !== null && b !== undefined) before.push(b);
    }
    return before.length >= 3 ? c - median(before) : null;
  });
  const first = steps[0] ?? 0, last = steps[steps.length - 1] ?? 0, span = last - first;
  let step: number | null = null, rise: number | null = null;
  rises.forEach((r, i) => {
    const t = steps[i];
    const inside = t - first >= rule.margin * span && last - t >= rule.margin * span;
    const moving = !travel || travel[i] >= rule.minTravel;
    if (r !== null && inside && moving && r >= rule.minRise && (rise === null || r > rise)) {
      step = t;
      rise = r;
    }
  });
  return { step, rise, rises };
}
