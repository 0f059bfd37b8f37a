import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_ROLLOUT } from '../../functions/core/admission.js';
import {
  DEFAULT_RULE_DEFAULTS,
  formatDuration,
  formatPath,
  loadRulesFile,
  PLAYBOOK_FILE_PATTERN,
  parseDuration,
  parseRules,
  RulesValidationError,
} from '../../functions/core/rules.js';
import { playbooksDir as shippedPlaybooks } from '../helpers/paths.js';

let dir: string;

beforeAll(() => {
  // Prepare: a playbooks folder with two playbooks, a folder named like a playbook and two inventories.
  dir = mkdtempSync(join(tmpdir(), 'autoprov-rules-'));
  writeFileSync(join(dir, 'base.yml'), '- hosts: all\n  tasks: []\n');
  mkdirSync(join(dir, 'web'));
  writeFileSync(join(dir, 'web', 'site.yaml'), '- hosts: all\n  tasks: []\n');
  mkdirSync(join(dir, 'dir.yml'));
  mkdirSync(join(dir, 'inv'));
  writeFileSync(join(dir, 'inv', 'good.ini'), '[web]\nmi-0a1b2c3d4e5f60711\n');
  writeFileSync(join(dir, 'inv', 'bad.ini'), '[web]\nweb-x\n');
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const parse = (text: string) => parseRules(text, { file: 'rules.yaml', playbooksDir: dir });

/** The issues of the RulesValidationError that parsing `text` throws. */
function issuesOf(text: string): { path: string; message: string }[] {
  try {
    parse(text);
  } catch (error) {
    if (!(error instanceof RulesValidationError)) throw error;
    expect(error.issues.every((i) => i.file === 'rules.yaml')).toBe(true);
    return error.issues.map(({ path, message }) => ({ path, message }));
  }
  throw new Error('expected a RulesValidationError, but the rules parsed');
}

describe('parseRules: valid files', () => {
  it('fills every default for a minimal file', () => {
    const config = parse('rules:\n  - name: base\n    playbooks: [base.yml]\n');

    expect(config).toEqual({
      optIn: { tagKey: 'autoprov:enabled', tagValue: 'true' },
      hold: { tagKey: 'autoprov:hold', tagValue: 'true' },
      groupsTag: 'autoprov:groups',
      inventories: [],
      defaults: {
        maxAttempts: 3,
        backoffSeconds: 60,
        timeoutSeconds: 1800,
        check: false,
        reapplyOnChange: true,
        agentWaitSeconds: 600,
        rollout: {
          maxConcurrent: { kind: 'percent', value: 10 },
          maxErrors: { kind: 'count', value: 0 },
        },
      },
      rules: [
        { name: 'base', match: { groups: [], vars: {} }, playbooks: [{ file: 'base.yml', extraVars: {} }] },
      ],
    });
  });

  it('reads every setting, both playbook forms, and coerces YAML scalars to strings', () => {
    const config = parse(`
optIn: { tagKey: provision, tagValue: "yes" }
hold: { tagKey: paused }
groupsTag: roles
inventories: [inv/good.ini]
defaults: { maxAttempts: 10, backoffSeconds: 0, timeoutSeconds: 172800, check: true, reapplyOnChange: false, agentWaitSeconds: 0 }
rules:
  - name: web
    match:
      groups: [webservers, canary]
      vars: { port: 8080, enabled: true, env: [prod, 1, false], type: "t3.*" }
    playbooks:
      - base.yml
      - { file: web/site.yaml, extraVars: { http_port: 8080, debug: false, path: /var/www, who: ops@example.com }, timeoutSeconds: 60 }
    maxAttempts: 1
    backoffSeconds: 86400
    timeoutSeconds: 1
    check: false
  - name: everyone
    playbooks: [base.yml]
  - name: also-everyone
    match:
    playbooks: [base.yml]
`);

    expect(config.optIn).toEqual({ tagKey: 'provision', tagValue: 'yes' });
    expect(config.hold).toEqual({ tagKey: 'paused', tagValue: 'true' });
    expect(config.groupsTag).toBe('roles');
    expect(config.inventories).toEqual(['inv/good.ini']);
    expect(config.defaults).toEqual({
      maxAttempts: 10,
      backoffSeconds: 0,
      timeoutSeconds: 172800,
      check: true,
      reapplyOnChange: false,
      agentWaitSeconds: 0,
      rollout: DEFAULT_ROLLOUT,
    });
    expect(config.rules[0]).toEqual({
      name: 'web',
      match: {
        groups: ['webservers', 'canary'],
        vars: { port: '8080', enabled: 'true', env: ['prod', '1', 'false'], type: 't3.*' },
      },
      playbooks: [
        { file: 'base.yml', extraVars: {} },
        {
          file: 'web/site.yaml',
          extraVars: { http_port: '8080', debug: 'false', path: '/var/www', who: 'ops@example.com' },
          timeoutSeconds: 60,
        },
      ],
      maxAttempts: 1,
      backoffSeconds: 86400,
      timeoutSeconds: 1,
      check: false,
    });
    expect(config.rules[1]?.match).toEqual({ groups: [], vars: {} });
    expect(config.rules[2]?.match).toEqual({ groups: [], vars: {} });
  });

  it('keeps the text written for unquoted numbers and booleans in match.vars and extraVars (1.10 stays 1.10)', () => {
    const config = parse(`
rules:
  - name: pinned
    match:
      vars: { tag_Version: 1.10, tag_Code: 012, tag_Mask: 0x1F, tag_Big: 1e3, tag_Flag: True, tag_Any: [1.10, 0777] }
    playbooks:
      - { file: base.yml, extraVars: { version: 1.10, mode: 0644 } }
`);

    expect(config.rules[0]?.match.vars).toEqual({
      tag_Version: '1.10',
      tag_Code: '012',
      tag_Mask: '0x1F',
      tag_Big: '1e3',
      tag_Flag: 'True',
      tag_Any: ['1.10', '0777'],
    });
    expect(config.rules[0]?.playbooks[0]?.extraVars).toEqual({ version: '1.10', mode: '0644' });
  });

  it('loads the shipped playbooks/rules.yaml', () => {
    const config = loadRulesFile(join(shippedPlaybooks, 'rules.yaml'));

    expect(config.rules.map((r) => r.name)).toEqual(['baseline', 'onprem-baseline', 'web', 'onprem-web']);
    expect(config.inventories).toEqual([]);
    expect(config.defaults).toEqual(DEFAULT_RULE_DEFAULTS);
    expect(config.rules[2]).toMatchObject({
      match: {
        groups: ['webservers'],
        vars: { tag_Environment: ['production', 'staging'], ec2_instance_type: 't3.*' },
      },
      playbooks: [
        {
          file: 'webserver.yml',
          extraVars: { http_port: '80', site_title: 'Storefront' },
          timeoutSeconds: 900,
        },
      ],
      maxAttempts: 5,
    });
    // The sample documents rollouts and drift in comments only: it rolls out with the defaults and never re-applies.
    for (const rule of config.rules) {
      expect(rule).not.toHaveProperty('rollout');
      expect(rule).not.toHaveProperty('reapplyEverySeconds');
      expect(rule).not.toHaveProperty('drift');
    }
  });
});

describe('parseRules: rollouts and drift (issue 15)', () => {
  const rulesWith = (defaults: string, ...rules: string[]) =>
    `${defaults}rules:\n${rules.map((r, i) => `  - { name: r${i}, playbooks: [base.yml]${r} }\n`).join('')}`;

  it('reads defaults.rollout over DEFAULT_ROLLOUT, counts and percentages as admission.ts parses them', () => {
    const config = parse(
      rulesWith(
        'defaults: { rollout: { maxConcurrent: "25%", maxErrors: 3, canary: [canary, canary] } }\n',
        '',
      ),
    );

    expect(config.defaults.rollout).toEqual({
      maxConcurrent: { kind: 'percent', value: 25 },
      maxErrors: { kind: 'count', value: 3 },
      canary: { groups: ['canary'] },
    });
    expect(parse(rulesWith('defaults: { rollout: { maxErrors: 2.5% } }\n', '')).defaults.rollout).toEqual({
      ...DEFAULT_ROLLOUT,
      maxErrors: { kind: 'percent', value: 2.5 },
    });
    expect(parse(rulesWith('defaults: { maxAttempts: 2 }\n', '')).defaults.rollout).toEqual(DEFAULT_ROLLOUT);
  });

  it("resolves a rule's rollout over defaults.rollout: the keys it sets replace, the others are inherited", () => {
    const config = parse(
      rulesWith(
        'defaults: { rollout: { maxConcurrent: 5, canary: 2 } }\n',
        ', rollout: { maxErrors: "10%" }',
        ', rollout: { canary: 0 }',
        ', rollout: { canary: [web_canary], maxConcurrent: 1 }',
        ', rollout: {}',
        '',
      ),
    );

    expect(config.rules.map((rule) => rule.rollout)).toEqual([
      {
        maxConcurrent: { kind: 'count', value: 5 },
        maxErrors: { kind: 'percent', value: 10 },
        canary: { count: 2 },
      },
      { maxConcurrent: { kind: 'count', value: 5 }, maxErrors: { kind: 'count', value: 0 } },
      {
        maxConcurrent: { kind: 'count', value: 1 },
        maxErrors: { kind: 'count', value: 0 },
        canary: { groups: ['web_canary'] },
      },
      {
        maxConcurrent: { kind: 'count', value: 5 },
        maxErrors: { kind: 'count', value: 0 },
        canary: { count: 2 },
      },
      undefined,
    ]);
    expect(config.rules[4]).not.toHaveProperty('rollout');
  });

  it('reads reapplyEvery in seconds, with drift defaulting to correct', () => {
    const config = parse(
      rulesWith(
        '',
        ', reapplyEvery: 30m',
        ', reapplyEvery: 24h, drift: report',
        ', reapplyEvery: " 7d ", drift: correct',
        '',
      ),
    );

    expect(config.rules.map(({ reapplyEverySeconds, drift }) => ({ reapplyEverySeconds, drift }))).toEqual([
      { reapplyEverySeconds: 1800, drift: 'correct' },
      { reapplyEverySeconds: 86_400, drift: 'report' },
      { reapplyEverySeconds: 604_800, drift: 'correct' },
      { reapplyEverySeconds: undefined, drift: undefined },
    ]);
    expect(config.rules[3]).not.toHaveProperty('reapplyEverySeconds');
    expect(parse(rulesWith('', ', reapplyEvery: 365d')).rules[0]?.reapplyEverySeconds).toBe(365 * 86_400);
  });

  it('reports every bad rollout, reapplyEvery and drift with its path, the reason and how to fix it', () => {
    const issues = issuesOf(
      rulesWith(
        'defaults: { rollout: { maxConcurrent: 0, maxErrors: "x", canary: [], extra: 1 }, reapplyEvery: 1d }\n',
        ', rollout: { maxConcurrent: "0%", maxErrors: "101%", canary: 1.5 }',
        ', rollout: 5, reapplyEvery: 3600',
        ', rollout: { canary: [""], maxconcurrent: 2 }, reapplyEvery: 29m',
        ', reapplyEvery: 366d, drift: fix',
        ', drift: report',
        ', reapplyEvery: 1w',
      ),
    );

    const limitHelp = (value: string, min: string) =>
      `${value} is not a limit. Use a whole number${min} (e.g. 5) or a percentage of the instances due (e.g. "10%"${min ? ', more than 0%' : ''}).`;
    const range =
      "is out of range: from 30m to 365d (every re-apply runs the rule's playbooks on all its hosts)";
    expect(issues).toEqual([
      { path: 'defaults.rollout.maxConcurrent', message: `${limitHelp('0', ' of at least 1')} (line 1)` },
      { path: 'defaults.rollout.maxErrors', message: `${limitHelp('"x"', '')} (line 1)` },
      {
        path: 'defaults.rollout.canary',
        message: 'an empty list selects no canary: list group names, or write 0 for no canary (line 1)',
      },
      {
        path: 'defaults.rollout.extra',
        message: 'unknown key (allowed keys: maxConcurrent, maxErrors, canary) (line 1)',
      },
      {
        path: 'defaults.reapplyEvery',
        message:
          'unknown key (allowed keys: maxAttempts, backoffSeconds, timeoutSeconds, check, reapplyOnChange, agentWaitSeconds, rollout) (line 1)',
      },
      { path: 'rules[0].rollout.maxConcurrent', message: `${limitHelp('"0%"', ' of at least 1')} (line 3)` },
      { path: 'rules[0].rollout.maxErrors', message: `${limitHelp('"101%"', '')} (line 3)` },
      {
        path: 'rules[0].rollout.canary',
        message:
          'expected a number of due instances (e.g. 2) or a list of group names (e.g. [canary]); 0 turns an inherited canary off (line 3)',
      },
      {
        path: 'rules[1].rollout',
        message: 'expected a mapping { maxConcurrent, maxErrors, canary } (line 4)',
      },
      {
        path: 'rules[1].reapplyEvery',
        message: '3600 is not a duration: write a number and a unit m, h or d, e.g. 30m, 24h or 7d (line 4)',
      },
      { path: 'rules[2].rollout.canary', message: 'group names must be non-empty strings (line 5)' },
      {
        path: 'rules[2].rollout.maxconcurrent',
        message: 'unknown key (allowed keys: maxConcurrent, maxErrors, canary) (line 5)',
      },
      { path: 'rules[2].reapplyEvery', message: `"29m" ${range} (line 5)` },
      { path: 'rules[3].reapplyEvery', message: `"366d" ${range} (line 6)` },
      { path: 'rules[3].drift', message: 'expected report or correct (line 6)' },
      {
        path: 'rules[4].drift',
        message:
          'drift needs reapplyEvery: it says what a scheduled re-apply does (report or correct); add e.g. reapplyEvery: 24h, or remove drift (line 7)',
      },
      {
        path: 'rules[5].reapplyEvery',
        message: '"1w" is not a duration: write a number and a unit m, h or d, e.g. 30m, 24h or 7d (line 8)',
      },
    ]);
  });

  it('parses and formats durations', () => {
    expect(parseDuration('30m')).toBe(1800);
    expect(parseDuration(' 2 h')).toBe(7200);
    expect(parseDuration('7d')).toBe(604_800);
    for (const bad of ['', '30', '1.5h', '-1h', '1w', '1h30m', 'h', '30M'])
      expect(parseDuration(bad)).toBeUndefined();
    expect(formatDuration(86_400)).toBe('1d');
    expect(formatDuration(5400)).toBe('90m');
    expect(formatDuration(7200)).toBe('2h');
    expect(formatDuration(90)).toBe('90s');
  });
});

describe('parseRules: invalid files', () => {
  it('collects every issue in one error, in document order, with paths and lines', () => {
    const issues = issuesOf(`
optIn: { tagKey: "", tagvalue: x }
groupsTag: 5
inventories: [inv/bad.ini, inv/missing.ini, /etc/hosts]
defaults: { maxAttempts: 0, backoffSeconds: -1, timeoutSeconds: 2.5, check: "yes", agentWaitSeconds: 100000, extra: 1 }
rules:
  - name: a
    mach: {}
    playbooks: [base.yml, "../x.yml", "/abs.yml", "x y.yml", "missing.yml", dir.yml, "(p).yml", 5, notes.txt]
  - name: a
    match: { groups: web, vars: { a: [], b: null } }
    playbooks:
      - { file: base.yml, extraVars: { "bad-key": ok, good: "$(reboot)", sp: "a b" }, timeoutSeconds: 0, foo: 1 }
      - { extraVars: {} }
  - name: "  "
    playbooks: []
    maxAttempts: 11
  - playbooks: base.yml
`);

    expect(issues).toEqual([
      { path: 'optIn.tagKey', message: 'tag key must not be empty (line 2)' },
      { path: 'optIn.tagvalue', message: 'unknown key (allowed keys: tagKey, tagValue) (line 2)' },
      { path: 'groupsTag', message: 'expected a tag key (line 3)' },
      {
        path: 'inventories[0]',
        message: `invalid inventory: ${join(dir, 'inv/bad.ini')}:2: host "web-x" has no instance id: its name is not an EC2 instance id (i-…) or SSM managed node id (mi-…) and it has no ssm_instance_id var; add ssm_instance_id=mi-… (or i-…) to the host line (line 4)`,
      },
      { path: 'inventories[1]', message: `inventory "inv/missing.ini" does not exist under ${dir} (line 4)` },
      {
        path: 'inventories[2]',
        message: '"/etc/hosts" must be a path relative to the playbooks folder, without ".." (line 4)',
      },
      { path: 'defaults.maxAttempts', message: 'expected a whole number from 1 to 10 (line 5)' },
      { path: 'defaults.backoffSeconds', message: 'expected a whole number from 0 to 86400 (line 5)' },
      { path: 'defaults.timeoutSeconds', message: 'expected a whole number from 1 to 172800 (line 5)' },
      { path: 'defaults.check', message: 'expected true or false (line 5)' },
      { path: 'defaults.agentWaitSeconds', message: 'expected a whole number from 0 to 86400 (line 5)' },
      {
        path: 'defaults.extra',
        message:
          'unknown key (allowed keys: maxAttempts, backoffSeconds, timeoutSeconds, check, reapplyOnChange, agentWaitSeconds, rollout) (line 5)',
      },
      {
        path: 'rules[0].mach',
        message:
          'unknown key (allowed keys: name, match, playbooks, maxAttempts, backoffSeconds, timeoutSeconds, check, rollout, reapplyEvery, drift) (line 8)',
      },
      {
        path: 'rules[0].playbooks[1]',
        message: '"../x.yml" must be a path relative to the playbooks folder, without ".." (line 9)',
      },
      {
        path: 'rules[0].playbooks[2]',
        message: '"/abs.yml" must be a path relative to the playbooks folder, without ".." (line 9)',
      },
      {
        path: 'rules[0].playbooks[3]',
        message:
          '"x y.yml" is not an acceptable PlaybookFile: use letters, digits, _ . - and / only, ending in .yml or .yaml (line 9)',
      },
      {
        path: 'rules[0].playbooks[4]',
        message: `playbook "missing.yml" does not exist under ${dir} (line 9)`,
      },
      { path: 'rules[0].playbooks[5]', message: `playbook "dir.yml" does not exist under ${dir} (line 9)` },
      {
        path: 'rules[0].playbooks[6]',
        message:
          '"(p).yml" is not an acceptable PlaybookFile: use letters, digits, _ . - and / only, ending in .yml or .yaml (line 9)',
      },
      {
        path: 'rules[0].playbooks[7]',
        message: 'expected a playbook file name or { file, extraVars, timeoutSeconds } (line 9)',
      },
      {
        path: 'rules[0].playbooks[8]',
        message:
          '"notes.txt" is not an acceptable PlaybookFile: use letters, digits, _ . - and / only, ending in .yml or .yaml (line 9)',
      },
      { path: 'rules[1].name', message: 'duplicate rule name "a" (also rules[0]) (line 10)' },
      {
        path: 'rules[1].match.groups',
        message: 'expected a list of group names, e.g. [webservers] (line 11)',
      },
      { path: 'rules[1].match.vars.a', message: 'a list of alternatives must not be empty (line 11)' },
      {
        path: 'rules[1].match.vars.b',
        message: 'expected a value, a glob (* ?) or a list of alternatives (line 11)',
      },
      {
        path: 'rules[1].playbooks[0].extraVars["bad-key"]',
        message:
          'extra var names must start with a letter or _ and contain only letters, digits and _ (line 13)',
      },
      {
        path: 'rules[1].playbooks[0].extraVars.good',
        message:
          'value cannot be sent safely: only letters, digits and _ . , / @ % + = - are allowed, up to 1024 characters (ExtraVariables is pasted into a root shell command) (line 13)',
      },
      {
        path: 'rules[1].playbooks[0].extraVars.sp',
        message:
          'value cannot be sent safely: only letters, digits and _ . , / @ % + = - are allowed, up to 1024 characters (ExtraVariables is pasted into a root shell command) (line 13)',
      },
      {
        path: 'rules[1].playbooks[0].timeoutSeconds',
        message: 'expected a whole number from 1 to 172800 (line 13)',
      },
      {
        path: 'rules[1].playbooks[0].foo',
        message: 'unknown key (allowed keys: file, extraVars, timeoutSeconds) (line 13)',
      },
      { path: 'rules[1].playbooks[1].file', message: 'required (expected string) (line 14)' },
      { path: 'rules[2].name', message: 'rule name must not be empty (line 15)' },
      { path: 'rules[2].playbooks', message: 'a rule needs at least one playbook (line 16)' },
      { path: 'rules[2].maxAttempts', message: 'expected a whole number from 1 to 10 (line 17)' },
      { path: 'rules[3].name', message: 'every rule needs a name (line 18)' },
      { path: 'rules[3].playbooks', message: 'expected a list of playbooks, e.g. [baseline.yml] (line 18)' },
    ]);
  });

  it('formats the error message as one "<file>: <path>: <reason>" line per issue', () => {
    const text = 'rules:\n  - name: a\n    playbooks: [nope.yml]\n    maxAttempts: 0\n';

    expect(() => parse(text)).toThrow(
      `rules.yaml is invalid (2 issues):\n` +
        `  rules.yaml: rules[0].playbooks[0]: playbook "nope.yml" does not exist under ${dir} (line 3)\n` +
        '  rules.yaml: rules[0].maxAttempts: expected a whole number from 1 to 10 (line 4)',
    );
  });

  it('reports the path of a bad playbook file in the object form', () => {
    expect(issuesOf('rules:\n  - name: a\n    playbooks:\n      - file: nope.yml\n')).toEqual([
      {
        path: 'rules[0].playbooks[0].file',
        message: `playbook "nope.yml" does not exist under ${dir} (line 4)`,
      },
    ]);
  });

  it('rejects a value that is too long to send, and an extra var value that is not a scalar', () => {
    const long = 'a'.repeat(1025);
    const issues = issuesOf(
      `rules:\n  - name: a\n    playbooks:\n      - { file: base.yml, extraVars: { ok: "${'a'.repeat(1024)}", big: ${long}, list: [1] } }\n`,
    );

    expect(issues.map((i) => i.path)).toEqual([
      'rules[0].playbooks[0].extraVars.big',
      'rules[0].playbooks[0].extraVars.list',
    ]);
    expect(issues[1]?.message).toBe('expected a string (or a number/boolean) (line 4)');
  });

  it('reports YAML syntax errors with line and column', () => {
    expect(issuesOf('rules: [a: b: c]\nfoo: [')).toEqual([
      {
        path: 'line 1, column 12',
        message: 'YAML syntax error: Block collections are not allowed within flow collections',
      },
      {
        path: 'line 2, column 7',
        message:
          'YAML syntax error: Flow sequence in block collection must be sufficiently indented and end with a ]',
      },
    ]);
    expect(issuesOf('rules: []\nrules: []\n')).toEqual([
      { path: 'line 2, column 1', message: 'YAML syntax error: Map keys must be unique' },
    ]);
  });

  it.each([
    ['', [{ path: '(root)', message: 'the file is empty; it needs at least a `rules:` list' }]],
    [
      '# only a comment\n',
      [{ path: '(root)', message: 'the file is empty; it needs at least a `rules:` list' }],
    ],
    ['rules: []\n', [{ path: 'rules', message: 'at least one rule is required (line 1)' }]],
    ['[]\n', [{ path: '(root)', message: 'expected a mapping with a `rules:` list (line 1)' }]],
    ['optIn: {}\n', [{ path: 'rules', message: 'expected a list of rules (line 1)' }]],
    [
      'rules: [7]\n',
      [{ path: 'rules[0]', message: 'expected a rule mapping { name, match, playbooks, … } (line 1)' }],
    ],
  ])('rejects %j', (text, expected) => {
    expect(issuesOf(text)).toEqual(expected);
  });

  it('loadRulesFile explains a missing file', () => {
    expect(() => loadRulesFile(join(dir, 'absent', 'rules.yaml'))).toThrow(
      `${join(dir, 'absent', 'rules.yaml')}: (root): file not found; create playbooks/rules.yaml (see the sample in the repository)`,
    );
  });

  it('loadRulesFile resolves playbooks next to the rules file', () => {
    const file = join(dir, 'rules.yaml');
    writeFileSync(file, 'rules:\n  - name: a\n    playbooks: [web/site.yaml]\n');

    expect(loadRulesFile(file).rules[0]?.playbooks).toEqual([{ file: 'web/site.yaml', extraVars: {} }]);
  });
});

describe('helpers', () => {
  it('formats issue paths', () => {
    expect(formatPath([])).toBe('(root)');
    expect(formatPath(['rules', 2, 'playbooks', 0, 'file'])).toBe('rules[2].playbooks[0].file');
    expect(formatPath(['rules', 0, 'extraVars', 'a-b'])).toBe('rules[0].extraVars["a-b"]');
  });

  it('accepts only PlaybookFile names that the SSM document accepts, anchored', () => {
    const documentPattern = /[(a-z_A-Z0-9\-.)/]+(.yml|.yaml)$/;
    for (const ok of ['a.yml', 'dir/sub/b-c_d.1.yaml', 'X.yml']) {
      expect(PLAYBOOK_FILE_PATTERN.test(ok)).toBe(true);
      expect(documentPattern.test(ok)).toBe(true);
    }
    // The document's own pattern is unanchored at the start: it accepts these; we do not.
    for (const bad of ['a b.yml', '$(x).yml', 'a;b.yml', 'ayml', 'a.yml.txt', 'a.yml\n', '`x`.yml']) {
      expect(PLAYBOOK_FILE_PATTERN.test(bad)).toBe(false);
    }
  });
});
