// What one ansible-playbook run did, read from its output: the `AUTOPROV-RESULT {…}` line our callback
// plugin prints last (playbooks/callback_plugins/autoprov_result.py), or, when it is missing (syntax
// error, Ansible killed, output cut), the log's own lines: the last `fatal:` and its TASK, `ERROR!`, the
// PLAY RECAP. Pure, total (never throws on any input) and bounded: what it returns fits a DynamoDB item
// and the workflow payload. docs/adr/0012-ansible-result-line.md.

export const RESULT_MARKER = 'AUTOPROV-RESULT ';

/** Bounds of what is kept (the plugin has the same ones; the parser enforces them again). */
export const RESULT_LIMITS = {
  failures: 5,
  changes: 20,
  hosts: 20,
  name: 200,
  message: 500,
  /** Longest marker line parsed: a line beyond this is ignored (fallback to the log). */
  line: 200_000,
} as const;

export interface AnsibleRecap {
  readonly ok: number;
  readonly changed: number;
  readonly failed: number;
  readonly unreachable: number;
  readonly skipped: number;
  readonly rescued: number;
  readonly ignored: number;
}

export interface AnsibleTaskRef {
  readonly host: string;
  readonly task: string;
  /** The module, e.g. `ansible.builtin.package` (absent when read from the log). */
  readonly action?: string;
}

export interface AnsibleFailure extends AnsibleTaskRef {
  readonly message: string;
  readonly unreachable?: boolean;
}

export interface AnsibleResult {
  /** `summary`: from the plugin's line; `log`: recovered from the log lines (less exact). */
  readonly source: 'summary' | 'log';
  readonly check?: boolean;
  /** Recap counts per host. */
  readonly recap?: Readonly<Record<string, AnsibleRecap>>;
  readonly failures: readonly AnsibleFailure[];
  /** Tasks that changed something (in check mode: that would change). */
  readonly changes: readonly AnsibleTaskRef[];
  /** How many failures/changes/hosts were left out to stay small. */
  readonly omitted?: { readonly failures?: number; readonly changes?: number; readonly hosts?: number };
  /** Ansible's own error when no task ran (`ERROR! …`: syntax error, missing role, …). */
  readonly error?: string;
}

const COUNT_KEYS = ['ok', 'changed', 'failed', 'unreachable', 'skipped', 'rescued', 'ignored'] as const;

function cut(value: unknown, max: number): string {
  const text = typeof value === 'string' ? value : value === undefined || value === null ? '' : String(value);
  const trimmed = text.trim();
  return trimmed.length <= max ? trimmed : `${trimmed.slice(0, max - 1)}…`;
}

function count(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? Math.floor(value) : 0;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function recapOf(value: unknown): AnsibleRecap {
  const source = isObject(value) ? value : {};
  return Object.fromEntries(COUNT_KEYS.map((key) => [key, count(source[key])])) as unknown as AnsibleRecap;
}

function taskRefOf(value: Record<string, unknown>): AnsibleTaskRef {
  const action = cut(value.action, RESULT_LIMITS.name);
  return {
    host: cut(value.host, RESULT_LIMITS.name),
    task: cut(value.task, RESULT_LIMITS.name),
    ...(action ? { action } : {}),
  };
}

function bounded<T>(items: readonly T[], max: number): { kept: T[]; omitted: number } {
  return { kept: items.slice(0, max), omitted: Math.max(0, items.length - max) };
}

/** The plugin's summary, validated and re-bounded; undefined when the line is not one. */
function fromSummary(json: string): AnsibleResult | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    return undefined;
  }
  if (!isObject(parsed) || parsed.v !== 1) return undefined;
  const rawFailures = Array.isArray(parsed.failures) ? parsed.failures.filter(isObject) : [];
  const rawChanges = Array.isArray(parsed.changes) ? parsed.changes.filter(isObject) : [];
  const rawHosts = isObject(parsed.recap) ? Object.entries(parsed.recap) : [];
  const failures = bounded(rawFailures, RESULT_LIMITS.failures);
  const changes = bounded(rawChanges, RESULT_LIMITS.changes);
  const hosts = bounded(rawHosts, RESULT_LIMITS.hosts);
  const given = isObject(parsed.omitted) ? parsed.omitted : {};
  const omitted = {
    failures: count(given.failures) + failures.omitted,
    changes: count(given.changes) + changes.omitted,
    hosts: count(given.hosts) + hosts.omitted,
  };
  return {
    source: 'summary',
    check: parsed.check === true,
    recap: Object.fromEntries(
      hosts.kept.map(([host, value]) => [cut(host, RESULT_LIMITS.name), recapOf(value)]),
    ),
    failures: failures.kept.map((failure) => ({
      ...taskRefOf(failure),
      message: cut(failure.message, RESULT_LIMITS.message),
      ...(failure.unreachable === true ? { unreachable: true } : {}),
    })),
    changes: changes.kept.map(taskRefOf),
    ...(omitted.failures || omitted.changes || omitted.hosts
      ? {
          omitted: Object.fromEntries(
            Object.entries(omitted).filter(([, n]) => n > 0),
          ) as AnsibleResult['omitted'],
        }
      : {}),
  };
}

const FATAL = /^(fatal|failed): \[([^\]]*)\](?: \([^)]*\))?: (FAILED|UNREACHABLE)! => (.*)$/;
const TASK = /^TASK \[(.*)\] \*{3,}\s*$/;
const RECAP_LINE =
  /^(\S+)\s*: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)(?:\s+skipped=(\d+))?(?:\s+rescued=(\d+))?(?:\s+ignored=(\d+))?/;

/** The message in a `fatal: … => {json}` line; the raw text when it is not JSON. */
function fatalMessage(payload: string): string {
  try {
    const result = JSON.parse(payload) as unknown;
    if (isObject(result)) {
      const message = result.msg ?? result.censored ?? result.stderr ?? result.reason;
      if (message !== undefined) return cut(message, RESULT_LIMITS.message);
    }
  } catch {
    // not JSON (a cut line): keep the text
  }
  return cut(payload, RESULT_LIMITS.message);
}

/** What the log's own lines say, for output without the summary line. */
function fromLog(lines: readonly string[]): AnsibleResult {
  let task = '';
  const failures: AnsibleFailure[] = [];
  const recap: Record<string, AnsibleRecap> = {};
  let error: string | undefined;
  let inRecap = false;
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] ?? '').trimEnd();
    const taskMatch = TASK.exec(line);
    if (taskMatch) {
      task = taskMatch[1] ?? '';
      inRecap = false;
      continue;
    }
    if (line.startsWith('PLAY RECAP')) {
      inRecap = true;
      continue;
    }
    const fatal = FATAL.exec(line);
    if (fatal) {
      failures.push({
        host: cut(fatal[2], RESULT_LIMITS.name),
        task: cut(task, RESULT_LIMITS.name),
        message: fatalMessage(fatal[4] ?? ''),
        ...(fatal[3] === 'UNREACHABLE' ? { unreachable: true } : {}),
      });
      continue;
    }
    if (line.startsWith('ERROR! ')) {
      // The error and the lines that explain it (up to the next blank line), as Ansible prints them.
      const block = [line.slice('ERROR! '.length)];
      for (let j = i + 1; j < lines.length && block.length < 6 && (lines[j] ?? '').trim() !== ''; j++) {
        block.push((lines[j] ?? '').trim());
      }
      error = cut(block.join(' '), RESULT_LIMITS.message);
      continue;
    }
    const recapMatch = inRecap ? RECAP_LINE.exec(line) : null;
    if (recapMatch) {
      const [, host, ok, changed, unreachable, failed, skipped, rescued, ignored] = recapMatch;
      recap[cut(host, RESULT_LIMITS.name)] = recapOf({
        ok: Number(ok),
        changed: Number(changed),
        unreachable: Number(unreachable),
        failed: Number(failed),
        skipped: Number(skipped ?? 0),
        rescued: Number(rescued ?? 0),
        ignored: Number(ignored ?? 0),
      });
    }
  }
  // The last failures are the ones that ended the run.
  const kept = failures.slice(-RESULT_LIMITS.failures);
  const hosts = Object.entries(recap).slice(0, RESULT_LIMITS.hosts);
  return {
    source: 'log',
    ...(hosts.length > 0 ? { recap: Object.fromEntries(hosts) } : {}),
    failures: kept,
    changes: [],
    ...(failures.length > kept.length ? { omitted: { failures: failures.length - kept.length } } : {}),
    ...(error ? { error } : {}),
  };
}

/**
 * The result of one run from its stdout (and stderr, where Ansible prints `ERROR!`). Undefined when the
 * output says nothing about Ansible at all (e.g. the bundle download failed before it ran).
 */
export function parseAnsibleOutput(stdout: string | undefined, stderr?: string): AnsibleResult | undefined {
  const out = stdout ?? '';
  // The plugin's line is the last one it prints: search from the end.
  let end = out.length;
  while (end > 0) {
    const at = out.lastIndexOf(RESULT_MARKER, end - 1);
    if (at < 0) break;
    if (at === 0 || out[at - 1] === '\n') {
      const lineEnd = out.indexOf('\n', at);
      const line = out.slice(at + RESULT_MARKER.length, lineEnd < 0 ? out.length : lineEnd);
      const summary = line.length <= RESULT_LIMITS.line ? fromSummary(line.trim()) : undefined;
      if (summary) return summary;
    }
    end = at;
  }
  const lines = `${out}\n${stderr ?? ''}`.split(/\r?\n/);
  const fromLines = fromLog(lines);
  if (fromLines.failures.length === 0 && !fromLines.recap && !fromLines.error) return undefined;
  return fromLines;
}

/** Whether the output shows a summary line that was cut (the record then says so). */
export function mentionsResultLine(text: string | undefined): boolean {
  return (text ?? '').includes(RESULT_MARKER);
}

/** The output without the summary line, for people (the log tail shown with a failure). */
export function withoutResultLine(text: string): string {
  return text
    .split('\n')
    .filter((line) => !line.startsWith(RESULT_MARKER))
    .join('\n');
}
