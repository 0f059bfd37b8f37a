// The inventory model both plugins (inventory-ini.ts, inventory-yaml.ts) fill: groups, their children,
// hosts and vars, and how Ansible flattens them for one host — transitive groups, and var precedence
// (all < parent < child by depth, then ansible_group_priority, then name, as Group.set_variable and
// sort_groups in ansible-core 2.14; host vars last). Also where a host's instance id comes from.
import { type AnsibleValue, PyFloat, renderText } from './ansible-value.js';
import { isInstanceId } from './instance-id.js';
import type { InventoryHost } from './types.js';

/** A malformed inventory, or a host that cannot be mapped to an instance. `line` is 1-based when known. */
export class InventoryError extends Error {
  override name = 'InventoryError';
  constructor(
    readonly file: string,
    readonly line: number | undefined,
    readonly reason: string,
  ) {
    super(`${file}${line === undefined ? '' : `:${line}`}: ${reason}`);
  }
}

/** The host var naming the instance when the host name is not an id (e.g. `web-legacy-01`). */
export const SSM_INSTANCE_ID_VAR = 'ssm_instance_id';

export type Format = 'ini' | 'yaml';

interface GroupDef {
  readonly name: string;
  readonly hosts: Set<string>;
  readonly children: Set<string>;
  readonly vars: Map<string, AnsibleValue>;
  /** `ansible_group_priority` (default 1): orders groups of the same depth in var precedence. */
  priority: number;
  line: number | undefined;
}

interface HostDef {
  readonly name: string;
  readonly vars: Map<string, AnsibleValue>;
  readonly line: number | undefined;
}

/** A host with its vars as Ansible types them (what `ansible-inventory --list` prints, as JSON). */
export interface TypedInventoryHost extends InventoryHost {
  readonly values: Readonly<Record<string, AnsibleValue>>;
}

export class InventoryBuilder {
  private readonly groups = new Map<string, GroupDef>();
  private readonly hosts = new Map<string, HostDef>();

  constructor(
    readonly file: string,
    readonly format: Format,
  ) {
    this.group('all', undefined);
    this.group('ungrouped', undefined);
  }

  fail(line: number | undefined, reason: string): never {
    throw new InventoryError(this.file, line, reason);
  }

  hasGroup(name: string): boolean {
    return this.groups.has(name);
  }

  group(name: string, line: number | undefined): GroupDef {
    let group = this.groups.get(name);
    if (!group) {
      group = { name, hosts: new Set(), children: new Set(), vars: new Map(), priority: 1, line };
      this.groups.set(name, group);
    } else if (group.line === undefined) {
      group.line = line;
    }
    return group;
  }

  addChild(parent: string, child: string, line: number | undefined): void {
    if (child === 'all') this.fail(line, `group "all" cannot be a child of "${parent}"`);
    if (parent === child) this.fail(line, `group "${parent}" cannot be a child of itself`);
    this.group(parent, line).children.add(child);
    this.group(child, line);
  }

  addHost(
    name: string,
    group: string,
    port: number | undefined,
    vars: ReadonlyMap<string, AnsibleValue>,
    line: number | undefined,
  ): void {
    let host = this.hosts.get(name);
    if (!host) {
      host = { name, vars: new Map(), line };
      this.hosts.set(name, host);
    }
    // As InventoryData.add_host then set_variable: the port first, then the line's vars (which may
    // set ansible_port again); a host listed again adds vars, the later definition winning.
    if (port !== undefined) host.vars.set('ansible_port', port);
    for (const [key, value] of vars) host.vars.set(key, value);
    this.group(group, line).hosts.add(name);
  }

  setGroupVar(group: string, key: string, value: AnsibleValue, line: number | undefined): void {
    const def = this.group(group, line);
    // Group.set_variable: ansible_group_priority is not a var, it is int(value), the group's priority.
    if (key === 'ansible_group_priority') def.priority = this.priorityOf(group, value, line);
    else def.vars.set(key, value);
  }

  private priorityOf(group: string, value: AnsibleValue, line: number | undefined): number {
    if (typeof value === 'number') return Math.trunc(value);
    if (value instanceof PyFloat) return Math.trunc(value.value);
    if (typeof value === 'boolean') return value ? 1 : 0;
    if (typeof value === 'string' && /^\s*[+-]?\d+(?:_\d+)*\s*$/.test(value))
      return Number(value.replace(/_/g, ''));
    return this.fail(
      line,
      `ansible_group_priority of group "${group}" is ${JSON.stringify(renderText(value))}; it must be a whole number (e.g. 10)`,
    );
  }

  finish(): TypedInventoryHost[] {
    const all = this.group('all', undefined);
    const parents = new Map<string, Set<string>>();
    for (const group of this.groups.values()) {
      for (const child of group.children) {
        const set = parents.get(child) ?? new Set<string>();
        set.add(group.name);
        parents.set(child, set);
      }
    }
    // Ansible attaches every top-level group to `all`.
    for (const group of this.groups.values()) {
      if (group.name !== 'all' && !parents.has(group.name)) {
        all.children.add(group.name);
        parents.set(group.name, new Set(['all']));
      }
    }
    this.assertNoCycle();
    const depth = this.depths();

    const byInstanceId = new Map<string, HostDef>();
    const result: TypedInventoryHost[] = [];
    // Definition order, so a duplicate is reported at its second occurrence; output is sorted below.
    for (const host of this.hosts.values()) {
      const direct = [...this.groups.values()].filter((g) => g.hosts.has(host.name)).map((g) => g.name);
      const explicit = direct.filter((g) => g !== 'all' && g !== 'ungrouped');
      // Ansible's reconcile: `ungrouped` holds exactly the hosts that are in no other group.
      const memberOf = explicit.length > 0 ? explicit : ['ungrouped'];
      const groups = new Set<string>(['all']);
      const pending = [...memberOf];
      while (pending.length > 0) {
        const name = pending.pop() as string;
        if (groups.has(name)) continue;
        groups.add(name);
        for (const parent of parents.get(name) ?? []) pending.push(parent);
      }
      // Precedence: all < parent < child, as Ansible's sort_groups (depth, then ansible_group_priority,
      // then name) < host.
      const priority = (name: string) => this.groups.get(name)?.priority ?? 1;
      const ordered = [...groups].sort(
        (a, b) => (depth.get(a) ?? 0) - (depth.get(b) ?? 0) || priority(a) - priority(b) || compare(a, b),
      );
      const vars = new Map<string, AnsibleValue>();
      for (const name of ordered) {
        for (const [key, value] of this.groups.get(name)?.vars ?? []) vars.set(key, value);
      }
      for (const [key, value] of host.vars) vars.set(key, value);

      const declared = vars.get(SSM_INSTANCE_ID_VAR);
      const instanceId = this.instanceIdOf(host, declared === undefined ? undefined : renderText(declared));
      const previous = byInstanceId.get(instanceId);
      if (previous) {
        this.fail(
          host.line,
          `hosts "${previous.name}"${lineSuffix(previous.line)} and "${host.name}"${lineSuffix(host.line)} both map to instance id ${instanceId}; list each managed node under one host name only`,
        );
      }
      byInstanceId.set(instanceId, host);
      const sorted = [...vars].sort(([a], [b]) => compare(a, b));
      result.push({
        name: host.name,
        instanceId,
        groups: [...groups].sort(compare),
        vars: Object.fromEntries(sorted.map(([key, value]) => [key, renderText(value)])),
        values: Object.fromEntries(sorted),
        inventory: this.file,
      });
    }
    return result.sort((a, b) => compare(a.name, b.name));
  }

  private instanceIdOf(host: HostDef, declared: string | undefined): string {
    if (isInstanceId(host.name)) {
      if (declared !== undefined && declared !== host.name) {
        this.fail(
          host.line,
          `host "${host.name}" is itself an instance id but has ${SSM_INSTANCE_ID_VAR}=${declared}; remove the var or rename the host`,
        );
      }
      return host.name;
    }
    if (declared === undefined) {
      const fix =
        this.format === 'ini'
          ? `add ${SSM_INSTANCE_ID_VAR}=mi-… (or i-…) to the host line`
          : `add "${SSM_INSTANCE_ID_VAR}: mi-…" (or i-…) to the host's vars`;
      this.fail(
        host.line,
        `host "${host.name}" has no instance id: its name is not an EC2 instance id (i-…) or SSM managed node id (mi-…) and it has no ${SSM_INSTANCE_ID_VAR} var; ${fix}`,
      );
    }
    if (!isInstanceId(declared)) {
      this.fail(
        host.line,
        `host "${host.name}" has ${SSM_INSTANCE_ID_VAR}="${declared}", which is not an EC2 instance id (i- and 8 or 17 hex digits) or SSM managed node id (mi- and 17 hex digits)`,
      );
    }
    return declared;
  }

  private assertNoCycle(): void {
    const state = new Map<string, 'visiting' | 'done'>();
    const visit = (name: string, path: string[]): void => {
      if (state.get(name) === 'done') return;
      if (state.get(name) === 'visiting') {
        const cycle = [...path.slice(path.indexOf(name)), name];
        this.fail(this.groups.get(name)?.line, `children cycle: ${cycle.join(' -> ')}`);
      }
      state.set(name, 'visiting');
      for (const child of this.groups.get(name)?.children ?? []) visit(child, [...path, name]);
      state.set(name, 'done');
    };
    for (const name of this.groups.keys()) visit(name, []);
  }

  /** Longest distance from `all`, as Ansible's Group.depth. */
  private depths(): Map<string, number> {
    const depth = new Map<string, number>([['all', 0]]);
    const walk = (name: string, d: number): void => {
      for (const child of this.groups.get(name)?.children ?? []) {
        if ((depth.get(child) ?? -1) < d + 1) {
          depth.set(child, d + 1);
          walk(child, d + 1);
        }
      }
    };
    walk('all', 0);
    return depth;
  }
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function lineSuffix(line: number | undefined): string {
  return line === undefined ? '' : ` (line ${line})`;
}
