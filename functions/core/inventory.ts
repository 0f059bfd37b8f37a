// Static Ansible inventories (INI and YAML) → one flat record per host: its instance id, every group
// it belongs to and its effective vars. Follows Ansible's own semantics (ansible-core 2.14's ini.py and
// yaml.py plugins, parse_address, expand_hostname_range, Group.set_variable and sort_groups) so that
// `ansible-inventory --list` agrees, host by host, var by var and type by type: the differential test
// (test/core/inventory-corpus.ansible.test.ts) runs both on a corpus of inventories. Where we differ on
// purpose (a host must resolve to an instance id; where Ansible only warns, we fail, because a silently
// ignored typo would leave a host unprovisioned), DELIBERATE_DIFFERENCES lists it with its reason.
// By concern: inventory-ini.ts and inventory-yaml.ts (the two plugins), inventory-host-pattern.ts
// (addresses, ports and ranges), inventory-model.ts (groups, hosts and var precedence).
import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { parseIni } from './inventory-ini.js';
import { type Format, InventoryBuilder, InventoryError, type TypedInventoryHost } from './inventory-model.js';
import { parseYaml } from './inventory-yaml.js';
import type { InventoryHost } from './types.js';

export { InventoryError, SSM_INSTANCE_ID_VAR, type TypedInventoryHost } from './inventory-model.js';

/**
 * Where we knowingly read an inventory differently from ansible-inventory, and why. The README's rules
 * section lists these; the differential test checks each corpus file marked `# differs: <id>` fails
 * here with the message named by `error`.
 */
export const DELIBERATE_DIFFERENCES = {
  'no-instance-id': {
    error: /has no instance id/,
    what: 'a host whose name is not an instance id (i-…, mi-…) and has no ssm_instance_id var is refused',
    why: 'SSM Run Command addresses a managed node by id; a host we cannot resolve would never be provisioned',
  },
  'duplicate-instance-id': {
    error: /both map to instance id/,
    what: 'two host names resolving to the same instance id are refused',
    why: 'one managed node would get two conflicting sets of groups and vars',
  },
  'yaml-duplicate-key': {
    error: /Map keys must be unique/,
    what: 'a YAML mapping with a duplicate key is refused (Ansible warns and keeps the last value)',
    why: 'the first value is silently lost; usually a copy-paste mistake',
  },
  'yaml-ignored-key': {
    error: /unknown key|must be a mapping/,
    what: 'an unknown key in a group, or a group that is not a mapping, is refused (Ansible warns and skips it)',
    why: 'a typo such as `host:` for `hosts:` would silently leave hosts out',
  },
  'empty-range': {
    error: /begin is (?:greater than|after) end/,
    what: 'a host range that expands to no host (`web[5:1]`) is refused (Ansible adds no host)',
    why: 'an empty range is always a typo',
  },
} as const;
export type DeliberateDifference = keyof typeof DELIBERATE_DIFFERENCES;

export function loadInventoryFile(path: string): InventoryHost[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new InventoryError(
      path,
      undefined,
      code === 'ENOENT'
        ? 'inventory file not found; create it or remove it from `inventories` in rules.yaml'
        : `cannot read inventory file: ${(error as Error).message}`,
    );
  }
  return parseInventory(text, path);
}

/**
 * Parses an INI or YAML inventory (by extension; otherwise by sniffing the first meaningful line).
 * Each host's `vars` are the text a playbook gets from `{{ var }}` (see ansible-value.ts).
 */
export function parseInventory(text: string, file: string): InventoryHost[] {
  return parseInventoryTyped(text, file).map(({ values: _, ...host }) => host);
}

/** As parseInventory, plus each host's vars with Ansible's types (`values`). */
export function parseInventoryTyped(text: string, file: string): TypedInventoryHost[] {
  const format = detectFormat(text, file);
  const builder = new InventoryBuilder(file, format);
  if (format === 'ini') parseIni(text, builder);
  else parseYaml(text, builder);
  return builder.finish();
}

function detectFormat(text: string, file: string): Format {
  const ext = extname(file).toLowerCase();
  if (ext === '.ini') return 'ini';
  if (ext === '.yml' || ext === '.yaml') return 'yaml';
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    // `all:` / `---` read as YAML; `[group]` and `host k=v` lines as INI (a host:port has no space after the colon).
    return line === '---' || /^[^\s#;[]+:(\s|$)/.test(line) ? 'yaml' : 'ini';
  }
  return 'ini';
}
