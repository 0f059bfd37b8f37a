// AWS-ApplyAnsiblePlaybooks' command line with real ansible-playbook (e2e tier: needs Ansible): the values
// our builder sends arrive in the playbook byte for byte, the encoded ones through b64decode, and nothing
// the shell could expand runs.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { build, playbook, requireTool, runDocumentLine } from '../helpers/ssm-document.js';

const workDir = mkdtempSync(path.join(tmpdir(), 'autoprov-ssm-ansible-'));
afterAll(() => rmSync(workDir, { recursive: true, force: true }));

describe('the document command line with real ansible-playbook', () => {
  it('real ansible-playbook receives the exact values, the encoded ones through b64decode', () => {
    requireTool('ansible-playbook', 'install Ansible (Debian/Ubuntu: sudo apt-get install -y ansible-core)');
    const values: Record<string, string> = {
      subst: '$(touch pwned)',
      backtick: '`touch pwned`',
      quotes: `he said "it's" \\ fine`,
      seps: 'a;b|c&d<e>f (g) {h} [i] ~ ! # * ?',
      unicode: 'naïve ☃ 😀 中文',
      lines: 'one\ntwo\tthree',
      plain: 'release-1.2_3,4/5@6%7+8=9',
    };
    const names = Object.keys(values).sort();
    const out = path.join(workDir, 'out');
    const { parameters, adjustments } = build({
      hostVars: { ...values, names: names.join(','), out },
      playbook: playbook({ file: 'decode.yml' }),
    });
    expect(adjustments.map((a) => [a.key, a.action])).toEqual(
      names.filter((name) => name !== 'plain').map((name) => [name, 'encoded']),
    );
    writeFileSync(
      path.join(workDir, 'decode.yml'),
      [
        '- hosts: all',
        '  gather_facts: false',
        '  tasks:',
        '    - ansible.builtin.file: { path: "{{ out }}", state: directory }',
        '    - ansible.builtin.copy:',
        '        dest: "{{ out }}/{{ item }}"',
        "        content: \"{{ lookup('vars', item ~ '_b64', default='') | b64decode if item != 'plain' else plain }}\"",
        '      loop: "{{ names.split(\',\') }}"',
        '',
      ].join('\n'),
    );
    const run = runDocumentLine('bash', parameters, { fake: false, cwd: workDir });
    expect(run.status, `${run.stdout}\n${run.stderr}`).toBe(0);
    for (const name of names) expect(readFileSync(path.join(out, name), 'utf8'), name).toBe(values[name]);
    expect(existsSync(path.join(workDir, 'pwned'))).toBe(false);
  });
});
