import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CanonicalJsonError,
  canonicalJson,
  factsHash,
  fingerprint,
  sha256Hex,
} from '../../functions/core/fingerprint.js';
import type { HostFacts, MatchResult, PlannedPlaybook } from '../../functions/core/types.js';

/** Same value, every object's keys re-inserted in a shuffled order (seeded by `seed`). */
function shuffleKeys(value: unknown, seed: number): unknown {
  if (Array.isArray(value)) return value.map((item, i) => shuffleKeys(item, seed + i + 1));
  if (value === null || typeof value !== 'object') return value;
  const entries = Object.entries(value);
  const shuffled = entries
    .map((entry, i) => ({ entry, order: Math.sin(seed * 7919 + i * 104_729) }))
    .sort((a, b) => a.order - b.order)
    .map(({ entry: [k, v] }, i) => [k, shuffleKeys(v, seed + i + 13)] as const);
  const out: Record<string, unknown> = {};
  for (const [k, v] of shuffled)
    Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
  return out;
}

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

const BUNDLE = 'a'.repeat(64);
const BASE: MatchResult = {
  playbooks: [
    playbook('baseline.yml', { extraVars: { a: '1', b: '2' } }),
    playbook('nginx.yml', { rule: 'web' }),
  ],
  matchedRules: ['baseline', 'web'],
};

describe('canonicalJson', () => {
  it('sorts object keys at every depth and keeps array order', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: true, y: null }], c: 'x' } })).toBe(
      '{"a":{"c":"x","d":[3,{"y":null,"z":true}]},"b":1}',
    );
  });

  it('omits undefined properties and encodes undefined/holes in arrays as null, like JSON', () => {
    // biome-ignore lint/suspicious/noSparseArray: the hole is the point of the test
    expect(canonicalJson({ a: undefined, b: [undefined, , 1] })).toBe('{"b":[null,null,1]}');
  });

  it('refuses values JSON would silently change', () => {
    for (const bad of [
      Number.NaN,
      Number.POSITIVE_INFINITY,
      10n,
      () => 1,
      Symbol('x'),
      new Map(),
      new Date(0),
    ]) {
      expect(() => canonicalJson({ k: [bad] }), String(bad)).toThrow(CanonicalJsonError);
    }
    expect(() => canonicalJson(undefined)).toThrow(CanonicalJsonError);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => canonicalJson(cyclic)).toThrow(/cyclic/);
  });

  it('accepts the same object twice when it is not a cycle', () => {
    const shared = { x: 1 };
    expect(canonicalJson({ a: shared, b: shared })).toBe('{"a":{"x":1},"b":{"x":1}}');
  });

  it('is valid JSON that parses back to an equal value', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        expect(JSON.parse(canonicalJson(value))).toEqual(JSON.parse(JSON.stringify(value)));
      }),
    );
  });

  it('is stable across key order', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.integer(), (value, seed) => {
        expect(canonicalJson(shuffleKeys(value, seed))).toBe(canonicalJson(value));
      }),
    );
  });
});

describe('sha256Hex', () => {
  it('is the hex SHA-256 of the UTF-8 text', () => {
    expect(sha256Hex('')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(sha256Hex('é')).toBe(
      createHash('sha256')
        .update(Buffer.from([0xc3, 0xa9]))
        .digest('hex'),
    );
  });
});

describe('fingerprint', () => {
  const base = fingerprint(BASE, BUNDLE);

  it('is a sha256 hex digest and is stable across key order', () => {
    expect(base).toMatch(/^[0-9a-f]{64}$/);
    fc.assert(
      fc.property(fc.integer(), (seed) => {
        expect(fingerprint(shuffleKeys(BASE, seed) as MatchResult, BUNDLE)).toBe(base);
      }),
    );
  });

  it.each<[string, MatchResult, string]>([
    ['a playbook is added', { ...BASE, playbooks: [...BASE.playbooks, playbook('app.yml')] }, BUNDLE],
    ['a playbook is removed', { ...BASE, playbooks: BASE.playbooks.slice(0, 1) }, BUNDLE],
    [
      'a playbook is renamed',
      { ...BASE, playbooks: [BASE.playbooks[0] as PlannedPlaybook, playbook('apache.yml')] },
      BUNDLE,
    ],
    ['the order changes', { ...BASE, playbooks: [...BASE.playbooks].reverse() }, BUNDLE],
    [
      'an extra var value changes',
      {
        ...BASE,
        playbooks: [
          playbook('baseline.yml', { extraVars: { a: '1', b: '3' } }),
          BASE.playbooks[1] as PlannedPlaybook,
        ],
      },
      BUNDLE,
    ],
    [
      'an extra var is added',
      {
        ...BASE,
        playbooks: [
          playbook('baseline.yml', { extraVars: { a: '1', b: '2', c: '' } }),
          BASE.playbooks[1] as PlannedPlaybook,
        ],
      },
      BUNDLE,
    ],
    [
      'check changes',
      {
        ...BASE,
        playbooks: [
          BASE.playbooks[0] as PlannedPlaybook,
          playbook('nginx.yml', { rule: 'web', check: true }),
        ],
      },
      BUNDLE,
    ],
    ['the bundle hash changes', BASE, 'b'.repeat(64)],
  ])('changes when %s', (_, match, bundleHash) => {
    expect(fingerprint(match, bundleHash)).not.toBe(base);
  });

  it('ignores timeouts, retry budgets and the rule names: they do not change what lands on the host', () => {
    const tuned: MatchResult = {
      matchedRules: ['other'],
      playbooks: BASE.playbooks.map((p) => ({
        ...p,
        timeoutSeconds: 60,
        maxAttempts: 9,
        backoffSeconds: 1,
        rule: 'other',
      })),
    };
    expect(fingerprint(tuned, BUNDLE)).toBe(base);
  });

  it('separates values that naive concatenation would confuse', () => {
    const a = { ...BASE, playbooks: [playbook('x.yml', { extraVars: { k: 'a b' } })] };
    const b = { ...BASE, playbooks: [playbook('x.yml', { extraVars: { k: 'a', b: '' } })] };
    expect(fingerprint(a, BUNDLE)).not.toBe(fingerprint(b, BUNDLE));
  });
});

describe('factsHash', () => {
  const facts: HostFacts = {
    instanceId: 'i-0123456789abcdef0',
    source: 'ec2',
    name: 'web-1',
    state: 'running',
    tags: { Name: 'web-1', 'autoprov:enabled': 'true' },
    groups: ['all', 'web'],
    vars: { tag_Name: 'web-1', ec2_instance_type: 't3.micro' },
  };
  const hash = factsHash(facts);

  it('is stable across key order and group order', () => {
    fc.assert(
      fc.property(fc.integer(), (seed) => {
        const shuffled = shuffleKeys(facts, seed) as HostFacts;
        expect(factsHash({ ...shuffled, groups: [...facts.groups].reverse() })).toBe(hash);
      }),
    );
  });

  it.each<[string, HostFacts]>([
    ['a var changes', { ...facts, vars: { ...facts.vars, ec2_instance_type: 't3.small' } }],
    ['a tag is added', { ...facts, tags: { ...facts.tags, hold: 'true' } }],
    ['a group is added', { ...facts, groups: [...facts.groups, 'db'] }],
    ['the name changes', { ...facts, name: 'web-2' }],
    ['the state changes', { ...facts, state: 'stopped' }],
    ['the source changes', { ...facts, source: 'inventory' }],
    ['the instance changes', { ...facts, instanceId: 'i-0fffffffffffffff0' }],
  ])('changes when %s', (_, changed) => {
    expect(factsHash(changed)).not.toBe(hash);
  });
});
