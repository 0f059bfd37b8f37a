import { describe, expect, it } from 'vitest';
import {
  acquire,
  admit,
  DEFAULT_ROLLOUT,
  describePool,
  isCanary,
  LimitError,
  openPool,
  type Pool,
  parseLimit,
  release,
  resolveLimit,
  resume,
} from '../../functions/core/admission.js';

describe('parseLimit', () => {
  it('reads a count or a percentage, as SSM MaxConcurrency / MaxErrors do', () => {
    expect(parseLimit(5, 'rollout.maxConcurrent', 1)).toEqual({ kind: 'count', value: 5 });
    expect(parseLimit('5', 'rollout.maxConcurrent', 1)).toEqual({ kind: 'count', value: 5 });
    expect(parseLimit('10%', 'rollout.maxConcurrent', 1)).toEqual({ kind: 'percent', value: 10 });
    expect(parseLimit('12.5 %', 'x')).toEqual({ kind: 'percent', value: 12.5 });
    expect(parseLimit(0, 'rollout.maxErrors')).toEqual({ kind: 'count', value: 0 });
    expect(parseLimit('0%', 'rollout.maxErrors')).toEqual({ kind: 'percent', value: 0 });
  });

  it.each([
    [0, 1],
    ['0%', 1],
    ['101%', 0],
    [-1, 0],
    [1.5, 0],
    ['ten', 0],
    ['', 0],
    [null, 0],
    [true, 0],
  ])('refuses %j (min %i) naming the setting and the accepted forms', (value, min) => {
    expect(() => parseLimit(value, 'rules[2].rollout.maxConcurrent', min)).toThrow(LimitError);
    expect(() => parseLimit(value, 'rules[2].rollout.maxConcurrent', min)).toThrow(
      /^rules\[2\]\.rollout\.maxConcurrent: .* is not a limit\. Use a whole number.*percentage/,
    );
  });
});

describe('resolveLimit', () => {
  it('takes a percentage of the due instances, at least one for concurrency, rounded down for errors', () => {
    expect(resolveLimit({ kind: 'percent', value: 10 }, 200, 'concurrency')).toBe(20);
    expect(resolveLimit({ kind: 'percent', value: 10 }, 5, 'concurrency')).toBe(1);
    expect(resolveLimit({ kind: 'percent', value: 10 }, 5, 'errors')).toBe(0);
    expect(resolveLimit({ kind: 'percent', value: 10 }, 30, 'errors')).toBe(3);
    // 32.3 × 1000 / 100 is 322.99999999999994 in floating point: still 323.
    expect(resolveLimit({ kind: 'percent', value: 32.3 }, 1000, 'errors')).toBe(323);
    expect(resolveLimit({ kind: 'count', value: 7 }, 3, 'concurrency')).toBe(7);
  });

  it('defaults to a tenth at a time and pausing on the first failure', () => {
    expect(openPool(DEFAULT_ROLLOUT, 200)).toMatchObject({ limit: 20, maxErrors: 0, state: 'ROLLING' });
    expect(openPool(DEFAULT_ROLLOUT, 0).state).toBe('DONE');
  });
});

const pool = (over: Partial<Pool> = {}): Pool => ({
  ...openPool({ maxConcurrent: { kind: 'count', value: 2 }, maxErrors: { kind: 'count', value: 1 } }, 10),
  ...over,
});

describe('admit', () => {
  it('admits up to the limit, then refuses as full until a release frees a slot', () => {
    let p = pool();
    expect(admit(p)).toEqual({ admit: true });
    p = acquire(p);
    p = acquire(p);
    expect(admit(p)).toEqual({ admit: false, reason: 'full' });
    p = release(p, 'succeeded').pool;
    expect(admit(p)).toEqual({ admit: true });
    expect(p).toMatchObject({ inFlight: 1, started: 2, succeeded: 1 });
  });

  it('refuses for every reason a pool has, the global pause first', () => {
    expect(admit(pool(), { globallyPaused: true })).toEqual({ admit: false, reason: 'globally-paused' });
    expect(admit(pool({ state: 'PAUSED' }))).toEqual({ admit: false, reason: 'paused' });
    expect(admit(pool({ state: 'ABORTED' }))).toEqual({ admit: false, reason: 'aborted' });
    expect(admit(pool({ started: 10 }))).toEqual({ admit: false, reason: 'done' });
    expect(admit(pool({ failed: 2 }))).toEqual({ admit: false, reason: 'error-threshold' });
  });

  it('holds the other lanes until every canary succeeded', () => {
    const canary = pool({ total: 2, started: 2, inFlight: 1, succeeded: 1 });
    expect(admit(pool(), { canary })).toEqual({ admit: false, reason: 'canary-pending' });
    expect(admit(pool(), { canary: release(canary, 'succeeded').pool })).toEqual({ admit: true });
    // A failed canary pauses its lane (maxErrors 0 for canaries) and the rest never starts.
    const failedCanary = release(
      pool({ total: 2, maxErrors: 0, inFlight: 1, started: 2, succeeded: 1 }),
      'failed',
    );
    expect(failedCanary.pauses).toBe(true);
    expect(admit(pool(), { canary: failedCanary.pool })).toEqual({ admit: false, reason: 'canary-pending' });
  });
});

describe('release', () => {
  it('pauses exactly once, on the failure that passes maxErrors; later failures (in flight) do not notify again', () => {
    let p = pool({ inFlight: 2, started: 4, succeeded: 1, failed: 1 });
    const first = release(p, 'failed');
    expect(first.pauses).toBe(true);
    expect(first.pool.state).toBe('PAUSED');
    p = first.pool;
    const second = release(p, 'failed');
    expect(second.pauses).toBe(false);
    expect(second.pool).toMatchObject({ state: 'PAUSED', failed: 3, inFlight: 0 });
  });

  it('ends a pool DONE when its last instance succeeds', () => {
    const p = release(pool({ total: 2, started: 2, inFlight: 1, succeeded: 1 }), 'succeeded');
    expect(p).toEqual({ pool: expect.objectContaining({ state: 'DONE', inFlight: 0 }), pauses: false });
  });

  it('resume forgives the failures so far, keeping the same allowance for new ones', () => {
    const paused = pool({ state: 'PAUSED', failed: 2, maxErrors: 1, started: 4, inFlight: 0, succeeded: 2 });
    const resumed = resume(paused);
    expect(resumed).toMatchObject({ state: 'ROLLING', maxErrors: 3 });
    expect(admit(resumed)).toEqual({ admit: true });
    expect(resume(pool({ state: 'ABORTED' })).state).toBe('ABORTED');
  });
});

describe('isCanary and describePool', () => {
  it('picks canaries by group, or the first N due instances by id whatever the order given', () => {
    const due = ['i-3', 'i-1', 'i-2'];
    expect(isCanary({ count: 2 }, { instanceId: 'i-2', groups: [] }, due)).toBe(true);
    expect(isCanary({ count: 2 }, { instanceId: 'i-3', groups: [] }, due)).toBe(false);
    expect(isCanary({ groups: ['canary'] }, { instanceId: 'i-3', groups: ['web', 'canary'] }, due)).toBe(
      true,
    );
    expect(isCanary(undefined, { instanceId: 'i-1', groups: ['canary'] }, due)).toBe(false);
  });

  it('says where a pool stands in one line', () => {
    expect(describePool(pool({ started: 4, inFlight: 2, succeeded: 1, failed: 1 }))).toBe(
      '4/10 started, 2 running, 1 succeeded, 1 failed (pauses after 1), at most 2 at once — ROLLING',
    );
  });
});
