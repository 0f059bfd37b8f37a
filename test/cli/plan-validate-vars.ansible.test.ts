// `autoprov plan` and `validate` show a host's vars as its playbooks get them, and every var a run would
// record in VARS_ADJUSTED (issue 13). The oracle is Ansible itself (e2e tier): for an inventory with typed,
// quoted and commented values, what plan and validate print for each var must equal
// - what a real ansible-playbook run on that inventory renders for `{{ var }}`, and
// - what a real ansible-playbook run given the ExtraVariables we would send renders for `{{ var }}`
//   (`{{ var_b64 | b64decode }}` for an encoded one), the document's `-e "<ExtraVariables>"`.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeExtraVariables } from '../../functions/core/ssm-parameters.js';
import { runInProcess } from './harness.js';

const scratch = mkdtempSync(join(tmpdir(), 'autoprov-plan-vars-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const INI_HOST = 'i-0a0000000000000a1';
const YAML_HOST = 'i-0a0000000000000a2';
const TAGGED = 'i-0a0000000000000c1';

const dir = join(scratch, 'playbooks');
mkdirSync(join(dir, 'inventory'), { recursive: true });
writeFileSync(join(dir, 'site.yml'), '- hosts: all\n  gather_facts: false\n  tasks: []\n');
writeFileSync(
  join(dir, 'rules.yaml'),
  [
    'inventories: [inventory/typed.ini, inventory/typed.yml]',
    'rules:',
    '  - name: web',
    '    match:',
    '      vars: { http_port: "8080" }',
    '    playbooks: [site.yml]',
    '  - name: every-host',
    '    match: {}',
    '    playbooks: [site.yml]',
    '',
  ].join('\n'),
);
writeFileSync(
  join(dir, 'inventory', 'typed.ini'),
  [
    '[web]',
    `${INI_HOST} mysecret="'03#pa33w0rd'" quoted="a\\"b" pw=ab#cd after=1`,
    `${INI_HOST} hex=0x1F sci=1e3 oct=0o17 none=None flag=True`,
    '',
    '[web:vars]',
    'http_port=8080 # the port',
    'greeting="hello world"',
    '',
  ].join('\n'),
);
writeFileSync(
  join(dir, 'inventory', 'typed.yml'),
  [
    'all:',
    '  hosts:',
    `    ${YAML_HOST}:`,
    '      enabled: yes',
    '      switch: off',
    '      mode: 0777',
    '      ratio: 1.50',
    "      padded: '010'",
    '      day: 2024-01-02',
    '      nothing: ~',
    '      motd: "Welcome, ops!"',
    '',
  ].join('\n'),
);
const fleetFile = join(scratch, 'fleet.yaml');
writeFileSync(
  fleetFile,
  [
    'instances:',
    '  - name: tagged',
    `    instanceId: ${TAGGED}`,
    '    tags: { "autoprov:enabled": "true", cost-center: a, cost_center: b, "cost:center": c }',
    '',
  ].join('\n'),
);
const rules = join(dir, 'rules.yaml');

interface HostView {
  readonly instanceId: string;
  readonly vars: Record<string, string>;
  readonly varsAdjusted?: { key: string; action: string; reason: string; sentAs?: string }[];
  readonly rules?: { rule: string; matched: boolean; reasons: string[] }[];
}

function run(command: string, args: readonly string[], env: Record<string, string> = {}) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(command, args, {
      cwd: scratch,
      env: {
        ...process.env,
        ANSIBLE_HOME: join(scratch, 'ansible-home'),
        ANSIBLE_LOCAL_TEMP: join(scratch, 'ansible-tmp'),
        ANSIBLE_NOCOLOR: '1',
        ANSIBLE_STDOUT_CALLBACK: 'default',
        ANSIBLE_CALLBACK_RESULT_FORMAT: 'json',
        ANSIBLE_INVENTORY_UNPARSED_FAILED: '1',
        ...env,
      },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/**
 * What `{{ var }}` renders in a playbook, per host and var: one debug task, `item` naming the var to read
 * (through `b64decode` when `decode` lists it, under `<var>_b64`).
 */
async function rendered(
  inventoryArgs: readonly string[],
  keys: readonly string[],
  decode: readonly string[] = [],
): Promise<Record<string, Record<string, string>>> {
  const playbook = join(scratch, `show-${Math.random().toString(36).slice(2)}.yml`);
  writeFileSync(
    playbook,
    [
      '- hosts: all',
      '  gather_facts: false',
      '  tasks:',
      '    - debug:',
      // The text a template gives: "V=" keeps the result a string, as `{{ var }}` inside any text.
      `        msg: "V={{ lookup('vars', item ~ '_b64') | b64decode if item in autoprov_decode else lookup('vars', item) }}"`,
      '      loop: "{{ autoprov_keys }}"',
      '',
    ].join('\n'),
  );
  const result = await run('ansible-playbook', [
    ...inventoryArgs,
    '-e',
    JSON.stringify({ autoprov_keys: keys, autoprov_decode: decode }),
    playbook,
  ]);
  expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0);
  // The default callback prints each loop result as `ok: [host] => (item=…) => {JSON}`.
  const out: Record<string, Record<string, string>> = {};
  for (const m of result.stdout.matchAll(/^ok: \[(.+?)\] => \(item=(\w+)\) => (\{[\s\S]*?\n\})$/gm)) {
    const [, host, item, json] = m as unknown as [string, string, string, string];
    const { msg } = JSON.parse(json) as { msg: string };
    out[host] = { ...out[host], [item]: msg.replace(/^V=/, '') };
  }
  return out;
}

describe('plan and validate show vars as the playbook gets them (real Ansible as the oracle)', () => {
  it('every inventory var plan and validate show is what ansible-playbook renders, from the inventory and from the extra vars we send', async () => {
    const plan = await runInProcess(['plan', '--rules', rules, '--fleet', fleetFile, '--offline', '--json']);
    const validate = await runInProcess(['validate', '--rules', rules, '--json']);
    expect(plan.code, plan.stderr).toBe(0);
    expect(validate.code, validate.stdout).toBe(0);
    const planned = (JSON.parse(plan.stdout) as { hosts: HostView[] }).hosts;
    const validated = (JSON.parse(validate.stdout) as { hosts: HostView[] }).hosts;
    const planOf = (id: string) => planned.find((h) => h.instanceId === id) as HostView;
    const validatedOf = (id: string) => validated.find((h) => h.instanceId === id) as HostView;

    // The first example: the rule on http_port=8080 matches, and says so with the value Ansible gives.
    expect(planOf(INI_HOST).rules?.find((r) => r.rule === 'web')).toEqual({
      rule: 'web',
      matched: true,
      reasons: ['http_port=8080 matches 8080'],
    });

    for (const id of [INI_HOST, YAML_HOST]) {
      const shown = planOf(id).vars;
      expect(validatedOf(id).vars).toEqual(shown);
      // Inventory vars (the identity vars are autoprov's own, not the inventory's).
      const keys = Object.keys(shown).filter((k) => !k.startsWith('autoprov_'));
      const inventoryFile = id === INI_HOST ? 'typed.ini' : 'typed.yml';

      // 1. Ansible on the inventory itself.
      const fromInventory = await rendered(['-i', join(dir, 'inventory', inventoryFile)], keys);
      expect(Object.fromEntries(keys.map((k) => [k, shown[k]]))).toEqual(fromInventory[id]);

      // 2. Ansible given the ExtraVariables we would send (the document's `-e "<ExtraVariables>"`).
      const { text, adjustments } = encodeExtraVariables(new Map(Object.entries(shown)));
      const encoded = adjustments.filter((a) => a.action === 'encoded').map((a) => a.key);
      expect(adjustments.filter((a) => a.action === 'dropped')).toEqual([]);
      const fromExtraVars = await rendered(['-i', 'localhost,', '-c', 'local', '-e', text], keys, encoded);
      expect(Object.fromEntries(keys.map((k) => [k, shown[k]]))).toEqual(fromExtraVars.localhost);
    }

    // The values themselves, as ansible-inventory 2.14 gives them (quoted, commented and typed).
    expect(planOf(INI_HOST).vars).toMatchObject({
      http_port: '8080',
      mysecret: '03#pa33w0rd',
      quoted: 'a"b',
      pw: 'ab',
      hex: '31',
      sci: '1000.0',
      oct: '15',
      flag: 'True',
      greeting: 'hello world',
    });
    expect(planOf(INI_HOST).vars).not.toHaveProperty('after');
    expect(planOf(YAML_HOST).vars).toMatchObject({
      enabled: 'True',
      switch: 'False',
      mode: '511',
      ratio: '1.5',
      padded: '010',
      day: '2024-01-02',
      motd: 'Welcome, ops!',
    });
    // None renders as '' and an empty value cannot be sent: shown as dropped, never as a value.
    for (const [id, key] of [
      [INI_HOST, 'none'],
      [YAML_HOST, 'nothing'],
    ] as const) {
      expect(planOf(id).vars).not.toHaveProperty(key);
      expect(planOf(id).varsAdjusted?.find((a) => a.key === key)?.action).toBe('dropped');
    }
  });
});

describe('plan and validate show colliding tags (the VARS_ADJUSTED entries a run records)', () => {
  const reason =
    'tags "cost-center", "cost:center", "cost_center" all become tag_cost_center; none is sent (rename the tags so they differ in letters, digits or _)';

  it('plan --json lists tag_cost_center as dropped, and the text plan prints it under the host', async () => {
    const json = await runInProcess(['plan', '--rules', rules, '--fleet', fleetFile, '--offline', '--json']);
    const text = await runInProcess(['plan', '--rules', rules, '--fleet', fleetFile, '--offline']);

    const host = (JSON.parse(json.stdout) as { hosts: HostView[] }).hosts.find(
      (h) => h.instanceId === TAGGED,
    );
    expect(host?.varsAdjusted).toEqual([{ key: 'tag_cost_center', action: 'dropped', reason }]);
    expect(host?.vars).not.toHaveProperty('tag_cost_center');
    const block = text.stdout.split('\n\n').find((part) => part.startsWith(TAGGED));
    expect(block?.split('\n')).toContain(`  ! var tag_cost_center: never sent to playbooks: ${reason}`);

    // --vars lists each var as the playbook gets it: the commented INI value is 8080.
    const withVars = await runInProcess([
      'plan',
      '--rules',
      rules,
      '--fleet',
      fleetFile,
      '--offline',
      '--vars',
    ]);
    const ini = withVars.stdout.split('\n\n').find((part) => part.startsWith(INI_HOST));
    expect(ini?.split('\n')).toEqual(
      expect.arrayContaining([
        '  vars (as {{ var }} gives them in the playbook):',
        '    http_port=8080',
        '    sci=1000.0',
      ]),
    );
  });

  it('validate --fleet warns about tag_cost_center for the instance, and about the inventory vars sent encoded or dropped', async () => {
    const json = await runInProcess(['validate', '--rules', rules, '--fleet', fleetFile, '--json']);
    const text = await runInProcess(['validate', '--rules', rules, '--fleet', fleetFile]);

    expect(json.code).toBe(0);
    const warnings = (JSON.parse(json.stdout) as { warnings: string[] }).warnings;
    expect(warnings).toContain(
      `instance ${TAGGED} (tagged): var tag_cost_center: never sent to playbooks: ${reason}`,
    );
    expect(warnings).toContain(
      `inventory/typed.ini: host ${INI_HOST}: var none: never sent to playbooks: value is empty (the document requires key=value with a non-empty value)`,
    );
    expect(warnings).toContainEqual(
      expect.stringMatching(
        new RegExp(
          `^inventory/typed\\.ini: host ${INI_HOST}: var mysecret: sent as mysecret_b64 \\(base64\\)`,
        ),
      ),
    );
    // http_port=8080 # the port is 8080: sent as written, no warning.
    expect(warnings.some((w) => w.includes('var http_port'))).toBe(false);
    expect(text.stdout).toContain(
      `! instance ${TAGGED} (tagged): var tag_cost_center: never sent to playbooks`,
    );
  });
});
