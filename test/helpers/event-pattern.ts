// An EventBridge event-pattern matcher for tests: decides, as EventBridge does, whether an event matches
// the pattern of a synthesized rule. Implements the operators this project's rules use, and a few more:
// exact values (string, number, boolean, null), nested objects, arrays (any-of, on either side),
// prefix, suffix, anything-but (values, or {prefix}/{suffix}), exists, equals-ignore-case, numeric.
// An unknown operator throws: a pattern we cannot judge must not silently pass or fail.

export class EventPatternError extends Error {
  override name = 'EventPatternError';
}

type Pattern = { readonly [key: string]: unknown };

/** True when `event` matches `pattern` (both parsed JSON). */
export function matchesEventPattern(pattern: unknown, event: unknown): boolean {
  if (!isObject(pattern))
    throw new EventPatternError(`A pattern must be an object, got ${JSON.stringify(pattern)}.`);
  return matchObject(pattern, event, '');
}

function matchObject(pattern: Pattern, value: unknown, path: string): boolean {
  return Object.entries(pattern).every(([key, rule]) => {
    const where = path ? `${path}.${key}` : key;
    const present = isObject(value) && Object.hasOwn(value, key);
    const field = present ? (value as Record<string, unknown>)[key] : undefined;
    if (Array.isArray(rule)) return matchLeaf(rule, present, field, where);
    if (isObject(rule)) return present && isObject(field) && matchObject(rule, field, where);
    throw new EventPatternError(
      `Pattern field ${where} must be an array or an object, got ${JSON.stringify(rule)}.`,
    );
  });
}

/** A leaf: the field matches if it (or, for an array field, any of its elements) matches any condition. */
function matchLeaf(conditions: readonly unknown[], present: boolean, field: unknown, where: string): boolean {
  const existence = conditions.filter((c) => isObject(c) && Object.hasOwn(c, 'exists'));
  for (const c of existence) {
    const wanted = (c as { exists: unknown }).exists;
    if (typeof wanted !== 'boolean') throw new EventPatternError(`${where}: "exists" takes true or false.`);
    if (present === wanted) return true;
  }
  if (!present) return false;
  const others = conditions.filter((c) => !existence.includes(c));
  const values = Array.isArray(field) ? field : [field];
  return values.some((v) => others.some((c) => matchCondition(c, v, where)));
}

function matchCondition(condition: unknown, value: unknown, where: string): boolean {
  if (!isObject(condition)) return condition === value;
  const entries = Object.entries(condition);
  const [operator, operand] = entries[0] ?? [];
  if (entries.length !== 1 || operator === undefined) {
    throw new EventPatternError(
      `${where}: an operator object has exactly one key, got ${JSON.stringify(condition)}.`,
    );
  }
  switch (operator) {
    case 'prefix':
      return typeof value === 'string' && typeof operand === 'string' && value.startsWith(operand);
    case 'suffix':
      return typeof value === 'string' && typeof operand === 'string' && value.endsWith(operand);
    case 'equals-ignore-case':
      return (
        typeof value === 'string' &&
        typeof operand === 'string' &&
        value.toLowerCase() === operand.toLowerCase()
      );
    case 'anything-but':
      return anythingBut(operand, value, where);
    case 'numeric':
      return numeric(operand, value, where);
    default:
      throw new EventPatternError(`${where}: unsupported operator "${operator}".`);
  }
}

function anythingBut(operand: unknown, value: unknown, where: string): boolean {
  if (Array.isArray(operand)) return !operand.includes(value);
  if (isObject(operand)) {
    // anything-but {prefix} / {suffix}: the negation of that operator, on strings only.
    return typeof value === 'string' && !matchCondition(operand, value, `${where} (anything-but)`);
  }
  return operand !== value;
}

function numeric(operand: unknown, value: unknown, where: string): boolean {
  if (!Array.isArray(operand) || operand.length % 2 !== 0) {
    throw new EventPatternError(`${where}: "numeric" takes [op, number, …] pairs.`);
  }
  if (typeof value !== 'number') return false;
  for (let i = 0; i < operand.length; i += 2) {
    const op = operand[i];
    const bound = operand[i + 1];
    if (typeof bound !== 'number') throw new EventPatternError(`${where}: numeric bound must be a number.`);
    const ok =
      op === '='
        ? value === bound
        : op === '<'
          ? value < bound
          : op === '<='
            ? value <= bound
            : op === '>'
              ? value > bound
              : op === '>='
                ? value >= bound
                : undefined;
    if (ok === undefined)
      throw new EventPatternError(`${where}: unknown numeric operator ${JSON.stringify(op)}.`);
    if (!ok) return false;
  }
  return true;
}

function isObject(value: unknown): value is Pattern {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
