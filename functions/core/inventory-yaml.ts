// YAML (ansible.builtin.yaml), read as YAML 1.1 like PyYAML (yaml11.ts).
import { type Document, isMap, isScalar, isSeq, LineCounter, parseDocument } from 'yaml';
import { type AnsibleValue, PyFloat } from './ansible-value.js';
import { parseHostPattern } from './inventory-host-pattern.js';
import type { InventoryBuilder } from './inventory-model.js';
import { Yaml11Error, yamlValue } from './yaml11.js';

export function parseYaml(text: string, builder: InventoryBuilder): void {
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
