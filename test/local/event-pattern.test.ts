import { describe, expect, it } from 'vitest';
import { matchesEventPattern, UnsupportedPatternError } from '../../scripts/local/event-pattern.js';

// Copies of test/fixtures/events/{ec2-state-running,tag-change-ec2-instance}.json.
const running = {
  version: '0',
  id: '7bf73129-1428-4cd3-a780-95db273d1602',
  'detail-type': 'EC2 Instance State-change Notification',
  source: 'aws.ec2',
  account: '123456789012',
  time: '2021-11-11T21:29:54Z',
  region: 'us-east-1',
  resources: ['arn:aws:ec2:us-east-1:123456789012:instance/i-1234567890abcdef0'],
  detail: { 'instance-id': 'i-1234567890abcdef0', state: 'running' },
};
const tagChange = {
  version: '0',
  id: 'bddcf1d6-0251-35a1-aab0-adc1fb47c11c',
  'detail-type': 'Tag Change on Resource',
  source: 'aws.tag',
  account: '123456789012',
  time: '2018-09-18T20:41:38Z',
  region: 'us-east-1',
  resources: ['arn:aws:ec2:us-east-1:123456789012:instance/i-0000000aaaaaaaaaa'],
  detail: {
    'changed-tag-keys': ['autoprov:enabled'],
    tags: { 'autoprov:enabled': 'true', Name: 'web-1', environment: 'production' },
    service: 'ec2',
    'resource-type': 'instance',
    version: 3,
  },
};

describe('matchesEventPattern', () => {
  it('matches exact values, nested objects and any-of lists', () => {
    // Prepare
    const pattern = {
      source: ['aws.ec2'],
      'detail-type': ['EC2 Instance State-change Notification'],
      detail: { state: ['running', 'terminated'] },
    };
    // Act / Assess
    expect(matchesEventPattern(pattern, running)).toBe(true);
    expect(matchesEventPattern({ ...pattern, detail: { state: ['stopped'] } }, running)).toBe(false);
    expect(matchesEventPattern({ source: ['aws.tag'] }, running)).toBe(false);
  });

  it('matches an event array field when any element matches (changed-tag-keys)', () => {
    expect(matchesEventPattern({ detail: { 'changed-tag-keys': ['autoprov:enabled'] } }, tagChange)).toBe(
      true,
    );
    expect(
      matchesEventPattern({ detail: { 'changed-tag-keys': ['Owner', 'autoprov:enabled'] } }, tagChange),
    ).toBe(true);
    expect(matchesEventPattern({ detail: { 'changed-tag-keys': ['Owner'] } }, tagChange)).toBe(false);
  });

  it('supports prefix, suffix, equals-ignore-case and wildcard', () => {
    const event = { detail: { name: 'web-1.example.com' } };
    expect(matchesEventPattern({ detail: { name: [{ prefix: 'web-' }] } }, event)).toBe(true);
    expect(matchesEventPattern({ detail: { name: [{ prefix: 'db-' }] } }, event)).toBe(false);
    expect(matchesEventPattern({ detail: { name: [{ suffix: '.com' }] } }, event)).toBe(true);
    expect(
      matchesEventPattern({ detail: { name: [{ 'equals-ignore-case': 'WEB-1.EXAMPLE.COM' }] } }, event),
    ).toBe(true);
    expect(matchesEventPattern({ detail: { name: [{ wildcard: 'web-*.com' }] } }, event)).toBe(true);
    expect(matchesEventPattern({ detail: { name: [{ wildcard: 'db-*' }] } }, event)).toBe(false);
  });

  it('supports anything-but with a value, a list and a prefix', () => {
    const event = { detail: { state: 'running' } };
    expect(matchesEventPattern({ detail: { state: [{ 'anything-but': 'stopped' }] } }, event)).toBe(true);
    expect(
      matchesEventPattern({ detail: { state: [{ 'anything-but': ['running', 'pending'] }] } }, event),
    ).toBe(false);
    expect(matchesEventPattern({ detail: { state: [{ 'anything-but': { prefix: 'run' } }] } }, event)).toBe(
      false,
    );
  });

  it('supports exists true/false, which only looks at presence', () => {
    const tagged = { detail: { tags: { 'autoprov:enabled': 'true' } } };
    const pattern = (exists: boolean) => ({ detail: { tags: { 'autoprov:enabled': [{ exists }] } } });
    expect(matchesEventPattern(pattern(true), tagged)).toBe(true);
    expect(matchesEventPattern(pattern(false), tagged)).toBe(false);
    expect(matchesEventPattern(pattern(false), { detail: { tags: {} } })).toBe(true);
    expect(matchesEventPattern(pattern(true), { detail: { tags: {} } })).toBe(false);
  });

  it('supports numeric ranges and $or', () => {
    const event = { detail: { version: 3, state: 'running' } };
    expect(matchesEventPattern({ detail: { version: [{ numeric: ['>', 2, '<=', 3] }] } }, event)).toBe(true);
    expect(matchesEventPattern({ detail: { version: [{ numeric: ['>', 3] }] } }, event)).toBe(false);
    const or = { detail: { $or: [{ state: ['stopped'] }, { version: [3] }] } };
    expect(matchesEventPattern(or, event)).toBe(true);
    expect(matchesEventPattern({ detail: { $or: [{ state: ['stopped'] }, { version: [4] }] } }, event)).toBe(
      false,
    );
  });

  it('does not let a leaf rule match an object, nor a missing field match a value', () => {
    expect(matchesEventPattern({ detail: ['x'] }, { detail: { a: 1 } })).toBe(false);
    expect(matchesEventPattern({ detail: { missing: ['x'] } }, { detail: {} })).toBe(false);
    expect(matchesEventPattern({ detail: { value: [null] } }, { detail: { value: null } })).toBe(true);
  });

  it('rejects matchers it does not implement instead of never matching', () => {
    expect(() => matchesEventPattern({ detail: { ip: [{ cidr: '10.0.0.0/8' }] } }, {})).toThrow(
      UnsupportedPatternError,
    );
    expect(() => matchesEventPattern({ source: 'aws.ec2' }, {})).toThrow(UnsupportedPatternError);
  });
});
