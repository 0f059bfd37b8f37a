// YAML inventories are read by Ansible with PyYAML: YAML 1.1, where `yes`/`no`/`on`/`off` are booleans,
// `0777` is octal, `1:30` is sexagesimal and `2001-12-14` a date ("YAML 1.1" types, https://yaml.org/type/).
// The `yaml` package parses the structure (schema `failsafe`: every scalar stays text), and this module
// types plain scalars with PyYAML's own implicit resolvers (yaml/resolver.py) and constructors
// (yaml/constructor.py, SafeConstructor), so a value means here what it means to Ansible.
import { type Document, isAlias, isMap, isScalar, isSeq, type Node, type Scalar } from 'yaml';
import { type AnsibleValue, PyFloat, PyTimestamp } from './ansible-value.js';

const BOOL = /^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$/;
const TRUE = /^(?:yes|Yes|YES|true|True|TRUE|on|On|ON)$/;
const NULL = /^(?:~|null|Null|NULL|)$/;
const INT =
  /^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$/;
const FLOAT =
  /^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$/;
const TIMESTAMP =
  /^(?:(\d{4})-(\d{2})-(\d{2})|(\d{4})-(\d{1,2})-(\d{1,2})(?:[Tt]|[ \t]+)(\d{1,2}):(\d{2}):(\d{2})(?:\.(\d*))?(?:[ \t]*(Z|([-+])(\d{1,2})(?::(\d{2}))?))?)$/;

/** Thrown for a value Ansible cannot load (or we cannot reproduce): the caller reports it with its line. */
export class Yaml11Error extends Error {
  constructor(
    readonly node: unknown,
    message: string,
  ) {
    super(message);
  }
}

/** PyYAML's construct_yaml_int. */
function constructInt(text: string): number {
  let value = text.replace(/_/g, '');
  const sign = value.startsWith('-') ? -1 : 1;
  if (value.startsWith('-') || value.startsWith('+')) value = value.slice(1);
  if (value === '0') return 0;
  if (value.startsWith('0b')) return sign * Number.parseInt(value.slice(2), 2);
  if (value.startsWith('0x')) return sign * Number.parseInt(value.slice(2), 16);
  if (value.startsWith('0')) return sign * Number.parseInt(value, 8);
  if (value.includes(':')) return sign * sexagesimal(value);
  return sign * Number(value);
}

/** PyYAML's construct_yaml_float. */
function constructFloat(text: string): PyFloat {
  let value = text.replace(/_/g, '').toLowerCase();
  const sign = value.startsWith('-') ? -1 : 1;
  if (value.startsWith('-') || value.startsWith('+')) value = value.slice(1);
  if (value === '.inf') return new PyFloat(sign * Number.POSITIVE_INFINITY);
  if (value === '.nan') return new PyFloat(Number.NaN);
  if (value.includes(':')) return new PyFloat(sign * sexagesimal(value));
  return new PyFloat(sign * Number(value));
}

function sexagesimal(value: string): number {
  return value.split(':').reduce((total, part) => total * 60 + Number(part), 0);
}

/** PyYAML's construct_yaml_timestamp, as Python prints the date/datetime (isoformat and str()). */
function constructTimestamp(text: string): PyTimestamp {
  const m = TIMESTAMP.exec(text) as RegExpExecArray;
  const pad = (n: string | undefined, width = 2) => (n ?? '0').padStart(width, '0');
  if (m[1] !== undefined) {
    const date = `${m[1]}-${m[2]}-${m[3]}`;
    return new PyTimestamp(date, date);
  }
  const date = `${m[4]}-${pad(m[5])}-${pad(m[6])}`;
  let time = `${pad(m[7])}:${m[8]}:${m[9]}`;
  const fraction = (m[10] ?? '').slice(0, 6);
  if (fraction !== '' && Number(fraction) !== 0) time += `.${fraction.padEnd(6, '0')}`;
  let zone = '';
  if (m[12] !== undefined) zone = `${m[12]}${pad(m[13])}:${pad(m[14])}`;
  else if (m[11] === 'Z') zone = '+00:00';
  if (zone === '-00:00') zone = '+00:00';
  return new PyTimestamp(`${date}T${time}${zone}`, `${date} ${time}${zone}`);
}

/** What PyYAML makes of a plain (unquoted, untagged) scalar. */
export function resolvePlain(text: string): AnsibleValue {
  if (BOOL.test(text)) return TRUE.test(text);
  if (NULL.test(text)) return null;
  if (INT.test(text)) return constructInt(text);
  if (FLOAT.test(text)) return constructFloat(text);
  if (TIMESTAMP.test(text)) return constructTimestamp(text);
  return text;
}

const TAG = 'tag:yaml.org,2002:';

function scalarValue(node: Scalar): AnsibleValue {
  const text = String(node.value ?? '');
  const tag = node.tag;
  if (tag === undefined || tag === '!') {
    return node.type === 'PLAIN' && tag === undefined ? resolvePlain(text) : text;
  }
  if (tag === `${TAG}str`) return text;
  const resolved = resolvePlain(text);
  const ok =
    (tag === `${TAG}int` && typeof resolved === 'number') ||
    (tag === `${TAG}float` && (resolved instanceof PyFloat || typeof resolved === 'number')) ||
    (tag === `${TAG}bool` && typeof resolved === 'boolean') ||
    (tag === `${TAG}null` && resolved === null);
  if (ok) return tag === `${TAG}float` && typeof resolved === 'number' ? new PyFloat(resolved) : resolved;
  throw new Yaml11Error(
    node,
    `the tag ${tag.replace(TAG, '!!')} on "${text}" is not supported here; remove the tag or quote the value`,
  );
}

/** A node's value as Ansible loads it: YAML 1.1 scalars, aliases followed, `<<` merge keys applied. */
export function yamlValue(node: unknown, doc: Document): AnsibleValue {
  if (node === null || node === undefined) return null;
  if (isAlias(node)) return yamlValue(node.resolve(doc), doc);
  if (isScalar(node)) return scalarValue(node);
  if (isSeq(node)) return node.items.map((item) => yamlValue(item, doc));
  if (isMap(node)) {
    const out: Record<string, AnsibleValue> = {};
    const set = (key: string, value: AnsibleValue) =>
      Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
    const merged: Record<string, AnsibleValue>[] = [];
    for (const pair of node.items) {
      if (isScalar(pair.key) && pair.key.type === 'PLAIN' && pair.key.value === '<<') {
        const source = isAlias(pair.value) ? pair.value.resolve(doc) : pair.value;
        const maps = isSeq(source) ? source.items : [source];
        for (const map of maps) {
          const value = yamlValue(map, doc);
          if (value === null || typeof value !== 'object' || Array.isArray(value) || value instanceof PyFloat)
            throw new Yaml11Error(pair.key, 'a merge key (<<) must refer to a mapping or a list of mappings');
          merged.push(value as Record<string, AnsibleValue>);
        }
        continue;
      }
      set(keyValue(pair.key, doc), yamlValue(pair.value, doc));
    }
    // PyYAML's flatten_mapping: explicit keys win, then earlier merged mappings over later ones.
    for (const map of merged) for (const [k, v] of Object.entries(map)) if (!Object.hasOwn(out, k)) set(k, v);
    return out;
  }
  throw new Yaml11Error(node, 'unsupported YAML node');
}

/** A mapping key as the JSON key Ansible prints (`1` → "1", `yes` → "true"). */
export function keyValue(node: unknown, doc: Document): string {
  const value = yamlValue(node as Node, doc);
  if (typeof value === 'string') return value;
  if (value === null) return 'null';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'number') return String(value);
  if (value instanceof PyFloat) return String(value.value);
  if (value instanceof PyTimestamp) return value.iso;
  throw new Yaml11Error(node, 'a mapping key must be a scalar');
}
