// Differential check against Ansible's own parser (e2e tier: needs ansible-inventory).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadInventoryFile } from '../../functions/core/inventory.js';
import type { InventoryHost } from '../../functions/core/types.js';

const withoutSource = (hosts: readonly InventoryHost[]) => hosts.map(({ inventory: _, ...rest }) => rest);

describe('agrees with ansible-inventory', () => {
  const dir = mkdtempSync(join(tmpdir(), 'autoprov-inv-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const ini = `
[all:vars]
tier=base
region=eu

[web]
mi-0a1b2c3d4e5f607[10:12] role=web
web-old ssm_instance_id=mi-0123456789abcdef0 port_hint=8080

[db]
i-0123456789abcde[a:b]
mi-0a1b2c3d4e5f60711 role=dbweb

[prod:children]
web
db

[prod:vars]
tier=prod
owner=platform

[web:vars]
tier=web

[db:vars]
tier=db

[canary]
mi-0a1b2c3d4e5f60799
`;
  const yaml = `
all:
  vars: { tier: base, region: eu }
  children:
    prod:
      vars: { tier: prod, owner: platform }
      children:
        web:
          vars: { tier: web }
          hosts:
            "mi-0a1b2c3d4e5f607[10:12]": { role: web }
            web-old: { ssm_instance_id: mi-0123456789abcdef0, port_hint: "8080" }
        db:
          vars: { tier: db }
          hosts:
            "i-0123456789abcde[a:b]":
            mi-0a1b2c3d4e5f60711: { role: dbweb }
    canary:
      hosts:
        mi-0a1b2c3d4e5f60799:
`;

  function viaAnsible(file: string): Omit<InventoryHost, 'inventory'>[] {
    let out: string;
    try {
      out = execFileSync('ansible-inventory', ['-i', file, '--list'], {
        encoding: 'utf8',
        env: {
          ...process.env,
          ANSIBLE_HOME: join(dir, 'ansible-home'),
          ANSIBLE_NOCOLOR: '1',
          ANSIBLE_INVENTORY_UNPARSED_FAILED: '1',
        },
      });
    } catch (error) {
      throw new Error(
        `ansible-inventory failed or is missing (${(error as Error).message}). Install Ansible: apt-get install -y ansible-core (Debian/Ubuntu) or pipx install ansible-core.`,
      );
    }
    const { _meta: meta, ...listed } = JSON.parse(out) as Record<
      string,
      { hosts?: string[]; children?: string[] }
    > & {
      _meta: { hostvars: Record<string, Record<string, unknown>> };
    };
    const parents = new Map<string, string[]>();
    const direct = new Map<string, string[]>();
    for (const [group, entry] of Object.entries(
      listed as Record<string, { hosts?: string[]; children?: string[] }>,
    )) {
      for (const child of entry.children ?? []) parents.set(child, [...(parents.get(child) ?? []), group]);
      for (const host of entry.hosts ?? []) direct.set(host, [...(direct.get(host) ?? []), group]);
    }
    return [...direct.keys()].sort().map((name) => {
      const groups = new Set<string>(['all']);
      const pending = [...(direct.get(name) ?? [])];
      while (pending.length > 0) {
        const g = pending.pop() as string;
        if (!groups.has(g)) {
          groups.add(g);
          pending.push(...(parents.get(g) ?? []));
        }
      }
      const vars = Object.fromEntries(
        Object.entries(meta.hostvars[name] ?? {})
          .map(([k, v]) => [k, String(v)] as const)
          .sort(([a], [b]) => (a < b ? -1 : 1)),
      );
      return {
        name,
        instanceId: /^m?i-/.test(name) ? name : String(vars.ssm_instance_id),
        groups: [...groups].sort(),
        vars,
      };
    });
  }

  it.each([
    ['fleet.ini', ini],
    ['fleet.yml', yaml],
  ])('%s', (name, text) => {
    const file = join(dir, name);
    writeFileSync(file, text);

    const ours = withoutSource(loadInventoryFile(file));

    expect(ours).toEqual(viaAnsible(file));
    // mi-…711 is both in the web range and listed in db: one host, in both groups.
    expect(ours).toHaveLength(7);
    expect(ours.find((h) => h.name === 'mi-0a1b2c3d4e5f60711')).toMatchObject({
      groups: ['all', 'db', 'prod', 'web'],
      vars: { owner: 'platform', region: 'eu', role: 'dbweb', tier: 'web' },
    });
  });

  it('INI and YAML versions agree with each other', () => {
    const a = join(dir, 'same.ini');
    const b = join(dir, 'same.yml');
    writeFileSync(a, ini);
    writeFileSync(b, yaml);

    expect(withoutSource(loadInventoryFile(b))).toEqual(withoutSource(loadInventoryFile(a)));
  });
});
