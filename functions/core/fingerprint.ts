// Content hashes: the match fingerprint ("did the rules or playbooks change since the last success?",
// docs/architecture.md "Configuration and host facts") and the facts hash ("did this detection change anything?", docs/architecture.md "Sweep").
// Both hash canonical JSON, so they are stable across object key order and across processes.
import { createHash } from 'node:crypto';
import type { HostFacts, MatchResult } from './types.js';

/** A value canonical JSON cannot represent faithfully (bigint, function, NaN, Map, a cycle, …). */
export class CanonicalJsonError extends Error {
  override name = 'CanonicalJsonError';
}

/**
 * JSON with object keys sorted (by UTF-16 code units) at every depth; arrays keep their order.
 * Like JSON.stringify, `undefined` object properties are omitted. Unlike it, values JSON would
 * silently change (NaN/Infinity → null, Map → {}, Date → string) are refused, so two different
 * inputs can never collapse into the same text by accident.
 */
export function canonicalJson(value: unknown): string {
  return encode(value, '$', new Set());
}

function encode(value: unknown, path: string, ancestors: Set<object>): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value))
        throw new CanonicalJsonError(`${path}: ${value} is not representable in JSON`);
      return JSON.stringify(value);
    case 'object':
      break;
    default:
      throw new CanonicalJsonError(`${path}: a ${typeof value} is not representable in JSON`);
  }
  if (ancestors.has(value)) throw new CanonicalJsonError(`${path}: cyclic reference`);
  ancestors.add(value);
  try {
    if (Array.isArray(value)) {
      // Array.from visits holes too: a sparse array encodes its holes as null, like JSON.stringify.
      const items = Array.from(value as unknown[], (item, index) =>
        encode(item ?? null, `${path}[${index}]`, ancestors),
      );
      return `[${items.join(',')}]`;
    }
    const proto = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) {
      throw new CanonicalJsonError(
        `${path}: only plain objects and arrays are supported, got ${proto?.constructor?.name}`,
      );
    }
    const record = value as Record<string, unknown>;
    const members: string[] = [];
    for (const key of Object.keys(record).sort()) {
      const member = record[key];
      if (member === undefined) continue;
      members.push(`${JSON.stringify(key)}:${encode(member, `${path}.${key}`, ancestors)}`);
    }
    return `{${members.join(',')}}`;
  } finally {
    ancestors.delete(value);
  }
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/**
 * What a successful run applied: the ordered playbooks' file, extra vars and check flag, plus the
 * bundle's content hash. Timeouts and retry budgets are left out on purpose: changing how long we
 * wait or how often we retry does not change what ends up on the host, so it must not trigger a
 * re-provision. `v` versions the format; bumping it re-provisions everything once.
 */
export function fingerprint(match: MatchResult, bundleHash: string): string {
  const playbooks = match.playbooks.map(({ file, extraVars, check }) => ({ file, extraVars, check }));
  return sha256Hex(canonicalJson({ v: 1, playbooks, bundleHash }));
}

/**
 * Hash of the whole facts snapshot, groups taken as a set (sorted, unique) since their order
 * carries no meaning. Any change a rule or a notification could see changes the hash.
 */
export function factsHash(facts: HostFacts): string {
  const groups = [...new Set(facts.groups)].sort();
  return sha256Hex(canonicalJson({ ...facts, groups }));
}
