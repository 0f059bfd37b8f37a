// INI (ansible.builtin.ini). Comments: a line starting with `#` or `;`; after a section header or a
// child group name, `#` only; on a host line, `#` anywhere outside quotes (shlex). Values: literal_eval.
import type { AnsibleValue } from './ansible-value.js';
import { parseHostPattern } from './inventory-host-pattern.js';
import type { InventoryBuilder } from './inventory-model.js';
import { literalEval, shlexSplit } from './python-literal.js';

const SECTION = /^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:#.*)?$/;
const GROUP_NAME = /^([^:\]\s]+)\s*(?:#.*)?$/;

export function parseIni(text: string, builder: InventoryBuilder): void {
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
