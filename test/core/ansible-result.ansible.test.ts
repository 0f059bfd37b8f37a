// The bundle's ansible.cfg and result callback with REAL ansible-playbook (e2e tier: needs Ansible), run
// the way AWS-ApplyAnsiblePlaybooks runs it: inside the unzipped bundle, `-i "localhost," -c local`.
// What parseAnsibleOutput and the failure formatter make of each kind of run.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAnsibleOutput, RESULT_LIMITS, RESULT_MARKER } from '../../functions/core/ansible-result.js';
import { lastLines, playbookFailureHeadline } from '../../functions/core/failure-text.js';
import { playbooksDir } from '../helpers/paths.js';
import { requireTool } from '../helpers/ssm-document.js';

let bundle: string;
beforeAll(() => {
  requireTool('ansible-playbook', 'install Ansible (Debian/Ubuntu: sudo apt-get install -y ansible-core)');
  bundle = mkdtempSync(path.join(tmpdir(), 'autoprov-result-'));
  // What the bundle zip holds for this purpose: the config and the plugin.
  cpSync(path.join(playbooksDir, 'ansible.cfg'), path.join(bundle, 'ansible.cfg'));
  cpSync(path.join(playbooksDir, 'callback_plugins'), path.join(bundle, 'callback_plugins'), {
    recursive: true,
  });
});
afterAll(() => rmSync(bundle, { recursive: true, force: true }));

function run(file: string, yaml: string, options: { check?: boolean } = {}) {
  writeFileSync(path.join(bundle, file), yaml);
  const args = ['-i', 'localhost,', ...(options.check ? ['--check'] : []), '-c', 'local'];
  args.push(
    '-e',
    `ansible_python_interpreter=${process.env.AUTOPROV_TEST_PYTHON ?? '/usr/bin/python3'}`,
    file,
  );
  const result = spawnSync('ansible-playbook', args, {
    cwd: bundle,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: bundle, LANG: 'C.UTF-8', ANSIBLE_NOCOLOR: '1' },
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

const FAILING = `- name: Web server
  hosts: all
  gather_facts: false
  tasks:
    - name: Write a marker
      ansible.builtin.copy: { dest: "{{ playbook_dir }}/marker", content: "x" }
    - name: Install nginx
      ansible.builtin.fail:
        msg: "No package matching 'ngnix' is available"
    - name: Never reached
      ansible.builtin.debug: { msg: never }
`;

describe('the result line of real ansible-playbook runs', () => {
  it('a failing task: its name, module, message and host, and the recap counts', () => {
    const out = run('webserver.yml', FAILING);
    expect(out.code).toBe(2);
    const result = parseAnsibleOutput(out.stdout, out.stderr);
    expect(result).toMatchObject({
      source: 'summary',
      check: false,
      recap: { localhost: { ok: 1, changed: 1, failed: 1, unreachable: 0, skipped: 0, rescued: 0 } },
      failures: [
        {
          host: 'localhost',
          task: 'Install nginx',
          action: 'ansible.builtin.fail',
          message: "No package matching 'ngnix' is available",
        },
      ],
    });
    expect(
      playbookFailureHeadline({
        file: 'webserver.yml',
        status: 'Failed',
        exitCode: 2,
        ...(result ? { ansible: result } : {}),
      }),
    ).toBe(`webserver.yml: task "Install nginx" failed: No package matching 'ngnix' is available`);
    // The last lines are the end of the log, not its start, and never the summary line.
    const tail = lastLines(out.stdout, 4);
    expect(tail).toContain('PLAY RECAP');
    expect(tail).not.toContain(RESULT_MARKER);
  });

  it('a run that changes things lists the changed tasks', () => {
    const out = run(
      'changes.yml',
      `- hosts: all
  gather_facts: false
  tasks:
    - name: Write the site file
      ansible.builtin.copy: { dest: "{{ playbook_dir }}/site-{{ 1000 | random }}", content: "x" }
    - name: Look only
      ansible.builtin.stat: { path: "{{ playbook_dir }}" }
`,
    );
    expect(out.code).toBe(0);
    const result = parseAnsibleOutput(out.stdout, out.stderr);
    expect(result?.failures).toEqual([]);
    expect(result?.changes).toEqual([
      { host: 'localhost', task: 'Write the site file', action: 'ansible.builtin.copy' },
    ]);
    expect(result?.recap?.localhost).toMatchObject({ ok: 2, changed: 1, failed: 0 });
  });

  it('check mode records the tasks that would change, and changes nothing', () => {
    const target = path.join(bundle, 'check-target');
    const out = run(
      'check.yml',
      `- hosts: all
  gather_facts: false
  tasks:
    - name: Create the config
      ansible.builtin.copy: { dest: "${target}", content: "x" }
`,
      { check: true },
    );
    expect(out.code).toBe(0);
    const result = parseAnsibleOutput(out.stdout, out.stderr);
    expect(result).toMatchObject({ source: 'summary', check: true });
    expect(result?.changes.map((change) => change.task)).toEqual(['Create the config']);
    expect(spawnSync('test', ['-e', target]).status).toBe(1);
  });

  it('a syntax error has no summary line: the ERROR! text is the reason', () => {
    const out = run(
      'broken.yml',
      '- hosts: all\n  tasks:\n    - name: x\n      ansible.builtin.debug: msg=1\n     bad: [\n',
    );
    expect(out.code).not.toBe(0);
    expect(out.stdout).not.toContain(RESULT_MARKER);
    const result = parseAnsibleOutput(out.stdout, out.stderr);
    expect(result?.source).toBe('log');
    expect(result?.error).toMatch(/unable to read either as JSON nor YAML/);
    expect(
      playbookFailureHeadline({
        file: 'broken.yml',
        status: 'Failed',
        exitCode: 4,
        ...(result ? { ansible: result } : {}),
      }),
    ).toMatch(/^broken\.yml: Ansible error: We were unable to read/);
  });

  it('an unreachable host is reported as unreachable, with the connection error', () => {
    const out = run(
      'unreachable.yml',
      `- hosts: all
  gather_facts: false
  vars: { ansible_connection: ssh, ansible_host: 127.0.0.1, ansible_port: 1 }
  tasks:
    - name: Reach the host
      ansible.builtin.ping:
`,
    );
    expect(out.code).toBe(4);
    const result = parseAnsibleOutput(out.stdout, out.stderr);
    expect(result?.recap?.localhost).toMatchObject({ unreachable: 1, failed: 0 });
    expect(result?.failures[0]).toMatchObject({ task: 'Reach the host', unreachable: true });
    expect(result?.failures[0]?.message).toMatch(/port 1/);
    expect(
      playbookFailureHeadline({
        file: 'unreachable.yml',
        status: 'Failed',
        ...(result ? { ansible: result } : {}),
      }),
    ).toMatch(/^unreachable\.yml: host localhost unreachable at task "Reach the host": /);
  });

  it('a huge output: the summary is still found at the end and stays small; without it the log fallback uses the end', () => {
    const out = run(
      'huge.yml',
      `- hosts: all
  gather_facts: false
  tasks:
    - name: Talk a lot
      ansible.builtin.debug: { msg: "{{ ['y' * 2500] * 400 }}" }
    - name: Fail with a long message
      ansible.builtin.fail: { msg: "{{ 'z' * 20000 }}" }
`,
    );
    expect(out.code).toBe(2);
    expect(out.stdout.length).toBeGreaterThan(900_000);
    const result = parseAnsibleOutput(out.stdout, out.stderr);
    expect(result?.source).toBe('summary');
    expect(result?.failures[0]?.task).toBe('Fail with a long message');
    expect(result?.failures[0]?.message.length).toBeLessThanOrEqual(RESULT_LIMITS.message);
    expect(JSON.stringify(result).length).toBeLessThan(20_000);
    // The output without its last line (as if the run had been killed before the summary):
    const withoutSummary = out.stdout.slice(0, out.stdout.lastIndexOf(RESULT_MARKER));
    const fallback = parseAnsibleOutput(withoutSummary, '');
    expect(fallback?.source).toBe('log');
    expect(fallback?.failures.at(-1)?.task).toBe('Fail with a long message');
    expect(JSON.stringify(fallback).length).toBeLessThan(20_000);
  });
});
