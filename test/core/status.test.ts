import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CLAIMABLE_FROM, canClaim } from '../../functions/core/eligibility.js';
import {
  assertTransition,
  canTransition,
  IllegalTransitionError,
  InconsistentResultsError,
  isTerminal,
  outcomeOf,
  summarizeOutcome,
} from '../../functions/core/status.js';
import {
  type PlaybookOutcome,
  type PlaybookRunStatus,
  STATUSES,
  type Status,
} from '../../functions/core/types.js';

// The expected table, written out in full (row = from, columns in STATUSES order:
// PENDING RUNNING SUCCESS PARTIAL FAILED SKIPPED DRIFTED ORPHANED). 1 = legal.
const TABLE: Record<Status, string> = {
  PENDING: '0 1 0 0 0 0 0 1',
  RUNNING: '0 1 1 1 1 1 1 1',
  SUCCESS: '0 1 0 0 0 0 0 1',
  PARTIAL: '0 1 0 0 0 0 0 1',
  FAILED: '0 1 0 0 0 0 0 1',
  SKIPPED: '0 1 0 0 0 0 0 1',
  DRIFTED: '0 1 0 0 0 0 0 1',
  ORPHANED: '1 0 0 0 0 0 0 0',
};
const PAIRS = STATUSES.flatMap((from) =>
  STATUSES.map((to, column) => [from, to, TABLE[from].split(' ')[column] === '1'] as const),
);

describe('status transitions', () => {
  it('the table covers all 64 pairs', () => {
    expect(PAIRS).toHaveLength(64);
    expect(STATUSES).toEqual([
      'PENDING',
      'RUNNING',
      'SUCCESS',
      'PARTIAL',
      'FAILED',
      'SKIPPED',
      'DRIFTED',
      'ORPHANED',
    ]);
  });

  it.each(PAIRS)('%s → %s legal: %s', (from, to, legal) => {
    expect(canTransition(from, to)).toBe(legal);
    if (legal) {
      expect(() => assertTransition(from, to)).not.toThrow();
    } else {
      const error = (() => {
        try {
          assertTransition(from, to);
        } catch (caught) {
          return caught;
        }
        return undefined;
      })();
      expect(error).toBeInstanceOf(IllegalTransitionError);
      expect(error).toMatchObject({ name: 'IllegalTransitionError', from, to });
      expect((error as Error).message).toContain(`${from} → ${to}`);
    }
  });

  it('terminal statuses are exactly the five run outcomes (DRIFTED: a check run that found drift)', () => {
    expect(STATUSES.filter(isTerminal)).toEqual(['SUCCESS', 'PARTIAL', 'FAILED', 'SKIPPED', 'DRIFTED']);
  });
});

describe('claims', () => {
  it('documents a condition for every claimable status, and each claimable status may move to RUNNING', () => {
    expect(CLAIMABLE_FROM).toEqual({
      PENDING: 'always',
      RUNNING: 'lease-expired',
      SUCCESS: 'reprovision',
      PARTIAL: 'reprovision',
      FAILED: 'reprovision',
      SKIPPED: 'reprovision',
      DRIFTED: 'reprovision',
    });
    for (const status of Object.keys(CLAIMABLE_FROM) as Status[])
      expect(canTransition(status, 'RUNNING')).toBe(true);
  });

  it.each<[Status, boolean, boolean, boolean]>([
    ['PENDING', false, false, true],
    ['RUNNING', false, false, false],
    ['RUNNING', false, true, false],
    ['RUNNING', true, false, true],
    ['SUCCESS', true, false, false],
    ['SUCCESS', false, true, true],
    ['FAILED', false, true, true],
    ['SKIPPED', false, false, false],
    ['PARTIAL', false, true, true],
    ['DRIFTED', false, false, false],
    ['DRIFTED', false, true, true],
    ['ORPHANED', true, true, false],
  ])(
    'claim from %s (lease expired %s, re-provision %s) → %s',
    (status, leaseExpired, reprovision, expected) => {
      expect(canClaim(status, { leaseExpired, reprovision })).toBe(expected);
    },
  );
});

const ok = (file: string): PlaybookOutcome => ({ file, status: 'Success', attempts: 1 });
const bad = (file: string, status: PlaybookRunStatus = 'Failed'): PlaybookOutcome => ({
  file,
  status,
  attempts: 3,
});

describe('outcomeOf', () => {
  it.each<[string, number, PlaybookOutcome[], 'SUCCESS' | 'PARTIAL' | 'FAILED']>([
    ['every planned playbook succeeded', 2, [ok('a.yml'), ok('b.yml')], 'SUCCESS'],
    ['one of one succeeded', 1, [ok('a.yml')], 'SUCCESS'],
    ['the first failed', 2, [bad('a.yml')], 'FAILED'],
    ['the only one timed out', 1, [bad('a.yml', 'TimedOut')], 'FAILED'],
    ['one succeeded then one failed', 3, [ok('a.yml'), bad('b.yml')], 'PARTIAL'],
    ['the last one was undeliverable', 2, [ok('a.yml'), bad('b.yml', 'Undeliverable')], 'PARTIAL'],
    ['cancelled counts as a failure', 2, [ok('a.yml'), bad('b.yml', 'Cancelled')], 'PARTIAL'],
    ['nothing ran (interrupted before the first)', 2, [], 'FAILED'],
    ['interrupted after some succeeded', 3, [ok('a.yml'), ok('b.yml')], 'FAILED'],
  ])('%s', (_, planned, results, expected) => {
    expect(outcomeOf(planned, results)).toBe(expected);
  });

  it('summarizes what happened', () => {
    expect(summarizeOutcome(3, [ok('a.yml'), bad('b.yml')])).toEqual({
      status: 'PARTIAL',
      succeeded: 1,
      failed: bad('b.yml'),
      incomplete: false,
    });
    expect(summarizeOutcome(3, [ok('a.yml')])).toEqual({ status: 'FAILED', succeeded: 1, incomplete: true });
    expect(summarizeOutcome(1, [ok('a.yml')])).toEqual({
      status: 'SUCCESS',
      succeeded: 1,
      incomplete: false,
    });
  });

  it('refuses results that no run can produce', () => {
    expect(() => outcomeOf(2, [bad('a.yml'), ok('b.yml')])).toThrow(InconsistentResultsError);
    expect(() => outcomeOf(3, [ok('a.yml'), bad('b.yml'), bad('c.yml')])).toThrow(
      /c\.yml has a result after b\.yml failed/,
    );
    expect(() => outcomeOf(1, [ok('a.yml'), ok('b.yml')])).toThrow(/2 playbook results for a plan of 1/);
    expect(() => outcomeOf(0, [])).toThrow(/SKIPPED/);
    expect(() => outcomeOf(1.5, [])).toThrow(InconsistentResultsError);
  });

  it('property: matches the definition for every valid sequence', () => {
    const failure = fc.constantFrom<PlaybookRunStatus>('Failed', 'TimedOut', 'Cancelled', 'Undeliverable');
    fc.assert(
      fc.property(
        fc
          .integer({ min: 1, max: 8 })
          .chain((planned) =>
            fc.tuple(fc.constant(planned), fc.integer({ min: 0, max: planned }), fc.option(failure)),
          ),
        ([planned, successes, failedWith]) => {
          const fits = failedWith === null || successes < planned;
          fc.pre(fits);
          const results = Array.from({ length: successes }, (_, i) => ok(`p${i}.yml`));
          if (failedWith !== null) results.push(bad(`p${successes}.yml`, failedWith));
          const expected =
            failedWith === null
              ? successes === planned
                ? 'SUCCESS'
                : 'FAILED'
              : successes === 0
                ? 'FAILED'
                : 'PARTIAL';
          expect(outcomeOf(planned, results)).toBe(expected);
        },
      ),
    );
  });
});
