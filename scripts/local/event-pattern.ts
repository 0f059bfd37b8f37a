// EventBridge event-pattern matching for the local event bus: the stack's rules (as synthesized) decide
// which simulated events reach which target, so a too-narrow or too-broad pattern shows up locally.
// Supported: exact values (string, number, boolean, null), nested objects, array "any of" (on both the
// pattern side and the event side), prefix, suffix, equals-ignore-case, wildcard, anything-but (value,
// list, prefix, suffix), exists, numeric ranges and $or. Not supported: cidr (throws, so a rule using it
// is noticed rather than silently never matching). The operators as "Comparison operators for use in event
// patterns in Amazon EventBridge" lists them (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-pattern-operators.html).

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

export class UnsupportedPatternError extends Error {
  override name = 'UnsupportedPatternError';
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const validated = new WeakSet<object>();

/** True when `event` matches the EventBridge `pattern`. */
export function matchesEventPattern(pattern: unknown, event: unknown): boolean {
  if (!isObject(pattern)) throw new UnsupportedPatternError('An event pattern must be a JSON object');
  if (!validated.has(pattern)) {
    validatePattern(pattern);
    validated.add(pattern);
  }
  return matchObject(pattern, isObject(event) ? event : {});
}

const OPERATORS = new Set([
  'prefix',
  'suffix',
  'equals-ignore-case',
  'wildcard',
  'anything-but',
  'numeric',
  'exists',
]);

/** Rejects what this matcher does not implement, whatever the event, so a rule cannot silently never match. */
function validatePattern(pattern: JsonObject): void {
  for (const [key, rule] of Object.entries(pattern)) {
    if (key === '$or') {
      if (!Array.isArray(rule)) throw new UnsupportedPatternError('$or must be an array of patterns');
      for (const alternative of rule) {
        if (!isObject(alternative)) throw new UnsupportedPatternError('$or alternatives must be patterns');
        validatePattern(alternative);
      }
    } else if (isObject(rule)) {
      validatePattern(rule);
    } else if (!Array.isArray(rule)) {
      throw new UnsupportedPatternError(`Pattern field "${key}" must be an array or an object`);
    } else {
      for (const matcher of rule) {
        if (!isObject(matcher)) continue;
        const operators = Object.keys(matcher);
        const [operator] = operators;
        if (operators.length !== 1 || operator === undefined || !OPERATORS.has(operator)) {
          throw new UnsupportedPatternError(
            `Unsupported matcher ${JSON.stringify(matcher)} in "${key}" (local event bus supports ${[...OPERATORS].join(', ')})`,
          );
        }
      }
    }
  }
}

function matchObject(pattern: JsonObject, event: JsonObject): boolean {
  for (const [key, rule] of Object.entries(pattern)) {
    if (key === '$or') {
      if (!Array.isArray(rule)) throw new UnsupportedPatternError('$or must be an array of patterns');
      if (!rule.some((alternative) => isObject(alternative) && matchObject(alternative, event))) return false;
      continue;
    }
    const present = Object.hasOwn(event, key);
    const value = present ? event[key] : undefined;
    if (isObject(rule)) {
      // Nested pattern: the event field must be an object that matches it.
      if (!isObject(value) || !matchObject(rule, value)) return false;
      continue;
    }
    if (!Array.isArray(rule)) {
      throw new UnsupportedPatternError(`Pattern field "${key}" must be an array or an object`);
    }
    if (!matchLeaf(rule, present, value)) return false;
  }
  return true;
}

function matchLeaf(rules: Json[], present: boolean, value: Json | undefined): boolean {
  // An "exists: false" rule is satisfied only by absence; every other rule needs a value.
  const values: Json[] = !present ? [] : Array.isArray(value) ? value : [value as Json];
  return rules.some((rule) => {
    if (isObject(rule) && 'exists' in rule) {
      return rule.exists === true ? present && !isObject(value) : !present;
    }
    return values.some((candidate) => !isObject(candidate) && matchOne(rule, candidate));
  });
}

function matchOne(rule: Json, value: Json): boolean {
  if (!isObject(rule)) return rule === value;
  const [operator, ...others] = Object.keys(rule);
  if (operator === undefined || others.length > 0) {
    throw new UnsupportedPatternError(`Matcher ${JSON.stringify(rule)} must have exactly one operator`);
  }
  const arg = rule[operator] as Json;
  switch (operator) {
    case 'prefix':
      return typeof value === 'string' && stringRule(arg, value, (a, v) => v.startsWith(a));
    case 'suffix':
      return typeof value === 'string' && stringRule(arg, value, (a, v) => v.endsWith(a));
    case 'equals-ignore-case':
      return (
        typeof value === 'string' && typeof arg === 'string' && arg.toLowerCase() === value.toLowerCase()
      );
    case 'wildcard':
      return typeof value === 'string' && typeof arg === 'string' && wildcardToRegExp(arg).test(value);
    case 'anything-but':
      return !anythingButExcludes(arg, value);
    case 'numeric':
      return typeof value === 'number' && Array.isArray(arg) && numericMatch(arg, value);
    default:
      throw new UnsupportedPatternError(`Unsupported matcher "${operator}" in the local event bus`);
  }
}

/** `prefix`/`suffix` take a string, or `{ "equals-ignore-case": string }`. */
function stringRule(arg: Json, value: string, test: (a: string, v: string) => boolean): boolean {
  if (typeof arg === 'string') return test(arg, value);
  if (isObject(arg) && typeof arg['equals-ignore-case'] === 'string') {
    return test(arg['equals-ignore-case'].toLowerCase(), value.toLowerCase());
  }
  throw new UnsupportedPatternError(`Unsupported prefix/suffix argument ${JSON.stringify(arg)}`);
}

function anythingButExcludes(arg: Json, value: Json): boolean {
  if (Array.isArray(arg)) return arg.some((excluded) => excluded === value);
  if (isObject(arg)) return matchOne(arg, value);
  return arg === value;
}

function wildcardToRegExp(pattern: string): RegExp {
  const escaped = pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*');
  return new RegExp(`^${escaped}$`, 's');
}

function numericMatch(conditions: Json[], value: number): boolean {
  for (let i = 0; i < conditions.length; i += 2) {
    const op = conditions[i];
    const bound = conditions[i + 1];
    if (typeof bound !== 'number') throw new UnsupportedPatternError('numeric bounds must be numbers');
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
    if (ok === undefined) throw new UnsupportedPatternError(`Unsupported numeric operator ${String(op)}`);
    if (!ok) return false;
  }
  return true;
}
