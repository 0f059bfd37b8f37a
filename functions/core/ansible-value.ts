// An inventory variable's value as Ansible holds it (docs/adr/0014-inventories-read-as-ansible-reads-them.md):
// the Python object the INI plugin's literal_eval or the YAML 1.1 loader produced. Two views of it:
// - `toJson`: what `ansible-inventory --list` prints (the differential test compares this);
// - `renderText`: the text a playbook gets from `{{ var }}`, which is also what autoprov matches rules
//   against, shows in `plan`/`validate`, and sends as an extra var (extra vars are always text).

/** A Python float: kept apart from int only so it renders as Python does (`1000.0`, `1e+20`). */
export class PyFloat {
  constructor(readonly value: number) {}
}

/** A YAML 1.1 timestamp: Python's date/datetime, printed by ansible-inventory in ISO form, by `{{ }}` with str(). */
export class PyTimestamp {
  constructor(
    readonly iso: string,
    readonly text: string,
  ) {}
}

export type AnsibleValue =
  | PyTimestamp
  | string
  | number
  | boolean
  | null
  | PyFloat
  | readonly AnsibleValue[]
  | { readonly [key: string]: AnsibleValue };

/** A value as JSON (what ansible-inventory prints): floats become plain numbers. */
export type JsonValue =
  | string
  | number
  | boolean
  | null
  | readonly JsonValue[]
  | { readonly [key: string]: JsonValue };

export function toJson(value: AnsibleValue): JsonValue {
  if (value instanceof PyFloat) return value.value;
  if (value instanceof PyTimestamp) return value.iso;
  if (Array.isArray(value)) return value.map(toJson);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value as Record<string, AnsibleValue>).map(([k, v]) => [k, toJson(v)]),
    );
  }
  return value as string | number | boolean | null;
}

/** Python's repr of a float: `1000.0`, `0.1`, `1e+20`, `1.5e-07`, `inf`, `nan`. */
export function pythonFloatRepr(n: number): string {
  if (Number.isNaN(n)) return 'nan';
  if (!Number.isFinite(n)) return n > 0 ? 'inf' : '-inf';
  if (n === 0) return Object.is(n, -0) ? '-0.0' : '0.0';
  const abs = Math.abs(n);
  if (abs >= 1e16 || abs < 1e-4) {
    // JS and Python agree on the shortest digits; Python writes at least two exponent digits.
    return n.toExponential().replace(/e([+-])(\d)$/, 'e$10$2');
  }
  const text = String(n);
  return Number.isInteger(n) ? `${text}.0` : text;
}

/**
 * The text `{{ var }}` gives in a playbook: strings as they are, numbers as Python prints them,
 * booleans `True`/`False`, None as the empty string (Ansible renders None as ''). Lists and mappings
 * are sent as JSON text (a playbook reads them back with `from_json`).
 */
export function renderText(value: AnsibleValue): string {
  if (typeof value === 'string') return value;
  if (value === null) return '';
  if (typeof value === 'boolean') return value ? 'True' : 'False';
  if (typeof value === 'number') return String(value);
  if (value instanceof PyFloat) return pythonFloatRepr(value.value);
  if (value instanceof PyTimestamp) return value.text;
  return JSON.stringify(toJson(value));
}
