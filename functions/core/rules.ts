// playbooks/rules.yaml → RulesConfig (docs/architecture.md "Configuration and host facts"). Validation is the product's first line of defence:
// a bad file must fail `cdk synth` / `autoprov validate` with every problem listed at once, each as
// `<file>: <path>: <reason>`, never at 3 a.m. on an instance.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { type Document, isScalar, isSeq, LineCounter, parseDocument } from 'yaml';
import { z } from 'zod';
import { DEFAULT_ROLLOUT, type Limit, LimitError, parseLimit, type RolloutSettings } from './admission.js';
import { isSafeKey, isSafeValue, MAX_VALUE_LENGTH } from './extra-vars.js';
import { InventoryError, loadInventoryFile } from './inventory.js';
import type { Rule, RuleDefaults, RulesConfig, TagSelector } from './types.js';

export interface RulesIssue {
  readonly file: string;
  /** Where in the document, e.g. `rules[2].playbooks[0].file`; `(root)` for the document itself. */
  readonly path: string;
  readonly message: string;
}

export class RulesValidationError extends Error {
  override name = 'RulesValidationError';
  constructor(readonly issues: RulesIssue[]) {
    const file = issues[0]?.file ?? 'rules';
    super(
      `${file} is invalid (${issues.length} issue${issues.length === 1 ? '' : 's'}):\n` +
        issues.map((i) => `  ${i.file}: ${i.path}: ${i.message}`).join('\n'),
    );
  }
}

export const DEFAULT_OPT_IN: TagSelector = { tagKey: 'autoprov:enabled', tagValue: 'true' };
export const DEFAULT_HOLD: TagSelector = { tagKey: 'autoprov:hold', tagValue: 'true' };
export const DEFAULT_GROUPS_TAG = 'autoprov:groups';

// Rollouts and drift (issue 15, docs/adr/0015-admission-slots-for-rollouts-and-quotas.md): types.ts's Rule and
// RuleDefaults carry `rollout`, `reapplyEverySeconds` and `drift` (so the compiled bundle does); what rules.ts
// guarantees on top is that `defaults.rollout` is always resolved.
export type { DriftMode } from './types.js';

export interface ResolvedRuleDefaults extends RuleDefaults {
  /** How a rollout advances in the `default` lane, and what a rule's `rollout` starts from. */
  readonly rollout: RolloutSettings;
}

/** A rule as rules.ts resolves it: its `rollout` over `defaults.rollout`, `reapplyEvery` in seconds with its `drift`. */
export type ResolvedRule = Rule;

export interface ResolvedRulesConfig extends RulesConfig {
  readonly defaults: ResolvedRuleDefaults;
  readonly rules: readonly ResolvedRule[];
}

export const DEFAULT_RULE_DEFAULTS: ResolvedRuleDefaults = {
  maxAttempts: 3,
  backoffSeconds: 60,
  timeoutSeconds: 1800,
  check: false,
  reapplyOnChange: true,
  agentWaitSeconds: 600,
  rollout: DEFAULT_ROLLOUT,
};

/**
 * `reapplyEvery` bounds. At least 30 minutes: every re-apply runs the rule's playbooks on every matching host
 * (in waves), so a shorter period keeps the fleet busy re-running them; the sweep that finds re-applies due runs
 * every 5 minutes by default. At most 365 days.
 */
export const REAPPLY_EVERY_MIN_SECONDS = 30 * 60;
export const REAPPLY_EVERY_MAX_SECONDS = 365 * 86_400;

const DURATION_UNITS = { m: 60, h: 3600, d: 86_400 } as const;

/**
 * A subset of AWS-ApplyAnsiblePlaybooks' PlaybookFile allowedPattern `[(a-z_A-Z0-9\-\.)/]+(.yml|.yaml)$`,
 * anchored at both ends (the document's is not) and without parentheses, which the pattern admits but
 * a shell would not pass through unharmed.
 */
export const PLAYBOOK_FILE_PATTERN = /^[A-Za-z0-9_./-]+\.(yml|yaml)$/;

const SAFE_VALUE_HELP = `only letters, digits and _ . , / @ % + = - are allowed, up to ${MAX_VALUE_LENGTH} characters (ExtraVariables is pasted into a root shell command)`;

/** Parses and validates rules.yaml text. Relative playbook and inventory paths are checked under `playbooksDir`. */
export function parseRules(
  text: string,
  options: { file: string; playbooksDir: string },
): ResolvedRulesConfig {
  const { file, playbooksDir } = options;
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new RulesValidationError(
      doc.errors.map((e) => {
        const pos = e.linePos?.[0];
        return {
          file,
          path: pos ? `line ${pos.line}, column ${pos.col}` : '(root)',
          message: `YAML syntax error: ${(e.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '')}`,
        };
      }),
    );
  }
  const raw: unknown = keepWrittenText(doc, text);
  if (raw === null || raw === undefined) {
    throw new RulesValidationError([
      { file, path: '(root)', message: 'the file is empty; it needs at least a `rules:` list' },
    ]);
  }

  const lineOf = (path: readonly PropertyKey[]): number | undefined => {
    // The deepest node that exists on the path: a missing key is reported at its parent.
    for (let n = path.length; n >= 0; n--) {
      const node = doc.getIn(path.slice(0, n) as (string | number)[], true) as {
        range?: [number, number, number];
      };
      if (node?.range) return lineCounter.linePos(node.range[0]).line;
    }
    return undefined;
  };

  const issues: (RulesIssue & { line?: number })[] = [];
  const result = rulesSchema(playbooksDir).safeParse(raw);
  if (!result.success) {
    for (const issue of result.error.issues) {
      for (const { path, message } of describeIssue(issue)) {
        const line = lineOf(path);
        issues.push({
          file,
          path: formatPath(path),
          message: line ? `${message} (line ${line})` : message,
          line,
        });
      }
    }
  }
  for (const issue of crossChecks(raw)) {
    const line = lineOf(issue.path);
    issues.push({
      file,
      path: formatPath(issue.path),
      message: line ? `${issue.message} (line ${line})` : issue.message,
      line,
    });
  }
  if (issues.length > 0 || !result.success) {
    // In document order (stable for issues on one line), the order a user fixes them in.
    const ordered = [...issues].sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
    throw new RulesValidationError(ordered.map(({ file: f, path, message }) => ({ file: f, path, message })));
  }
  return resolveRollouts(result.data);
}

/** Loads rules.yaml from disk; playbook and inventory paths are relative to its folder. */
export function loadRulesFile(path: string): ResolvedRulesConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const reason =
      (error as NodeJS.ErrnoException).code === 'ENOENT'
        ? 'file not found; create playbooks/rules.yaml (see the sample in the repository)'
        : `cannot read the file: ${(error as Error).message}`;
    throw new RulesValidationError([{ file: path, path: '(root)', message: reason }]);
  }
  return parseRules(text, { file: path, playbooksDir: dirname(path) });
}

/**
 * The document as JS, except that an unquoted number or boolean in `match.vars` or `extraVars` keeps the
 * text written in the file: `tag_Version: 1.10` compares with "1.10" (YAML would read 1.1), `012` with
 * "012", `true` with "true". Values are compared and sent as text, so the text the user wrote is the value.
 */
function keepWrittenText(doc: Document, text: string): unknown {
  const raw = doc.toJS() as { rules?: unknown } | null;
  const rules = raw?.rules;
  if (!Array.isArray(rules)) return raw;
  const written = (node: unknown): unknown => {
    if (!isScalar(node) || node.type !== 'PLAIN' || !node.range) return undefined;
    if (typeof node.value !== 'number' && typeof node.value !== 'boolean') return undefined;
    return text.slice(node.range[0], node.range[1]);
  };
  const rewrite = (path: (string | number)[], target: Record<string, unknown>) => {
    for (const key of Object.keys(target)) {
      const node = doc.getIn([...path, key], true);
      const scalar = written(node);
      if (scalar !== undefined) target[key] = scalar;
      else if (isSeq(node) && Array.isArray(target[key])) {
        node.items.forEach((item, index) => {
          const itemText = written(item);
          if (itemText !== undefined) (target[key] as unknown[])[index] = itemText;
        });
      }
    }
  };
  const isRecord = (v: unknown): v is Record<string, unknown> =>
    v !== null && typeof v === 'object' && !Array.isArray(v);
  rules.forEach((rule: unknown, i) => {
    if (!isRecord(rule)) return;
    const vars = isRecord(rule.match) ? rule.match.vars : undefined;
    if (isRecord(vars)) rewrite(['rules', i, 'match', 'vars'], vars);
    if (!Array.isArray(rule.playbooks)) return;
    rule.playbooks.forEach((playbook: unknown, j) => {
      if (isRecord(playbook) && isRecord(playbook.extraVars))
        rewrite(['rules', i, 'playbooks', j, 'extraVars'], playbook.extraVars);
    });
  });
  return raw;
}

// ---------------------------------------------------------------------------------------------
// Schema.

/** A strict object whose unknown-key error lists the keys that are allowed (typos are the usual cause). */
function strict<T extends z.core.$ZodLooseShape>(shape: T, what: string) {
  const allowed = Object.keys(shape).join(', ');
  return z.strictObject(shape, {
    error: (issue) => {
      if (issue.code === 'unrecognized_keys') return `allowed keys: ${allowed}`;
      if (issue.code === 'invalid_type') return `expected ${what}`;
      return undefined;
    },
  });
}

/** YAML scalars as strings: `8080` and `true` are as good as `"8080"` and `"true"`. */
const scalarString = z
  .union([z.string(), z.number(), z.boolean()], { error: 'expected a string (or a number/boolean)' })
  .transform(String);

const intIn = (min: number, max: number) =>
  z
    .int({ error: `expected a whole number from ${min} to ${max}` })
    .min(min)
    .max(max);

const tagSelector = (fallback: TagSelector) =>
  strict(
    {
      tagKey: z
        .string()
        .min(1, { error: 'tag key must not be empty' })
        .max(128, { error: 'tag keys are at most 128 characters' })
        .default(fallback.tagKey),
      tagValue: z
        .string()
        .max(256, { error: 'tag values are at most 256 characters' })
        .default(fallback.tagValue),
    },
    'a mapping { tagKey, tagValue }',
  ).default(fallback);

const extraVars = z
  .record(
    z.string().refine(isSafeKey, {
      error: 'extra var names must start with a letter or _ and contain only letters, digits and _',
    }),
    scalarString.refine(isSafeValue, { error: `value cannot be sent safely: ${SAFE_VALUE_HELP}` }),
  )
  .default({});

/** A rule's `rollout` as written: the keys it sets. `canary: 0` is `null`, which turns an inherited canary off. */
interface RolloutOverrides {
  readonly maxConcurrent?: Limit;
  readonly maxErrors?: Limit;
  readonly canary?: RolloutSettings['canary'] | null;
}

/** A count or a percentage, read by admission.ts's parseLimit; its explanation is the issue's message. */
const limit = (key: 'maxConcurrent' | 'maxErrors', min: number) =>
  z.unknown().transform((value, ctx): Limit => {
    try {
      return parseLimit(value, key, min);
    } catch (error) {
      if (!(error instanceof LimitError)) throw error;
      // The issue's path already names the key.
      ctx.addIssue({ code: 'custom', message: error.message.replace(`${key}: `, '') });
      return z.NEVER;
    }
  });

const CANARY_HELP =
  'expected a number of due instances (e.g. 2) or a list of group names (e.g. [canary]); 0 turns an inherited canary off';

const canary = z.unknown().transform((value, ctx): RolloutSettings['canary'] | null => {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) {
    return value === 0 ? null : { count: value };
  }
  if (Array.isArray(value) && value.length > 0 && value.every((g) => typeof g === 'string' && g !== '')) {
    return { groups: [...new Set(value as string[])] };
  }
  const message = Array.isArray(value)
    ? value.length === 0
      ? 'an empty list selects no canary: list group names, or write 0 for no canary'
      : 'group names must be non-empty strings'
    : CANARY_HELP;
  ctx.addIssue({ code: 'custom', message });
  return z.NEVER;
});

const rollout = strict(
  {
    maxConcurrent: limit('maxConcurrent', 1).optional(),
    maxErrors: limit('maxErrors', 0).optional(),
    canary: canary.optional(),
  },
  'a mapping { maxConcurrent, maxErrors, canary }',
);

/** `30m`, `24h`, `7d` → seconds, or undefined when `text` is not such a duration. */
export function parseDuration(text: string): number | undefined {
  const match = /^(\d+)\s*([mhd])$/.exec(text.trim());
  if (!match) return undefined;
  const seconds = Number(match[1]) * DURATION_UNITS[match[2] as keyof typeof DURATION_UNITS];
  return Number.isSafeInteger(seconds) ? seconds : undefined;
}

/** Seconds → the largest unit that divides them (`86400` → `1d`, `5400` → `90m`): how a duration is shown. */
export function formatDuration(seconds: number): string {
  for (const [unit, size] of [
    ['d', 86_400],
    ['h', 3600],
    ['m', 60],
  ] as const) {
    if (seconds >= size && seconds % size === 0) return `${seconds / size}${unit}`;
  }
  return `${seconds}s`;
}

const reapplyEvery = z.unknown().transform((value, ctx): number => {
  const seconds = typeof value === 'string' ? parseDuration(value) : undefined;
  if (seconds === undefined) {
    ctx.addIssue({
      code: 'custom',
      message: `${JSON.stringify(value)} is not a duration: write a number and a unit m, h or d, e.g. 30m, 24h or 7d`,
    });
  } else if (seconds < REAPPLY_EVERY_MIN_SECONDS || seconds > REAPPLY_EVERY_MAX_SECONDS) {
    ctx.addIssue({
      code: 'custom',
      message: `${JSON.stringify(value)} is out of range: from ${formatDuration(REAPPLY_EVERY_MIN_SECONDS)} to ${formatDuration(REAPPLY_EVERY_MAX_SECONDS)} (every re-apply runs the rule's playbooks on all its hosts)`,
    });
  }
  return seconds ?? 0;
});

function relativeFile(playbooksDir: string, what: 'playbook' | 'inventory') {
  return z.string().superRefine((file, ctx) => {
    if (what === 'playbook' && !PLAYBOOK_FILE_PATTERN.test(file)) {
      ctx.addIssue({
        code: 'custom',
        message: `"${file}" is not an acceptable PlaybookFile: use letters, digits, _ . - and / only, ending in .yml or .yaml`,
      });
      return;
    }
    if (isAbsolute(file) || file.startsWith('/') || file.includes('..')) {
      ctx.addIssue({
        code: 'custom',
        message: `"${file}" must be a path relative to the playbooks folder, without ".."`,
      });
      return;
    }
    const full = join(playbooksDir, file);
    if (!existsSync(full) || !statSync(full).isFile()) {
      ctx.addIssue({ code: 'custom', message: `${what} "${file}" does not exist under ${playbooksDir}` });
      return;
    }
    if (what === 'inventory') {
      try {
        loadInventoryFile(full);
      } catch (error) {
        if (!(error instanceof InventoryError)) throw error;
        ctx.addIssue({ code: 'custom', message: `invalid inventory: ${error.message}` });
      }
    }
  });
}

function rulesSchema(playbooksDir: string) {
  const playbook = z.union(
    [
      relativeFile(playbooksDir, 'playbook').transform((file) => ({ file, extraVars: {} })),
      strict(
        {
          file: relativeFile(playbooksDir, 'playbook'),
          extraVars,
          timeoutSeconds: intIn(1, 172_800).optional(),
        },
        'a mapping { file, extraVars, timeoutSeconds }',
      ),
    ],
    // Reported per branch below (describeIssue), so the user sees what is wrong inside the object.
  );

  const rule = strict(
    {
      name: z
        .string({
          error: (issue) => (issue.input === undefined ? 'every rule needs a name' : 'expected a string'),
        })
        .refine((n) => n.trim() !== '', {
          error: 'rule name must not be empty',
        }),
      match: strict(
        {
          groups: z
            .array(z.string().min(1, { error: 'group names must not be empty' }), {
              error: 'expected a list of group names, e.g. [webservers]',
            })
            .default([]),
          vars: z
            .record(
              z.string(),
              z.union(
                [
                  scalarString,
                  z.array(scalarString).min(1, { error: 'a list of alternatives must not be empty' }),
                ],
                {
                  error: 'expected a value, a glob (* ?) or a list of alternatives',
                },
              ),
              { error: 'expected a mapping of var name to value(s)' },
            )
            .default({}),
        },
        'a mapping { groups, vars } (or {} to match every host)',
      )
        .nullish()
        .transform((m) => m ?? { groups: [], vars: {} }),
      playbooks: z
        .array(playbook, { error: 'expected a list of playbooks, e.g. [baseline.yml]' })
        .min(1, { error: 'a rule needs at least one playbook' }),
      maxAttempts: intIn(1, 10).optional(),
      backoffSeconds: intIn(0, 86_400).optional(),
      timeoutSeconds: intIn(1, 172_800).optional(),
      check: z.boolean({ error: 'expected true or false' }).optional(),
      rollout: rollout.optional(),
      reapplyEvery: reapplyEvery.optional(),
      drift: z.enum(['report', 'correct'], { error: 'expected report or correct' }).optional(),
    },
    'a rule mapping { name, match, playbooks, … }',
  );

  return strict(
    {
      optIn: tagSelector(DEFAULT_OPT_IN),
      hold: tagSelector(DEFAULT_HOLD),
      groupsTag: z
        .string({ error: 'expected a tag key' })
        .min(1, { error: 'tag key must not be empty' })
        .max(128, { error: 'tag keys are at most 128 characters' })
        .default(DEFAULT_GROUPS_TAG),
      inventories: z
        .array(relativeFile(playbooksDir, 'inventory'), { error: 'expected a list of inventory files' })
        .default([]),
      defaults: strict(
        {
          maxAttempts: intIn(1, 10).default(DEFAULT_RULE_DEFAULTS.maxAttempts),
          backoffSeconds: intIn(0, 86_400).default(DEFAULT_RULE_DEFAULTS.backoffSeconds),
          timeoutSeconds: intIn(1, 172_800).default(DEFAULT_RULE_DEFAULTS.timeoutSeconds),
          check: z.boolean({ error: 'expected true or false' }).default(DEFAULT_RULE_DEFAULTS.check),
          reapplyOnChange: z
            .boolean({ error: 'expected true or false' })
            .default(DEFAULT_RULE_DEFAULTS.reapplyOnChange),
          agentWaitSeconds: intIn(0, 86_400).default(DEFAULT_RULE_DEFAULTS.agentWaitSeconds),
          rollout: rollout
            .transform((written) => withOverrides(DEFAULT_ROLLOUT, written))
            .default(DEFAULT_RULE_DEFAULTS.rollout),
        },
        'a mapping of rule defaults',
      ).default(DEFAULT_RULE_DEFAULTS),
      rules: z
        .array(rule, { error: 'expected a list of rules' })
        .min(1, { error: 'at least one rule is required' }),
    },
    'a mapping with a `rules:` list',
  );
}

/** `base` with the keys `overrides` sets replaced (a `null` canary removes the base's). */
function withOverrides(base: RolloutSettings, overrides: RolloutOverrides): RolloutSettings {
  const canary = overrides.canary === undefined ? base.canary : (overrides.canary ?? undefined);
  return {
    maxConcurrent: overrides.maxConcurrent ?? base.maxConcurrent,
    maxErrors: overrides.maxErrors ?? base.maxErrors,
    ...(canary ? { canary } : {}),
  };
}

type ParsedRules = z.output<ReturnType<typeof rulesSchema>>;

/** A rule's `rollout` resolved over `defaults.rollout`; `reapplyEvery` in seconds, with its `drift` mode. */
function resolveRollouts(parsed: ParsedRules): ResolvedRulesConfig {
  const rules = parsed.rules.map(
    ({ rollout: overrides, reapplyEvery: seconds, drift, ...rule }): ResolvedRule => ({
      ...rule,
      ...(overrides ? { rollout: withOverrides(parsed.defaults.rollout, overrides) } : {}),
      ...(seconds === undefined ? {} : { reapplyEverySeconds: seconds, drift: drift ?? 'correct' }),
    }),
  );
  return { ...parsed, rules };
}

// ---------------------------------------------------------------------------------------------
// Issues.

interface RawIssue {
  readonly path: readonly PropertyKey[];
  readonly message: string;
}

function describeIssue(issue: z.core.$ZodIssue): RawIssue[] {
  const path = issue.path;
  switch (issue.code) {
    case 'unrecognized_keys':
      return issue.keys.map((key) => ({ path: [...path, key], message: `unknown key (${issue.message})` }));
    case 'invalid_key':
      return issue.issues.map((inner) => ({ path, message: inner.message }));
    case 'invalid_union': {
      // A playbook is `file.yml` or `{ file, extraVars?, timeoutSeconds? }`: report the branch that
      // matches the shape the user wrote, not both.
      const branch = issue.errors.find((errors) =>
        errors.every((e) => e.path.length > 0 || (e.code !== 'invalid_type' && e.code !== 'invalid_union')),
      );
      if (branch && branch.length > 0) {
        return branch.flatMap((inner) =>
          describeIssue({ ...inner, path: [...path, ...inner.path] } as z.core.$ZodIssue),
        );
      }
      return [
        {
          path,
          message:
            issue.message === 'Invalid input'
              ? 'expected a playbook file name or { file, extraVars, timeoutSeconds }'
              : issue.message,
        },
      ];
    }
    case 'invalid_type':
      if (/received undefined$/.test(issue.message))
        return [{ path, message: `required (expected ${issue.expected})` }];
      return [{ path, message: issue.message.replace(/^Invalid input: /, '') }];
    default:
      return [{ path, message: issue.message.replace(/^Invalid input: /, '') }];
  }
}

/** Checks that span several entries; run on the raw document so they are reported even when the schema fails. */
function crossChecks(raw: unknown): RawIssue[] {
  const rules = (raw as { rules?: unknown } | null)?.rules;
  if (!Array.isArray(rules)) return [];
  const issues: RawIssue[] = [];
  const seen = new Map<string, number>();
  rules.forEach((rule: unknown, index) => {
    const { name, drift, reapplyEvery } = (rule ?? {}) as Record<string, unknown>;
    if (drift !== undefined && reapplyEvery === undefined) {
      issues.push({
        path: ['rules', index, 'drift'],
        message:
          'drift needs reapplyEvery: it says what a scheduled re-apply does (report or correct); add e.g. reapplyEvery: 24h, or remove drift',
      });
    }
    if (typeof name !== 'string' || name.trim() === '') return;
    const first = seen.get(name);
    if (first === undefined) seen.set(name, index);
    else
      issues.push({
        path: ['rules', index, 'name'],
        message: `duplicate rule name "${name}" (also rules[${first}])`,
      });
  });
  return issues;
}

/** `['rules', 2, 'playbooks', 0, 'file']` → `rules[2].playbooks[0].file`; odd keys are quoted. */
export function formatPath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return '(root)';
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(String(segment)))
      out += out === '' ? String(segment) : `.${String(segment)}`;
    else out += `[${JSON.stringify(String(segment))}]`;
  }
  return out;
}
