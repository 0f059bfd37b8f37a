import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { agentChecks, InvalidPlanError, planSteps } from '../../functions/core/plan.js';
import { MAX_RETRY_DELAY_SECONDS, retryDelays } from '../../functions/core/retry-schedule.js';
import type { MatchResult, PlannedPlaybook } from '../../functions/core/types.js';

function playbook(file: string, overrides: Partial<PlannedPlaybook> = {}): PlannedPlaybook {
  return {
    file,
    extraVars: {},
    timeoutSeconds: 1800,
    maxAttempts: 3,
    backoffSeconds: 60,
    check: false,
    rule: 'baseline',
    ...overrides,
  };
}

describe('planSteps', () => {
  it('makes one step per playbook, in order, with timeout + margin and exponential delays', () => {
    const match: MatchResult = {
      matchedRules: ['baseline', 'web'],
      playbooks: [
        playbook('baseline.yml'),
        playbook('nginx.yml', { timeoutSeconds: 900, maxAttempts: 5, backoffSeconds: 10, rule: 'web' }),
        playbook('once.yml', { maxAttempts: 1 }),
      ],
    };
    expect(planSteps(match, { taskTimeoutMarginSeconds: 300 })).toEqual([
      { index: 0, file: 'baseline.yml', taskTimeoutSeconds: 2100, retryDelays: [60, 120] },
      { index: 1, file: 'nginx.yml', taskTimeoutSeconds: 1200, retryDelays: [10, 20, 40, 80] },
      { index: 2, file: 'once.yml', taskTimeoutSeconds: 2100, retryDelays: [] },
    ]);
  });

  it('returns no steps for no playbooks', () => {
    expect(planSteps({ matchedRules: [], playbooks: [] }, { taskTimeoutMarginSeconds: 300 })).toEqual([]);
  });

  it('refuses a schedule the workflow cannot run', () => {
    const one = (overrides: Partial<PlannedPlaybook>) => ({
      matchedRules: ['r'],
      playbooks: [playbook('a.yml', overrides)],
    });
    expect(() => planSteps(one({}), { taskTimeoutMarginSeconds: -1 })).toThrow(InvalidPlanError);
    expect(() => planSteps(one({ timeoutSeconds: 0 }), { taskTimeoutMarginSeconds: 0 })).toThrow(
      /timeoutSeconds of a\.yml/,
    );
    expect(() => planSteps(one({ maxAttempts: 0 }), { taskTimeoutMarginSeconds: 0 })).toThrow(/maxAttempts/);
    expect(() => planSteps(one({ backoffSeconds: 1.5 }), { taskTimeoutMarginSeconds: 0 })).toThrow(
      /backoffSeconds/,
    );
  });
});

describe('retryDelays', () => {
  it('caps each delay at an hour', () => {
    expect(retryDelays(600, 6)).toEqual([600, 1200, 2400, 3600, 3600]);
    expect(retryDelays(5000, 3)).toEqual([3600, 3600]);
    expect(retryDelays(0, 4)).toEqual([0, 0, 0]);
    expect(MAX_RETRY_DELAY_SECONDS).toBe(3600);
  });

  it('stays finite and capped for very large attempt budgets', () => {
    const delays = retryDelays(1, 2000);
    expect(delays).toHaveLength(1999);
    expect(delays.at(-1)).toBe(3600);
  });

  it('property: length maxAttempts-1, delay n = min(backoff·2^n, 3600), non-decreasing', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 10_000 }),
        fc.integer({ min: 1, max: 40 }),
        (backoff, attempts) => {
          const delays = retryDelays(backoff, attempts);
          expect(delays).toHaveLength(attempts - 1);
          delays.forEach((delay, n) => {
            expect(delay).toBe(Math.min(backoff * 2 ** n, 3600));
            expect(Number.isInteger(delay)).toBe(true);
            if (n > 0) expect(delay).toBeGreaterThanOrEqual(delays[n - 1] as number);
          });
        },
      ),
    );
  });
});

describe('agentChecks', () => {
  it.each([
    [600, 15, 40],
    [600, 7, 86],
    [1, 15, 1],
    [0, 15, 1],
    [15, 15, 1],
    [16, 15, 2],
  ])('%ss at one check every %ss → %s checks', (wait, interval, expected) => {
    expect(agentChecks(wait, interval)).toBe(expected);
  });

  it('covers the whole wait and never more than one interval beyond it', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 86_400 }),
        fc.integer({ min: 1, max: 3600 }),
        (wait, interval) => {
          const checks = agentChecks(wait, interval);
          expect(checks).toBeGreaterThanOrEqual(1);
          expect(checks * interval).toBeGreaterThanOrEqual(wait);
          if (checks > 1) expect((checks - 1) * interval).toBeLessThan(wait);
        },
      ),
    );
  });

  it.each([
    [600, 0],
    [600, -5],
    [-1, 15],
    [Number.NaN, 15],
    [600, Number.POSITIVE_INFINITY],
  ])('refuses wait %s with interval %s', (wait, interval) => {
    expect(() => agentChecks(wait, interval)).toThrow(InvalidPlanError);
  });
});
