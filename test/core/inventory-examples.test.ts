// Every inventory example of issue 13 ("Ansible fidelity"), one focused test each. The expected values
// are what real `ansible-inventory` (ansible-core 2.14) gives for the same lines (`--list`, `_meta.hostvars`,
// quoted in each test), and the text a playbook gets from `{{ var }}` for it — which is what rules match,
// what `autoprov plan`/`validate` show and what is sent as an extra var (docs/adr/0014). The differential
// test (inventory-corpus.ansible.test.ts) checks the same behaviours against Ansible itself on the corpus.
import { describe, expect, it } from 'vitest';
import { parseInventory } from '../../functions/core/inventory.js';
import type { InventoryHost } from '../../functions/core/types.js';

const A = 'i-0000000000000000a';
const B = 'i-0000000000000000b';

/** The vars of one host (by name), as text. */
function varsOf(text: string, file: string, host: string): Readonly<Record<string, string>> {
  const found = parseInventory(text, file).find((h: InventoryHost) => h.name === host);
  if (!found) throw new Error(`host ${host} not in the parse of ${file}`);
  return found.vars;
}

describe('INI inventory examples (issue 13), as ansible-inventory reads them', () => {
  it('inline comment: `[g:vars] http_port=8080 # the port` is 8080', () => {
    // ansible-inventory: "http_port": 8080
    const vars = varsOf(`[web]\n${A}\n\n[web:vars]\nhttp_port=8080 # the port\n`, 'ex.ini', A);
    expect(vars.http_port).toBe('8080');
  });

  it(`quoted value: host line mysecret="'03#pa33w0rd'" is 03#pa33w0rd`, () => {
    // ansible-inventory: "mysecret": "03#pa33w0rd" (shlex keeps the inner quotes, literal_eval removes them)
    const vars = varsOf(`[web]\n${A} mysecret="'03#pa33w0rd'"\n`, 'ex.ini', A);
    expect(vars.mysecret).toBe('03#pa33w0rd');
  });

  it(`quoted value: [g:vars] mysecret="'03#pa33w0rd'" is '03#pa33w0rd' (single quotes kept)`, () => {
    // ansible-inventory: "mysecret": "'03#pa33w0rd'" (no shlex in :vars; literal_eval removes the double quotes)
    // (A guard: the parser before issue 13 already agreed here; the host-line form above is the one it got wrong.)
    const vars = varsOf(`[web]\n${A}\n\n[web:vars]\nmysecret="'03#pa33w0rd'"\n`, 'ex.ini', A);
    expect(vars.mysecret).toBe("'03#pa33w0rd'");
  });

  it('escaped quote: quoted="a\\"b" is a"b', () => {
    // ansible-inventory: "quoted": "a\"b"
    const vars = varsOf(`[web]\n${A} quoted="a\\"b"\n`, 'ex.ini', A);
    expect(vars.quoted).toBe('a"b');
  });

  it('`pw=ab#cd after=1` ends the line at #: pw is ab and after is not set', () => {
    // ansible-inventory: "pw": "ab" and no "after"
    const vars = varsOf(`[web]\n${A} pw=ab#cd after=1\n`, 'ex.ini', A);
    expect(vars.pw).toBe('ab');
    expect(vars).not.toHaveProperty('after');
  });

  it('host-line value 0x1F is 31', () => {
    // ansible-inventory: "hex": 31
    expect(varsOf(`${B} hex=0x1F\n`, 'ex.ini', B).hex).toBe('31');
  });

  it('host-line value 1e3 is the float 1000.0', () => {
    // ansible-inventory: "sci": 1000.0 ({{ sci }} renders 1000.0)
    expect(varsOf(`${B} sci=1e3\n`, 'ex.ini', B).sci).toBe('1000.0');
  });

  it('host-line value 0o17 is 15', () => {
    // ansible-inventory: "oct": 15
    expect(varsOf(`${B} oct=0o17\n`, 'ex.ini', B).oct).toBe('15');
  });

  it('host-line value None is None (the empty text in {{ }})', () => {
    // ansible-inventory: "none": null
    expect(varsOf(`${B} none=None\n`, 'ex.ini', B).none).toBe('');
  });

  it('host-line value "a\\tb" is a\\tb (backslash kept: shlex keeps it inside double quotes, literal_eval fails)', () => {
    // ansible-inventory: "tab": "a\\tb" (a guard: the parser before issue 13 agreed; the '"a\tb"' form below it did not)
    expect(varsOf(`${B} tab="a\\tb"\n`, 'ex.ini', B).tab).toBe('a\\tb');
  });

  it('host-line value a\\tb (unquoted) is atb: shlex drops the backslash', () => {
    // ansible-inventory: "u": "atb" (a guard: the parser before issue 13 agreed)
    expect(varsOf(`${B} u=a\\tb\n`, 'ex.ini', B).u).toBe('atb');
  });

  it(`host-line value '"a\\tb"' is a, TAB, b (a Python string literal)`, () => {
    // ansible-inventory: "tab2": "a\tb"
    expect(varsOf(`${B} tab2='"a\\tb"'\n`, 'ex.ini', B).tab2).toBe('a\tb');
  });

  it('[fe80::1]:2222 is host fe80::1 with ansible_port 2222', () => {
    // ansible-inventory: host "fe80::1" with "ansible_port": 2222
    const hosts = parseInventory(`[v6]\n[fe80::1]:2222 ssm_instance_id=${A}\n`, 'ex.ini');
    expect(hosts.map(({ name, instanceId, groups, vars }) => ({ name, instanceId, groups, vars }))).toEqual([
      {
        name: 'fe80::1',
        instanceId: A,
        groups: ['all', 'v6'],
        vars: { ansible_port: '2222', ssm_instance_id: A },
      },
    ]);
  });
});

describe('YAML inventory examples (issue 13): YAML 1.1 as Ansible (PyYAML) reads it', () => {
  const C = 'i-0000000000000000c';

  it('yes / no / on are the booleans True / False / True', () => {
    // ansible-inventory: "enabled": true, "disabled": false, "switch": true
    const text = `all:\n  hosts:\n    ${C}:\n      enabled: yes\n      disabled: no\n      switch: on\n`;
    expect(varsOf(text, 'ex.yml', C)).toEqual({ enabled: 'True', disabled: 'False', switch: 'True' });
  });

  it('0777 is the octal integer 511', () => {
    // ansible-inventory: "mode": 511
    expect(varsOf(`all:\n  hosts:\n    ${C}:\n      mode: 0777\n`, 'ex.yml', C).mode).toBe('511');
  });

  it('ansible_group_priority orders same-depth groups (higher wins) and is not a var', () => {
    // ansible-inventory: "level": "from_a_low", and no ansible_group_priority var
    // (without the priority, z_high would win: same depth, sorted by name)
    const text = [
      'all:',
      '  children:',
      '    a_low:',
      '      vars: { ansible_group_priority: 10, level: from_a_low }',
      `      hosts: { ${C}: }`,
      '    z_high:',
      '      vars: { level: from_z_high }',
      `      hosts: { ${C}: }`,
      '',
    ].join('\n');
    expect(varsOf(text, 'ex.yml', C)).toEqual({ level: 'from_a_low' });
  });
});
