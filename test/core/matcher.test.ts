import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  conditionHolds,
  explainMatch,
  globToRegExp,
  isGlob,
  matchRules,
} from '../../functions/core/matcher.js';
import type { HostFacts, Rule, RuleDefaults, RulesConfig, VarCondition } from '../../functions/core/types.js';

const DEFAULTS: RuleDefaults = {
  maxAttempts: 3,
  backoffSeconds: 60,
  timeoutSeconds: 1800,
  check: false,
  reapplyOnChange: true,
  agentWaitSeconds: 600,
};

function config(rules: readonly Rule[]): RulesConfig {
  return {
    optIn: { tagKey: 'autoprov:enabled', tagValue: 'true' },
    hold: { tagKey: 'autoprov:hold', tagValue: 'true' },
    groupsTag: 'autoprov:groups',
    inventories: [],
    defaults: DEFAULTS,
    rules,
  };
}

function rule(
  name: string,
  overrides: Partial<Rule> & { groups?: string[]; vars?: Record<string, VarCondition> } = {},
): Rule {
  const { groups = [], vars = {}, ...rest } = overrides;
  return { name, match: { groups, vars }, playbooks: [{ file: `${name}.yml`, extraVars: {} }], ...rest };
}

function facts(groups: readonly string[], vars: Record<string, string> = {}): HostFacts {
  return {
    instanceId: 'i-0123456789abcdef0',
    source: 'ec2',
    tags: {},
    groups: ['all', ...groups].sort(),
    vars,
  };
}

const files = (c: RulesConfig, f: HostFacts) => matchRules(c, f).playbooks.map((p) => p.file);

describe('globToRegExp', () => {
  it.each([
    ['t3.*', 't3.micro', true],
    ['t3.*', 't3.', true],
    ['t3.*', 't3xmicro', false], // `.` is literal
    ['t3.*', 'xt3.micro', false], // anchored at the start
    ['*.large', 'm5.large.x', false], // anchored at the end
    ['T3.*', 't3.micro', false], // case-sensitive
    ['a?c', 'abc', true],
    ['a?c', 'ac', false],
    ['a?c', 'abbc', false],
    ['a?c', 'a😀c', true], // `?` is one code point, not one UTF-16 unit
    ['a+b(c)[d]{2}|^$\\/', 'a+b(c)[d]{2}|^$\\/', true],
    ['a+b', 'aab', false],
    ['[ab]', 'a', false],
    ['*', '', true],
    ['*', 'line1\nline2', true],
    ['?', '\n', true],
  ])('%j against %j → %s', (glob, value, expected) => {
    expect(globToRegExp(glob).test(value)).toBe(expected);
  });

  it('without wildcards, is exact equality', () => {
    const literal = fc.string({ unit: 'binary' }).filter((s) => !isGlob(s));
    fc.assert(
      fc.property(literal, fc.string({ unit: 'binary' }), (glob, value) => {
        expect(globToRegExp(glob).test(glob)).toBe(true);
        expect(globToRegExp(glob).test(value)).toBe(glob === value);
      }),
    );
  });

  it('`*x*` matches exactly the strings containing x', () => {
    const literal = fc.string({ unit: 'grapheme' }).filter((s) => !isGlob(s));
    fc.assert(
      fc.property(
        literal,
        fc.string({ unit: 'grapheme' }),
        fc.string({ unit: 'grapheme' }),
        (x, before, after) => {
          expect(globToRegExp(`*${x}*`).test(before + x + after)).toBe(true);
          expect(globToRegExp(`*${x}*`).test(before + after)).toBe((before + after).includes(x));
        },
      ),
    );
  });

  it('n `?` match exactly the strings of n code points', () => {
    fc.assert(
      fc.property(fc.nat(6), fc.string({ unit: 'binary', maxLength: 8 }), (n, value) => {
        expect(globToRegExp('?'.repeat(n)).test(value)).toBe([...value].length === n);
      }),
    );
  });
});

describe('conditionHolds', () => {
  it('a list is any-of, items may be globs; an empty list matches nothing', () => {
    expect(conditionHolds(['production', 'staging'], 'staging')).toBe(true);
    expect(conditionHolds(['production', 'staging'], 'dev')).toBe(false);
    expect(conditionHolds(['prod*', 'qa'], 'production-eu')).toBe(true);
    expect(conditionHolds([], '')).toBe(false);
    expect(conditionHolds([], 'anything')).toBe(false);
  });

  it('an exact value is case-sensitive and whole', () => {
    expect(conditionHolds('production', 'production')).toBe(true);
    expect(conditionHolds('production', 'Production')).toBe(false);
    expect(conditionHolds('prod', 'production')).toBe(false);
  });
});

describe('matchRules', () => {
  it('requires every listed group (all-of)', () => {
    const c = config([rule('web', { groups: ['webservers', 'eu'] })]);
    expect(files(c, facts(['webservers', 'eu']))).toEqual(['web.yml']);
    expect(files(c, facts(['webservers']))).toEqual([]);
    expect(files(c, facts(['eu']))).toEqual([]);
  });

  it('requires every var key to hold: exact, glob, any-of', () => {
    const c = config([
      rule('web', { vars: { environment: ['production', 'staging'], ec2_instance_type: 't3.*' } }),
    ]);
    expect(files(c, facts([], { environment: 'staging', ec2_instance_type: 't3.micro' }))).toEqual([
      'web.yml',
    ]);
    expect(files(c, facts([], { environment: 'dev', ec2_instance_type: 't3.micro' }))).toEqual([]);
    expect(files(c, facts([], { environment: 'production', ec2_instance_type: 'm5.large' }))).toEqual([]);
  });

  it('never matches an absent var, not even with `*`, nor through inherited object properties', () => {
    const c = config([
      rule('any', { vars: { ec2_name: '*' } }),
      rule('proto', { vars: { constructor: '*' } }),
    ]);
    expect(files(c, facts([], {}))).toEqual([]);
    expect(files(c, facts([], { ec2_name: '' }))).toEqual(['any.yml']);
  });

  it('an empty match matches every host', () => {
    const c = config([rule('baseline')]);
    expect(files(c, { instanceId: 'mi-0abc', source: 'inventory', tags: {}, groups: [], vars: {} })).toEqual([
      'baseline.yml',
    ]);
  });

  it('returns nothing when no rule matches (the caller records SKIPPED)', () => {
    const result = matchRules(config([rule('db', { groups: ['db'] })]), facts(['web']));
    expect(result).toEqual({ playbooks: [], matchedRules: [] });
  });

  it('contributes playbooks in rule order, each file once, first occurrence and its settings winning', () => {
    const c = config([
      rule('baseline', { playbooks: [{ file: 'baseline.yml', extraVars: { a: '1' } }] }),
      rule('web', {
        groups: ['web'],
        maxAttempts: 5,
        backoffSeconds: 10,
        timeoutSeconds: 600,
        check: true,
        playbooks: [
          { file: 'nginx.yml', extraVars: { http_port: '8080' }, timeoutSeconds: 900 },
          { file: 'baseline.yml', extraVars: { a: '2' } },
          { file: 'app.yml', extraVars: {} },
        ],
      }),
      rule('app', { playbooks: [{ file: 'app.yml', extraVars: { x: 'y' } }] }),
    ]);
    const result = matchRules(c, facts(['web']));
    expect(result.matchedRules).toEqual(['baseline', 'web', 'app']);
    expect(result.playbooks).toEqual([
      {
        file: 'baseline.yml',
        extraVars: { a: '1' },
        timeoutSeconds: 1800,
        maxAttempts: 3,
        backoffSeconds: 60,
        check: false,
        rule: 'baseline',
      },
      {
        file: 'nginx.yml',
        extraVars: { http_port: '8080' },
        timeoutSeconds: 900,
        maxAttempts: 5,
        backoffSeconds: 10,
        check: true,
        rule: 'web',
      },
      {
        file: 'app.yml',
        extraVars: {},
        timeoutSeconds: 600,
        maxAttempts: 5,
        backoffSeconds: 10,
        check: true,
        rule: 'web',
      },
    ]);
  });
});

describe('explainMatch', () => {
  it('says which conditions failed', () => {
    const c = config([
      rule('web', {
        groups: ['webservers', 'all'],
        vars: { ec2_instance_type: 't3.*', environment: 'production' },
      }),
    ]);
    expect(explainMatch(c, facts([], { ec2_instance_type: 'm5.large' }))).toEqual([
      {
        rule: 'web',
        matched: false,
        reasons: [
          'missing group webservers',
          'ec2_instance_type=m5.large does not match t3.*',
          'environment is not set (expected production)',
        ],
      },
    ]);
  });

  it('says which conditions held', () => {
    const c = config([rule('web', { groups: ['web'], vars: { env: ['prod', 'qa'] } }), rule('baseline')]);
    expect(explainMatch(c, facts(['web'], { env: 'qa' }))).toEqual([
      { rule: 'web', matched: true, reasons: ['in group web', 'env=qa matches [prod, qa]'] },
      { rule: 'baseline', matched: true, reasons: ['empty match: every host'] },
    ]);
  });
});

// ---------------------------------------------------------------------------------------------
// Properties over random configs drawn from small pools, so that rules often overlap.

const GROUPS = ['all', 'web', 'db', 'eu', 'us'];
const VAR_KEYS = ['env', 'ec2_instance_type', 'role'];
const VALUES = ['prod', 'staging', 't3.micro', 'm5.large', 'web', ''];
const PATTERNS = [...VALUES, 't3.*', '*', '?', 'prod*', '*.large', 's?aging'];
const FILES = ['a.yml', 'b.yml', 'c.yml', 'd.yml', 'e.yml'];

const conditionArb: fc.Arbitrary<VarCondition> = fc.oneof(
  fc.constantFrom(...PATTERNS),
  fc.array(fc.constantFrom(...PATTERNS), { maxLength: 3 }),
);
const matchArb = fc.record({
  groups: fc.subarray(GROUPS),
  vars: fc.dictionary(fc.constantFrom(...VAR_KEYS), conditionArb, { maxKeys: 2 }),
});
const ruleArb = (name: string): fc.Arbitrary<Rule> =>
  fc.record(
    {
      name: fc.constant(name),
      match: matchArb,
      playbooks: fc.array(
        fc.record(
          {
            file: fc.constantFrom(...FILES),
            extraVars: fc.dictionary(fc.constantFrom('x', 'y'), fc.constantFrom('1', '2')),
            timeoutSeconds: fc.integer({ min: 1, max: 7200 }),
          },
          { requiredKeys: ['file', 'extraVars'] },
        ),
        { maxLength: 3 },
      ),
      maxAttempts: fc.integer({ min: 1, max: 6 }),
      backoffSeconds: fc.integer({ min: 0, max: 600 }),
      timeoutSeconds: fc.integer({ min: 1, max: 7200 }),
      check: fc.boolean(),
    },
    { requiredKeys: ['name', 'match', 'playbooks'] },
  );
const configArb = fc
  .nat(6)
  .chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => ruleArb(`r${i}`))))
  .map((rules) => config(rules));
const factsArb: fc.Arbitrary<HostFacts> = fc.record({
  instanceId: fc.constant('i-0123456789abcdef0'),
  source: fc.constant('ec2' as const),
  tags: fc.constant({}),
  groups: fc.subarray(GROUPS),
  vars: fc.dictionary(fc.constantFrom(...VAR_KEYS), fc.constantFrom(...VALUES)),
});

describe('matchRules properties', () => {
  it('is deterministic', () => {
    fc.assert(
      fc.property(configArb, factsArb, (c, f) => {
        expect(matchRules(c, f)).toEqual(matchRules(structuredClone(c), structuredClone(f)));
      }),
    );
  });

  it('never lists a file twice, and lists exactly the files of the matched rules', () => {
    fc.assert(
      fc.property(configArb, factsArb, (c, f) => {
        const result = matchRules(c, f);
        const out = result.playbooks.map((p) => p.file);
        expect(new Set(out).size).toBe(out.length);
        const matched = c.rules.filter((r) => result.matchedRules.includes(r.name));
        expect(new Set(out)).toEqual(new Set(matched.flatMap((r) => r.playbooks.map((p) => p.file))));
      }),
    );
  });

  it('respects rule order, playbook order within a rule, and first-occurrence settings', () => {
    fc.assert(
      fc.property(configArb, factsArb, (c, f) => {
        const result = matchRules(c, f);
        const ruleIndex = (name: string) => c.rules.findIndex((r) => r.name === name);
        const matchedIdx = result.matchedRules.map(ruleIndex);
        expect(matchedIdx).toEqual([...matchedIdx].sort((a, b) => a - b));
        let previous: [number, number] = [-1, -1];
        for (const planned of result.playbooks) {
          const owner = c.rules.find(
            (r) => result.matchedRules.includes(r.name) && r.playbooks.some((p) => p.file === planned.file),
          );
          expect(planned.rule).toBe(owner?.name);
          const spec = owner?.playbooks.find((p) => p.file === planned.file);
          const position: [number, number] = [
            ruleIndex(planned.rule),
            owner?.playbooks.indexOf(spec as never) ?? -1,
          ];
          expect(
            position[0] > previous[0] || (position[0] === previous[0] && position[1] > previous[1]),
          ).toBe(true);
          previous = position;
          expect(planned.extraVars).toEqual(spec?.extraVars);
          expect(planned.timeoutSeconds).toBe(
            spec?.timeoutSeconds ?? owner?.timeoutSeconds ?? DEFAULTS.timeoutSeconds,
          );
          expect(planned.maxAttempts).toBe(owner?.maxAttempts ?? DEFAULTS.maxAttempts);
          expect(planned.backoffSeconds).toBe(owner?.backoffSeconds ?? DEFAULTS.backoffSeconds);
          expect(planned.check).toBe(owner?.check ?? DEFAULTS.check);
        }
      }),
    );
  });

  it('a rule with an empty match matches every host', () => {
    fc.assert(
      fc.property(configArb, factsArb, fc.nat(), (c, f, at) => {
        const rules = [...c.rules];
        rules.splice(at % (rules.length + 1), 0, {
          name: 'everyone',
          match: { groups: [], vars: {} },
          playbooks: [{ file: 'z.yml', extraVars: {} }],
        });
        const result = matchRules(config(rules), f);
        expect(result.matchedRules).toContain('everyone');
        expect(result.playbooks.map((p) => p.file)).toContain('z.yml');
      }),
    );
  });

  it('adding groups to the facts never removes a match of a group-only rule', () => {
    fc.assert(
      fc.property(configArb, factsArb, fc.subarray(GROUPS), (c, f, extra) => {
        const groupOnly = config(c.rules.map((r) => ({ ...r, match: { groups: r.match.groups, vars: {} } })));
        const before = matchRules(groupOnly, f).matchedRules;
        const more = { ...f, groups: [...new Set([...f.groups, ...extra])].sort() };
        const after = matchRules(groupOnly, more).matchedRules;
        for (const name of before) expect(after).toContain(name);
      }),
    );
  });

  it('explainMatch agrees with matchRules, and a non-match always has a reason', () => {
    fc.assert(
      fc.property(configArb, factsArb, (c, f) => {
        const explained = explainMatch(c, f);
        expect(explained.map((e) => e.rule)).toEqual(c.rules.map((r) => r.name));
        expect(explained.filter((e) => e.matched).map((e) => e.rule)).toEqual(matchRules(c, f).matchedRules);
        for (const e of explained) expect(e.reasons.length).toBeGreaterThan(0);
      }),
    );
  });
});
