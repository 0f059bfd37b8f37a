import { cpSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadLocalBundle } from '../../cli/bundle.js';
import {
  ANSIBLE_MISSING,
  ansibleVersion,
  inventoryVarWarnings,
  referencedPlaybooks,
} from '../../cli/commands/validate.js';
import { playbooksDir } from '../helpers/paths.js';
import { runInProcess, runSubprocess } from './harness.js';

/** A writable copy of the shipped playbooks folder. */
function copyPlaybooks(): string {
  const dir = join(mkdtempSync(join(tmpdir(), 'autoprov-validate-')), 'playbooks');
  cpSync(playbooksDir, dir, { recursive: true });
  return dir;
}

describe('autoprov validate', () => {
  beforeAll(() => {
    if (!ansibleVersion(process.env)) {
      throw new Error(
        'These tests run ansible-playbook --syntax-check and it is not installed: `sudo apt-get install -y ansible-core` (or `pipx install ansible-core`).',
      );
    }
  });

  it('passes the shipped rules, syntax-checking every referenced playbook (bin as a subprocess)', async () => {
    const run = await runSubprocess(['validate'], {});

    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout.split('\n').slice(0, 3)).toEqual([
      '✔ playbooks/rules.yaml: 4 rules, 2 playbooks, 0 inventories (0 hosts)',
      '✔ baseline.yml: syntax OK',
      '✔ webserver.yml: syntax OK',
    ]);
    expect(run.stdout).toMatch(/\(ansible-playbook \[core 2\.\d+/);
  });

  it('lists every schema issue with its file and path, exit 1', async () => {
    const dir = copyPlaybooks();
    writeFileSync(
      join(dir, 'rules.yaml'),
      [
        'rules:',
        '  - name: web',
        '    playbooks:',
        '      - missing.yml',
        '      - file: webserver.yml',
        '        extraVars: { greeting: "hello $(id)" }',
        '    retries: 3',
        '',
      ].join('\n'),
    );

    const run = await runInProcess(['validate', '--rules', join(dir, 'rules.yaml')], { cwd: dir });

    expect(run.code).toBe(1);
    const lines = run.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe('✖ rules.yaml: 3 issues');
    expect(lines.slice(1)).toEqual([
      expect.stringMatching(
        /^ {2}rules\.yaml: rules\[0\]\.playbooks\[0\]: playbook "missing\.yml" does not exist under .*playbooks \(line 4\)$/,
      ),
      expect.stringMatching(
        /^ {2}rules\.yaml: rules\[0\]\.playbooks\[1\]\.extraVars\.greeting: value cannot be sent safely: .* \(line 6\)$/,
      ),
      expect.stringMatching(
        /^ {2}rules\.yaml: rules\[0\]\.retries: unknown key \(allowed keys: .*\) \(line 7\)$/,
      ),
    ]);
  });

  it("fails on a playbook ansible cannot parse and shows ansible's error", async () => {
    const dir = copyPlaybooks();
    writeFileSync(
      join(dir, 'webserver.yml'),
      '- hosts: all\n  tasks:\n    - name: broken\n      not_a_module_or_keyword: {}\n',
    );

    const run = await runInProcess(['validate', '--rules', join(dir, 'rules.yaml'), '--json'], { cwd: dir });

    expect(run.code).toBe(1);
    const document = JSON.parse(run.stdout) as {
      valid: boolean;
      syntaxCheck: { ran: boolean; results: { playbook: string; ok: boolean; output?: string }[] };
    };
    expect(document.valid).toBe(false);
    expect(document.syntaxCheck.results.map((r) => [r.playbook, r.ok])).toEqual([
      ['baseline.yml', true],
      ['webserver.yml', false],
    ]);
    expect(document.syntaxCheck.results[1]?.output).toMatch(
      /ERROR!.*not_a_module_or_keyword|couldn't resolve module/s,
    );
  });

  it('says clearly that the syntax check was not run when ansible-playbook is missing', async () => {
    const run = await runInProcess(['validate'], { env: { ...process.env, PATH: '/nonexistent' } });

    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`! syntax check: ${ANSIBLE_MISSING}`);
    expect(run.stdout).toContain('was NOT run');
    expect(run.stdout).not.toContain('syntax OK');
  });

  it('reports a missing rules file (exit 1) with how to fix it', async () => {
    const run = await runInProcess(['validate', '--rules', '/nonexistent/rules.yaml']);
    expect(run.code).toBe(1);
    expect(run.stdout).toContain(
      '/nonexistent/rules.yaml: (root): file not found; create playbooks/rules.yaml',
    );
  });
});

describe('validate helpers', () => {
  const bundle = loadLocalBundle(join(playbooksDir, 'rules.yaml'));

  it('lists each referenced playbook once, in rule order', () => {
    expect(referencedPlaybooks(bundle)).toEqual(['baseline.yml', 'webserver.yml']);
  });

  it('warns about inventory vars that cannot be sent as written', () => {
    expect(inventoryVarWarnings(bundle)).toEqual([]);
    const warnings = inventoryVarWarnings({
      ...bundle,
      inventoryHosts: [
        {
          name: 'h1',
          instanceId: 'mi-1',
          groups: [],
          vars: { motd: 'hello world', 'bad-key': 'x' },
          inventory: 'inv.ini',
        },
      ],
    });
    expect(warnings.map((w) => `${w.title}: ${w.detail}`)).toEqual([
      'inv.ini: host h1: var bad-key: never sent to playbooks: key is not a valid Ansible variable name (letters, digits, _; not starting with a digit)',
      expect.stringMatching(
        /^inv\.ini: host h1: var motd: sent as motd_b64 \(base64\): value contains characters outside/,
      ),
    ]);
  });
});
