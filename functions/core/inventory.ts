// Static Ansible inventories (INI and YAML) → one flat record per host: its instance id, every group
// it belongs to and its effective vars. Follows Ansible's own semantics (ansible-core 2.14's ini.py and
// yaml.py plugins, parse_address, expand_hostname_range, Group.set_variable and sort_groups) so that
// `ansible-inventory --list` agrees, host by host, var by var and type by type: the differential test
// (test/core/inventory-corpus.ansible.test.ts) runs both on a corpus of inventories. Where we differ on
// purpose (a host must resolve to an instance id; where Ansible only warns, we fail, because a silently
// ignored typo would leave a host unprovisioned), DELIBERATE_DIFFERENCES lists it with its reason.
import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { type Document, isMap, isScalar, isSeq, LineCounter, parseDocument } from 'yaml';
import { type AnsibleValue, PyFloat, renderText } from './ansible-value.js';
import { isInstanceId } from './instance-id.js';
import { literalEval, shlexSplit } from './python-literal.js';
import type { InventoryHost } from './types.js';
import { Yaml11Error, yamlValue } from './yaml11.js';

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

type Format = 'ini' | 'yaml';

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

// ---------------------------------------------------------------------------------------------
// Model shared by both parsers.

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

class InventoryBuilder {
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

// ---------------------------------------------------------------------------------------------
// Host patterns, as ansible.parsing.utils.addresses.parse_address and expand_hostname_range:
// `name`, `name:port`, `10.0.0.1:22`, `fe80::1`, `[fe80::1]:2222`, `web[01:03]`, `db-[a:c]`, `n[1:9:2]`.

const LETTERS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';

const NUMERIC_RANGE = String.raw`\[(?:[0-9]+:[0-9]+)(?::[0-9]+)?\]`;
const HEX_RANGE = String.raw`\[(?:[0-9a-f]+:[0-9a-f]+)(?::[0-9]+)?\]`;
const ALNUM_RANGE = String.raw`\[(?:[a-z]:[a-z]|[0-9]+:[0-9]+)(?::[0-9]+)?\]`;
const V6 = `(?:[0-9a-f]{1,4}|${HEX_RANGE})`;
const V4 = `(?:[01]?[0-9]{1,2}|2[0-4][0-9]|25[0-5]|${NUMERIC_RANGE})`;
// Python's \w with re.UNICODE: letters, digits, marks and _.
const WORD = String.raw`[\p{L}\p{N}\p{M}_]`;
const LABEL = `(?:${WORD}|${ALNUM_RANGE})(?:${WORD}|-|${ALNUM_RANGE})*(?<![_-])`;
const ADDRESS = {
  bracketedHostPort: /^\[(.+)\]:([0-9]+)$/,
  hostPort: /^((?:[^:[\]]|\[[^\]]*\])*):([0-9]+)$/,
  ipv4: new RegExp(String.raw`^(?:${V4}\.){3}${V4}$`, 'i'),
  ipv6: new RegExp(
    String.raw`^(?:(?:${V6}:){7}${V6}|(?:${V6}:){1,6}:|(?:${V6}:)(?::${V6}){1,6}|(?:${V6}:){2}(?::${V6}){1,5}|(?:${V6}:){3}(?::${V6}){1,4}|(?:${V6}:){4}(?::${V6}){1,3}|(?:${V6}:){5}(?::${V6}){1,2}|(?:${V6}:){6}(?::${V6})|:(?::${V6}){1,6}|${V6}?::|(?:0:){6}(?:${V6}\.){3}${V6}|::(?:ffff:)?(?:${V6}\.){3}${V6}|(?:0:){5}ffff:(?:${V6}\.){3}${V6})$`,
    'i',
  ),
  hostname: new RegExp(String.raw`^${LABEL}(?:\.${LABEL})*$`, 'iu'),
};

interface HostPattern {
  readonly names: string[];
  readonly port?: number;
}

/** parse_address(pattern, allow_ranges=True); undefined where Ansible's raises (the pattern is then a plain name). */
function parseAddress(pattern: string): { host: string; port?: number } | undefined {
  let address = pattern;
  let port: number | undefined;
  // Both forms are tried in turn, as in Ansible (the second sees what the first left).
  for (const form of [ADDRESS.bracketedHostPort, ADDRESS.hostPort]) {
    const m = form.exec(address);
    if (m) {
      address = m[1] as string;
      port = Number(m[2]);
    }
  }
  if (!(ADDRESS.ipv4.test(address) || ADDRESS.ipv6.test(address) || ADDRESS.hostname.test(address))) {
    return undefined;
  }
  return port === undefined ? { host: address } : { host: address, port };
}

function parseHostPattern(pattern: string, fail: (reason: string) => never): HostPattern {
  const parsed = parseAddress(pattern);
  // Like Ansible, a pattern that is not a valid address is taken whole, without a port.
  const name = parsed?.host ?? pattern;
  if (name === '') fail(`invalid host pattern "${pattern}": empty host name`);
  const names = name.includes('[') || name.includes(']') ? expandRanges(name, pattern, fail) : [name];
  return parsed?.port === undefined ? { names } : { names, port: parsed.port };
}

function expandRanges(name: string, pattern: string, fail: (reason: string) => never): string[] {
  const open = name.indexOf('[');
  if (open < 0) return [name];
  const close = name.indexOf(']');
  if (close < 0) fail(`invalid host range in "${pattern}": "[" is never closed`);
  if (close < open) fail(`invalid host range in "${pattern}": "]" without "["`);
  const head = name.slice(0, open);
  const body = name.slice(open + 1, close);
  const tail = name.slice(close + 1);
  const ipv6Hint = pattern.startsWith('[') ? '; an IPv6 address with a port is written [fe80::1]:2222' : '';
  const bad = (why: string): never =>
    fail(
      `invalid host range [${body}] in "${pattern}": ${why} (expected [begin:end] or [begin:end:step], e.g. web[01:03] or db-[a:c]${ipv6Hint})`,
    );
  const bounds = body.split(':');
  if (bounds.length < 2 || bounds.length > 3) bad('wrong number of ":"');
  const begin = bounds[0] === '' ? '0' : (bounds[0] as string);
  const end = bounds[1] as string;
  const stepText = bounds[2] ?? '1';
  if (end === '') bad('missing end');
  if (!/^[1-9]\d*$/.test(stepText)) bad('step must be a positive integer');
  const step = Number(stepText);
  const width = begin.length > 1 && begin.startsWith('0') ? begin.length : 0;
  if (width > 0 && end.length !== width) bad('zero-padded begin and end must have the same width');
  let items: string[];
  if (/^[A-Za-z]$/.test(begin) && /^[A-Za-z]$/.test(end)) {
    const from = LETTERS.indexOf(begin);
    const to = LETTERS.indexOf(end);
    if (from > to) bad('begin is after end');
    items = [];
    for (let i = from; i <= to; i += step) items.push(LETTERS[i] as string);
  } else if (/^\d+$/.test(begin) && /^\d+$/.test(end)) {
    const from = Number(begin);
    const to = Number(end);
    if (from > to) bad('begin is greater than end');
    if ((to - from) / step > 100_000) bad('range is too large');
    items = [];
    for (let i = from; i <= to; i += step) items.push(String(i).padStart(width, '0'));
  } else {
    items = bad('bounds must both be integers or both single letters');
  }
  return items.flatMap((item) => expandRanges(`${head}${item}${tail}`, pattern, fail));
}

// ---------------------------------------------------------------------------------------------
// INI (ansible.builtin.ini). Comments: a line starting with `#` or `;`; after a section header or a
// child group name, `#` only; on a host line, `#` anywhere outside quotes (shlex). Values: literal_eval.

const SECTION = /^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:#.*)?$/;
const GROUP_NAME = /^([^:\]\s]+)\s*(?:#.*)?$/;

function parseIni(text: string, builder: InventoryBuilder): void {
  let group = 'ungrouped';
  let kind: 'hosts' | 'children' | 'vars' = 'hosts';
  // Like Ansible: `[g:vars]` needs g declared somewhere; `[p:children]` may name groups declared later.
  const varsOnly = new Map<string, number>();
  const pendingChildren = new Map<string, { line: number; parents: string[] }>();

  const lines = text.split(/\r?\n/);
  lines.forEach((raw, index) => {
    const lineNo = index + 1;
    const fail: (reason: string) => never = (reason) => builder.fail(lineNo, reason);
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) return;

    const m = SECTION.exec(line);
    if (m) {
      group = m[1] as string;
      const type = m[2] ?? 'hosts';
      if (!isSectionKind(type))
        fail(`section [${group}:${type}] has unknown type "${type}"; use :children or :vars`);
      kind = type;
      if (kind === 'vars') {
        if (!builder.hasGroup(group) && !pendingChildren.has(group)) varsOnly.set(group, lineNo);
      } else {
        varsOnly.delete(group);
        pendingChildren.delete(group);
      }
      builder.group(group, kind === 'vars' ? undefined : lineNo);
      return;
    }
    if (line.startsWith('[') && !line.includes(']'))
      fail(`unclosed section header "${line}": add the closing "]"`);
    if (line.startsWith('[') && line.endsWith(']')) {
      fail(
        `invalid section header "${line}": expected [group], [group:children] or [group:vars], with no spaces in the name`,
      );
    }
    if (line.startsWith('[') && /^\[[^\]\s]*\]\s*;/.test(line)) {
      fail(`invalid section header "${line}": a comment after a section header starts with "#", not ";"`);
    }

    if (kind === 'hosts') {
      let tokens: string[];
      try {
        tokens = shlexSplit(line);
      } catch (error) {
        fail(`${(error as Error).message} in "${line}"`);
      }
      const patternText = tokens[0];
      if (patternText === undefined) return;
      if (patternText.trim().endsWith(':') && !/:[0-9]+$/.test(patternText))
        fail(`invalid host pattern "${patternText}": a trailing ":" must be followed by a port`);
      const pattern = parseHostPattern(patternText, fail);
      if (pattern.names.some((name) => name.trim() === '---'))
        fail('invalid host pattern "---": this looks like a YAML file; name it .yml or .yaml');
      const vars = new Map<string, AnsibleValue>();
      for (const token of tokens.slice(1)) {
        const eq = token.indexOf('=');
        if (eq <= 0) fail(`expected key=value host variable, got "${token}"`);
        vars.set(token.slice(0, eq), literalEval(token.slice(eq + 1)));
      }
      for (const name of pattern.names) builder.addHost(name, group, pattern.port, vars, lineNo);
    } else if (kind === 'vars') {
      const eq = line.indexOf('=');
      if (eq < 0) fail(`expected key=value in [${group}:vars], got "${line}"`);
      const key = line.slice(0, eq).trim();
      if (key === '') fail(`missing variable name before "=" in [${group}:vars]`);
      builder.setGroupVar(group, key, literalEval(line.slice(eq + 1).trim()), lineNo);
    } else {
      const m = GROUP_NAME.exec(line);
      if (!m) {
        fail(
          `expected a group name in [${group}:children], got "${line}"${line.includes(';') ? ' (a comment after a group name starts with "#", not ";")' : ''}`,
        );
      }
      const child = m[1] as string;
      if (!builder.hasGroup(child) || pendingChildren.has(child)) {
        const pending = pendingChildren.get(child) ?? { line: lineNo, parents: [] };
        pending.parents.push(group);
        pendingChildren.set(child, pending);
      }
      builder.addChild(group, child, lineNo);
    }
  });

  for (const [name, line] of varsOnly) {
    builder.fail(
      line,
      `section [${name}:vars] is for group "${name}", which is never declared; add a [${name}] section or fix the name`,
    );
  }
  for (const [name, pending] of pendingChildren) {
    builder.fail(
      pending.line,
      `[${pending.parents[0]}:children] names group "${name}", which is never declared; add a [${name}] section or fix the name`,
    );
  }
}

function isSectionKind(type: string): type is 'hosts' | 'children' | 'vars' {
  return type === 'hosts' || type === 'children' || type === 'vars';
}

// ---------------------------------------------------------------------------------------------
// YAML (ansible.builtin.yaml), read as YAML 1.1 like PyYAML (yaml11.ts).

function parseYaml(text: string, builder: InventoryBuilder): void {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, {
    lineCounter,
    prettyErrors: true,
    uniqueKeys: true,
    schema: 'failsafe',
    version: '1.1',
  });
  const lineOf = (node: unknown): number | undefined => {
    const range = (node as { range?: [number, number, number] } | null)?.range;
    return range ? lineCounter.linePos(range[0]).line : undefined;
  };
  const firstError = doc.errors[0];
  if (firstError) {
    const pos = firstError.linePos?.[0];
    const reason = (firstError.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '');
    builder.fail(pos?.line, `invalid YAML: ${reason}${pos ? ` (column ${pos.col})` : ''}`);
  }
  const ctx: YamlContext = {
    doc,
    builder,
    lineOf,
    value: (node) => {
      try {
        return yamlValue(node, doc);
      } catch (error) {
        if (error instanceof Yaml11Error)
          return builder.fail(lineOf(error.node) ?? lineOf(node), error.message);
        throw error;
      }
    },
    name: (node, what) => {
      let key: AnsibleValue;
      try {
        key = yamlValue(node, doc);
      } catch (error) {
        if (error instanceof Yaml11Error) return builder.fail(lineOf(node), error.message);
        throw error;
      }
      if (typeof key !== 'string' || key === '') {
        return builder.fail(
          lineOf(node),
          `${what} ${JSON.stringify(isScalar(node) ? String(node.value) : '?')} must be a string; enclose it in quotes`,
        );
      }
      return key;
    },
  };
  const root = doc.contents;
  if (root === null || (isScalar(root) && (root.value === null || root.value === ''))) {
    builder.fail(undefined, 'the YAML inventory is empty; expected a mapping of groups such as "all:"');
  }
  if (!isMap(root)) {
    builder.fail(
      lineOf(root),
      'a YAML inventory must be a mapping of group names (e.g. "all:"), not a list or a scalar',
    );
  }
  for (const pair of root.items) {
    const name = ctx.name(pair.key, 'group name');
    if (name === 'plugin') {
      builder.fail(
        lineOf(pair.key),
        'inventory plugin configuration files are not supported; list hosts statically',
      );
    }
    parseYamlGroup(name, pair.value, lineOf(pair.key), ctx);
  }
}

interface YamlContext {
  readonly doc: Document;
  readonly builder: InventoryBuilder;
  readonly lineOf: (node: unknown) => number | undefined;
  /** A node's value as Ansible types it. */
  readonly value: (node: unknown) => AnsibleValue;
  /** A group or host name: must load as a non-empty string. */
  readonly name: (node: unknown, what: string) => string;
}

function isNull(node: unknown, ctx: YamlContext): boolean {
  return node === null || node === undefined || (isScalar(node) && ctx.value(node) === null);
}

function parseYamlGroup(name: string, node: unknown, line: number | undefined, ctx: YamlContext): void {
  const { builder, lineOf } = ctx;
  builder.group(name, line);
  if (isNull(node, ctx)) return;
  if (!isMap(node)) {
    ctx.builder.fail(
      lineOf(node) ?? line,
      `group "${name}" must be a mapping with hosts, children and/or vars`,
    );
  }
  for (const pair of node.items) {
    const section = ctx.name(pair.key, 'key');
    const sectionLine = lineOf(pair.key);
    if (section === 'vars') {
      for (const [key, value] of Object.entries(groupVars(name, pair.value, sectionLine, ctx)))
        builder.setGroupVar(name, key, value, sectionLine);
      continue;
    }
    const entries = sectionEntries(name, section, pair.value, sectionLine, ctx);
    if (section === 'children') {
      for (const entry of entries) {
        builder.addChild(name, entry.key, entry.line);
        parseYamlGroup(entry.key, entry.value, entry.line, ctx);
      }
    } else if (section === 'hosts') {
      for (const entry of entries) {
        const fail: (reason: string) => never = (reason) => builder.fail(entry.line, reason);
        const pattern = parseHostPattern(entry.key, fail);
        const vars = new Map<string, AnsibleValue>();
        if (!isNull(entry.value, ctx)) {
          const value = ctx.value(entry.value);
          if (value === null || typeof value !== 'object' || Array.isArray(value) || value instanceof PyFloat)
            fail(`host "${entry.key}" must map to its vars (a mapping) or nothing`);
          for (const [key, v] of Object.entries(value as Record<string, AnsibleValue>)) vars.set(key, v);
        }
        for (const host of pattern.names) builder.addHost(host, name, pattern.port, vars, entry.line);
      }
    } else {
      builder.fail(
        sectionLine,
        `unknown key "${section}" in group "${name}"; only hosts, children and vars are allowed (to nest a group, put it under children)`,
      );
    }
  }
}

/** A group's `vars:` as Ansible loads them (a merge key `<<` applied; `vars: x` sets x to None). */
function groupVars(
  group: string,
  node: unknown,
  line: number | undefined,
  ctx: YamlContext,
): Record<string, AnsibleValue> {
  if (isNull(node, ctx)) return {};
  const value = ctx.value(node);
  if (typeof value === 'string') return { [value]: null };
  if (value === null || typeof value !== 'object' || Array.isArray(value) || value instanceof PyFloat) {
    return ctx.builder.fail(
      ctx.lineOf(node) ?? line,
      `"vars" of group "${group}" must be a mapping${isSeq(node) ? ', not a list' : ''}`,
    );
  }
  return value as Record<string, AnsibleValue>;
}

interface Entry {
  readonly key: string;
  readonly value: unknown;
  readonly line: number | undefined;
}

function sectionEntries(
  group: string,
  section: string,
  node: unknown,
  line: number | undefined,
  ctx: YamlContext,
): Entry[] {
  const { builder, lineOf } = ctx;
  if (isNull(node, ctx)) return [];
  // Ansible accepts a string as shorthand for a one-key mapping: `hosts: web1` is `hosts: { web1: }`.
  if (isScalar(node)) {
    const value = ctx.value(node);
    if (typeof value === 'string') return [{ key: value, value: null, line: lineOf(node) }];
  }
  if (!isMap(node)) {
    return builder.fail(
      lineOf(node) ?? line,
      `"${section}" of group "${group}" must be a mapping${isSeq(node) ? ', not a list' : ''}`,
    );
  }
  return node.items.map((pair) => ({
    key: ctx.name(pair.key, section === 'hosts' ? 'host name' : 'group name'),
    value: pair.value,
    line: lineOf(pair.key),
  }));
}
