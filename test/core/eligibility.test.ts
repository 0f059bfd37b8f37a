// Eligibility is decided in one module (core/eligibility.ts); the DynamoDB store compiles it into the
// claim condition and the in-memory store applies it as is (test/shared/state-store.contract.test.ts
// holds both to the same outcomes).
import { describe, expect, it } from 'vitest';
import {
  type ClaimReason,
  type ClaimTarget,
  HOLD_OVERRIDE_REASONS,
  isClaimable,
  leaseExpired,
  REPROVISION_REASONS,
} from '../../functions/core/eligibility.js';

const now = new Date('2026-01-01T12:00:00.000Z');
const attempt = (reason: ClaimReason, expectedGeneration = 3) => ({ reason, expectedGeneration, now });
const record = (patch: Partial<ClaimTarget>): ClaimTarget => ({
  status: 'PENDING',
  generation: 3,
  held: false,
  ...patch,
});

describe('claim eligibility', () => {
  it('only an operator retry overrides a hold, and only fingerprint changes, operator retries and reapplyEvery re-provision', () => {
    expect([...HOLD_OVERRIDE_REASONS]).toEqual(['operator-retry']);
    expect([...REPROVISION_REASONS].sort()).toEqual([
      'drift-check',
      'fingerprint-changed',
      'operator-retry',
      'reapply',
    ]);
  });

  it.each<[string, Partial<ClaimTarget>, ClaimReason, boolean]>([
    ['a pending record', {}, 'new', true],
    ['a pending record at another generation', { generation: 4 }, 'new', false],
    ['a held pending record', { held: true }, 'new', false],
    ['a held pending record, by an operator', { held: true }, 'operator-retry', true],
    [
      'a running record with a live lease',
      { status: 'RUNNING', leaseExpiresAt: '2026-01-01T12:00:01.000Z' },
      'lease-expired',
      false,
    ],
    [
      'a running record whose lease ends now',
      { status: 'RUNNING', leaseExpiresAt: now.toISOString() },
      'lease-expired',
      true,
    ],
    ['a running record without a lease', { status: 'RUNNING' }, 'lease-expired', true],
    ['a succeeded record, re-detected', { status: 'SUCCESS' }, 'new', false],
    ['a succeeded record whose fingerprint changed', { status: 'SUCCESS' }, 'fingerprint-changed', true],
    ['a failed record, retried by an operator', { status: 'FAILED' }, 'operator-retry', true],
    ['an orphan, even for an operator', { status: 'ORPHANED' }, 'operator-retry', false],
  ])('%s → %s', (_what, patch, reason, expected) => {
    expect(isClaimable(record(patch), attempt(reason))).toBe(expected);
  });

  it('compares leases as ISO strings, an absent lease counting as expired', () => {
    expect(leaseExpired(undefined, now)).toBe(true);
    expect(leaseExpired('2026-01-01T11:59:59.999Z', now)).toBe(true);
    expect(leaseExpired('2026-01-01T12:00:00.001Z', now)).toBe(false);
  });
});
