// Static Ansible inventories (INI and YAML) → one flat record per host: its instance id, every group
// it belongs to and its effective vars. Follows Ansible's own semantics (ini.py / yaml.py plugins and
// InventoryData.reconcile_inventory) closely enough that `ansible-inventory --list` agrees; where
// Ansible only warns (unknown YAML keys, non-mapping groups) we fail, because a silently ignored
// typo would leave a host unprovisioned.
import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { type Document, isMap, isScalar, isSeq, LineCounter, type Node, parseDocument } from 'yaml';
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

/** Parses an INI or YAML inventory (by extension; otherwise by sniffing the first meaningful line). */
export function parseInventory(text: string, file: string): InventoryHost[] {
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
  readonly vars: Map<string, string>;
  line: number | undefined;
}

interface HostDef {
  readonly name: string;
  readonly vars: Map<string, string>;
  readonly line: number | undefined;
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
      group = { name, hosts: new Set(), children: new Set(), vars: new Map(), line };
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

  addHost(name: string, group: string, vars: ReadonlyMap<string, string>, line: number | undefined): void {
    let host = this.hosts.get(name);
    if (!host) {
      host = { name, vars: new Map(), line };
      this.hosts.set(name, host);
    }
    // A host listed again adds vars; the later definition wins, as in Ansible.
    for (const [key, value] of vars) host.vars.set(key, value);
    this.group(group, line).hosts.add(name);
  }

  setGroupVar(group: string, key: string, value: string, line: number | undefined): void {
    this.group(group, line).vars.set(key, value);
  }

  finish(): InventoryHost[] {
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
    const result: InventoryHost[] = [];
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
      // Precedence: all < parent < child (by depth, then name, as Ansible's sort_groups) < host.
      const ordered = [...groups].sort((a, b) => (depth.get(a) ?? 0) - (depth.get(b) ?? 0) || compare(a, b));
      const vars = new Map<string, string>();
      for (const name of ordered) {
        for (const [key, value] of this.groups.get(name)?.vars ?? []) vars.set(key, value);
      }
      for (const [key, value] of host.vars) vars.set(key, value);

      const instanceId = this.instanceIdOf(host, vars.get(SSM_INSTANCE_ID_VAR));
      const previous = byInstanceId.get(instanceId);
      if (previous) {
        this.fail(
          host.line,
          `hosts "${previous.name}"${lineSuffix(previous.line)} and "${host.name}"${lineSuffix(host.line)} both map to instance id ${instanceId}; list each managed node under one host name only`,
        );
      }
      byInstanceId.set(instanceId, host);
      result.push({
        name: host.name,
        instanceId,
        groups: [...groups].sort(compare),
        vars: Object.fromEntries([...vars].sort(([a], [b]) => compare(a, b))),
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
// Host patterns: `name`, `name:port`, `web[01:03]`, `db-[a:c]`, `n[1:9:2]`, several ranges.

const LETTERS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';

interface HostPattern {
  readonly names: string[];
  readonly port?: string;
}

function parseHostPattern(pattern: string, fail: (reason: string) => never): HostPattern {
  let name = pattern;
  let port: string | undefined;
  const colons = outsideBrackets(pattern, ':');
  if (colons.length === 1) {
    const at = colons[0] as number;
    const suffix = pattern.slice(at + 1);
    if (suffix === '') fail(`invalid host pattern "${pattern}": a trailing ":" must be followed by a port`);
    if (/^\d+$/.test(suffix)) {
      name = pattern.slice(0, at);
      port = suffix;
    }
  }
  if (name === '') fail(`invalid host pattern "${pattern}": empty host name`);
  return port === undefined ? { names: expandRanges(name, fail) } : { names: expandRanges(name, fail), port };
}

function outsideBrackets(text: string, char: string): number[] {
  const found: number[] = [];
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '[') depth++;
    else if (c === ']') depth--;
    else if (c === char && depth === 0) found.push(i);
  }
  return found;
}

function expandRanges(pattern: string, fail: (reason: string) => never): string[] {
  const open = pattern.indexOf('[');
  if (open < 0) {
    if (pattern.includes(']')) fail(`invalid host range in "${pattern}": "]" without "["`);
    return [pattern];
  }
  const close = pattern.indexOf(']', open);
  if (close < 0) fail(`invalid host range in "${pattern}": "[" is never closed`);
  const head = pattern.slice(0, open);
  const body = pattern.slice(open + 1, close);
  const tail = pattern.slice(close + 1);
  const bad = (why: string): never =>
    fail(
      `invalid host range [${body}] in "${pattern}": ${why} (expected [begin:end] or [begin:end:step], e.g. web[01:03] or db-[a:c])`,
    );
  const bounds = body.split(':');
  if (bounds.length < 2 || bounds.length > 3) bad('wrong number of ":"');
  const begin = bounds[0] === '' ? '0' : (bounds[0] as string);
  const end = bounds[1] as string;
  const stepText = bounds[2] ?? '1';
  if (end === '') bad('missing end');
  if (!/^[1-9]\d*$/.test(stepText)) bad('step must be a positive integer');
  const step = Number(stepText);
  let items: string[];
  if (/^\d+$/.test(begin) && /^\d+$/.test(end)) {
    const width = begin.length > 1 && begin.startsWith('0') ? begin.length : 0;
    if (width > 0 && end.length !== width) bad('zero-padded begin and end must have the same width');
    const from = Number(begin);
    const to = Number(end);
    if (from > to) bad('begin is greater than end');
    if ((to - from) / step > 100_000) bad('range is too large');
    items = [];
    for (let i = from; i <= to; i += step) items.push(String(i).padStart(width, '0'));
  } else if (/^[A-Za-z]$/.test(begin) && /^[A-Za-z]$/.test(end)) {
    const from = LETTERS.indexOf(begin);
    const to = LETTERS.indexOf(end);
    if (from > to) bad('begin is after end');
    items = [];
    for (let i = from; i <= to; i += step) items.push(LETTERS[i] as string);
  } else {
    items = bad('bounds must both be integers or both single letters');
  }
  return items.flatMap((item) => expandRanges(`${head}${item}${tail}`, fail));
}

// ---------------------------------------------------------------------------------------------
// INI.

const SECTION = /^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:[#;].*)?$/;
const GROUP_NAME = /^([^:\]\s]+)\s*(?:[#;].*)?$/;

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

    if (line.startsWith('[')) {
      const m = SECTION.exec(line);
      if (!m) {
        if (!/\]\s*(?:[#;].*)?$/.test(line)) fail(`unclosed section header "${line}": add the closing "]"`);
        fail(
          `invalid section header "${line}": expected [group], [group:children] or [group:vars], with no spaces in the name`,
        );
      }
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

    if (kind === 'hosts') {
      const tokens = shellSplit(line, fail);
      const patternText = tokens[0];
      if (patternText === undefined) return;
      const pattern = parseHostPattern(patternText, fail);
      const vars = new Map<string, string>();
      for (const token of tokens.slice(1)) {
        const eq = token.indexOf('=');
        if (eq <= 0) fail(`expected key=value host variable, got "${token}"`);
        vars.set(token.slice(0, eq), token.slice(eq + 1));
      }
      if (pattern.port !== undefined) vars.set('ansible_port', pattern.port);
      for (const name of pattern.names) builder.addHost(name, group, vars, lineNo);
    } else if (kind === 'vars') {
      const eq = line.indexOf('=');
      if (eq < 0) fail(`expected key=value in [${group}:vars], got "${line}"`);
      const key = line.slice(0, eq).trim();
      if (key === '') fail(`missing variable name before "=" in [${group}:vars]`);
      builder.setGroupVar(group, key, unquote(line.slice(eq + 1).trim()), lineNo);
    } else {
      const m = GROUP_NAME.exec(line);
      if (!m) fail(`expected a group name in [${group}:children], got "${line}"`);
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

/** Splits a host line like shlex(comments=True): quotes group, `#`/`;` at a token start begins a comment. */
function shellSplit(line: string, fail: (reason: string) => never): string[] {
  const tokens: string[] = [];
  let current: string | undefined;
  let i = 0;
  while (i < line.length) {
    const c = line[i] as string;
    if (/\s/.test(c)) {
      if (current !== undefined) tokens.push(current);
      current = undefined;
      i++;
    } else if ((c === '#' || c === ';') && current === undefined) {
      break;
    } else if (c === '"' || c === "'") {
      const end = line.indexOf(c, i + 1);
      if (end < 0) fail(`unclosed ${c} quote in "${line}"`);
      current = (current ?? '') + line.slice(i + 1, end);
      i = end + 1;
    } else if (c === '\\' && i + 1 < line.length) {
      current = (current ?? '') + line[i + 1];
      i += 2;
    } else {
      current = (current ?? '') + c;
      i++;
    }
  }
  if (current !== undefined) tokens.push(current);
  return tokens;
}

function unquote(value: string): string {
  const m = /^(["'])(.*)\1$/.exec(value);
  return m ? (m[2] as string) : value;
}

// ---------------------------------------------------------------------------------------------
// YAML.

function parseYaml(text: string, builder: InventoryBuilder): void {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: true, uniqueKeys: true });
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
    const name = keyText(pair.key, builder, lineOf);
    if (name === 'plugin') {
      builder.fail(
        lineOf(pair.key),
        'inventory plugin configuration files are not supported; list hosts statically',
      );
    }
    parseYamlGroup(name, pair.value, lineOf(pair.key), doc, builder, lineOf);
  }
}

function keyText(
  key: unknown,
  builder: InventoryBuilder,
  lineOf: (n: unknown) => number | undefined,
): string {
  if (!isScalar(key) || key.value === null || typeof key.value === 'object') {
    builder.fail(lineOf(key), 'expected a plain name as key');
  }
  return String(key.value);
}

function parseYamlGroup(
  name: string,
  node: unknown,
  line: number | undefined,
  doc: Document,
  builder: InventoryBuilder,
  lineOf: (n: unknown) => number | undefined,
): void {
  builder.group(name, line);
  if (node === null || node === undefined || (isScalar(node) && node.value === null)) return;
  if (!isMap(node)) {
    builder.fail(lineOf(node) ?? line, `group "${name}" must be a mapping with hosts, children and/or vars`);
  }
  for (const pair of node.items) {
    const section = keyText(pair.key, builder, lineOf);
    const sectionLine = lineOf(pair.key);
    const entries = sectionEntries(name, section, pair.value, sectionLine, builder, lineOf);
    if (section === 'vars') {
      for (const entry of entries)
        builder.setGroupVar(name, entry.key, varValue(entry.value, doc), entry.line);
    } else if (section === 'children') {
      for (const entry of entries) {
        builder.addChild(name, entry.key, entry.line);
        parseYamlGroup(entry.key, entry.value, entry.line, doc, builder, lineOf);
      }
    } else if (section === 'hosts') {
      for (const entry of entries) {
        const fail: (reason: string) => never = (reason) => builder.fail(entry.line, reason);
        const pattern = parseHostPattern(entry.key, fail);
        const vars = new Map<string, string>();
        if (entry.value !== null && !(isScalar(entry.value) && entry.value.value === null)) {
          if (!isMap(entry.value)) fail(`host "${entry.key}" must map to its vars (a mapping) or nothing`);
          for (const v of entry.value.items)
            vars.set(keyText(v.key, builder, lineOf), varValue(v.value, doc));
        }
        if (pattern.port !== undefined) vars.set('ansible_port', pattern.port);
        for (const host of pattern.names) builder.addHost(host, name, vars, entry.line);
      }
    } else {
      builder.fail(
        sectionLine,
        `unknown key "${section}" in group "${name}"; only hosts, children and vars are allowed (to nest a group, put it under children)`,
      );
    }
  }
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
  builder: InventoryBuilder,
  lineOf: (n: unknown) => number | undefined,
): Entry[] {
  if (node === null || node === undefined) return [];
  if (isScalar(node)) {
    if (node.value === null) return [];
    // Ansible accepts `hosts: web1` as shorthand for `hosts: { web1: }`.
    if (section !== 'vars' && typeof node.value === 'string')
      return [{ key: node.value, value: null, line: lineOf(node) }];
  }
  if (!isMap(node)) {
    builder.fail(
      lineOf(node) ?? line,
      `"${section}" of group "${group}" must be a mapping${isSeq(node) ? ', not a list' : ''}`,
    );
  }
  return node.items.map((pair) => ({
    key: keyText(pair.key, builder, lineOf),
    value: pair.value,
    line: lineOf(pair.key),
  }));
}

/** Inventory var values as strings: scalars as written, null as '', lists and maps as JSON. */
function varValue(node: unknown, doc: Document): string {
  if (node === null || node === undefined) return '';
  const value: unknown = (node as Node).toJS ? (node as Node).toJS(doc) : node;
  if (value === null || value === undefined) return '';
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}
