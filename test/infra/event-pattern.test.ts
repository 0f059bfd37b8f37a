// The EventBridge pattern matcher the rule tests rely on: each operator, both ways.
import { describe, expect, it } from 'vitest';
import { EventPatternError, matchesEventPattern as matches } from '../helpers/event-pattern.js';

describe('matchesEventPattern', () => {
  it('matches exact values, any of a list', () => {
    const pattern = { source: ['aws.ec2'], detail: { state: ['running', 'stopped'] } };
    expect(matches(pattern, { source: 'aws.ec2', detail: { state: 'running' } })).toBe(true);
    expect(matches(pattern, { source: 'aws.ec2', detail: { state: 'stopped' } })).toBe(true);
    expect(matches(pattern, { source: 'aws.ec2', detail: { state: 'pending' } })).toBe(false);
    expect(matches(pattern, { source: 'aws.ssm', detail: { state: 'running' } })).toBe(false);
  });

  it('requires every pattern field and ignores extra event fields', () => {
    const pattern = { source: ['aws.ec2'], detail: { state: ['running'] } };
    expect(matches(pattern, { source: 'aws.ec2' })).toBe(false);
    expect(matches(pattern, { source: 'aws.ec2', detail: {} })).toBe(false);
    expect(matches(pattern, { source: 'aws.ec2', extra: 1, detail: { state: 'running', other: 'x' } })).toBe(
      true,
    );
  });

  it('compares types strictly (number 5 is not "5") and matches null only against null', () => {
    expect(matches({ n: [5] }, { n: 5 })).toBe(true);
    expect(matches({ n: [5] }, { n: '5' })).toBe(false);
    expect(matches({ n: [null] }, { n: null })).toBe(true);
    expect(matches({ n: [null] }, {})).toBe(false);
  });

  it('matches an array event field when any element matches (tag keys)', () => {
    const pattern = { detail: { 'changed-tag-keys': ['autoprov:enabled', 'autoprov:hold'] } };
    expect(matches(pattern, { detail: { 'changed-tag-keys': ['Name', 'autoprov:hold'] } })).toBe(true);
    expect(matches(pattern, { detail: { 'changed-tag-keys': ['Name', 'env'] } })).toBe(false);
    expect(matches(pattern, { detail: { 'changed-tag-keys': [] } })).toBe(false);
  });

  it('does not treat a nested pattern object as matching a scalar field', () => {
    expect(matches({ detail: { state: ['running'] } }, { detail: 'running' })).toBe(false);
  });

  it('supports prefix and suffix', () => {
    expect(matches({ id: [{ prefix: 'i-' }] }, { id: 'i-0abc' })).toBe(true);
    expect(matches({ id: [{ prefix: 'i-' }] }, { id: 'mi-0abc' })).toBe(false);
    expect(matches({ f: [{ suffix: '.yml' }] }, { f: 'site.yml' })).toBe(true);
    expect(matches({ f: [{ suffix: '.yml' }] }, { f: 7 })).toBe(false);
  });

  it('supports anything-but with a list, a single value and a prefix, and never matches a missing field', () => {
    const pattern = { status: [{ 'anything-but': ['Pending', 'InProgress'] }] };
    expect(matches(pattern, { status: 'Success' })).toBe(true);
    expect(matches(pattern, { status: 'InProgress' })).toBe(false);
    expect(matches(pattern, {})).toBe(false);
    expect(matches({ s: [{ 'anything-but': 'x' }] }, { s: 'y' })).toBe(true);
    expect(matches({ s: [{ 'anything-but': 'x' }] }, { s: 'x' })).toBe(false);
    expect(matches({ s: [{ 'anything-but': { prefix: 'AWS-' } }] }, { s: 'MyDoc' })).toBe(true);
    expect(matches({ s: [{ 'anything-but': { prefix: 'AWS-' } }] }, { s: 'AWS-RunShellScript' })).toBe(false);
  });

  it('supports exists true and false', () => {
    expect(matches({ d: { x: [{ exists: true }] } }, { d: { x: 0 } })).toBe(true);
    expect(matches({ d: { x: [{ exists: true }] } }, { d: {} })).toBe(false);
    expect(matches({ d: { x: [{ exists: false }] } }, { d: {} })).toBe(true);
    expect(matches({ d: { x: [{ exists: false }] } }, { d: { x: 'here' } })).toBe(false);
  });

  it('supports equals-ignore-case and numeric ranges', () => {
    expect(matches({ s: [{ 'equals-ignore-case': 'online' }] }, { s: 'Online' })).toBe(true);
    expect(matches({ n: [{ numeric: ['>', 0, '<=', 5] }] }, { n: 5 })).toBe(true);
    expect(matches({ n: [{ numeric: ['>', 0, '<=', 5] }] }, { n: 0 })).toBe(false);
    expect(matches({ n: [{ numeric: ['>', 0] }] }, { n: '3' })).toBe(false);
  });

  it('rejects patterns it cannot judge instead of guessing', () => {
    expect(() => matches({ s: [{ cidr: '10.0.0.0/24' }] }, { s: '10.0.0.1' })).toThrow(EventPatternError);
    expect(() => matches({ s: 'scalar' }, { s: 'scalar' })).toThrow(EventPatternError);
    expect(() => matches({ s: [{ prefix: 'a', suffix: 'b' }] }, { s: 'ab' })).toThrow(EventPatternError);
    expect(() => matches(['not', 'an', 'object'], {})).toThrow(EventPatternError);
  });
});
