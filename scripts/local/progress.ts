// Text output of the local-mode demo: the live line per change, the summary table, an instance's audit
// history and where the run left its files. Pure string building: start.ts decides where it goes.
import { join } from 'node:path';
import {
  type FailureReport,
  formatFailureReport,
  readableReason,
} from '../../functions/core/failure-text.js';
import type { HistoryEvent } from '../../functions/shared/state-store-api.js';
import type { DemoReport, InstanceSummary } from './demo.js';
import type { InstanceChange } from './stack.js';

const RESULT_MARK: Readonly<Record<string, string>> = {
  Success: '✔',
  Failed: '✖',
  TimedOut: '⏱',
  Cancelled: '∅',
};

function pad(text: string, width: number): string {
  const length = [...text].length;
  return length >= width ? text : text + ' '.repeat(width - length);
}

/** `+  4.2s  i-0de000000000000a1  web-1         RUNNING → SUCCESS    baseline.yml Success, …` */
export function formatChange(change: InstanceChange, startedAt: number): string {
  const seconds = ((change.at.getTime() - startedAt) / 1000).toFixed(1).padStart(5);
  const who = `${pad(change.instanceId, 20)} ${pad(change.name ?? '', 13)}`;
  if (change.kind === 'playbook' && change.playbook) {
    const p = change.playbook;
    const mark = RESULT_MARK[p.status] ?? '·';
    return `+${seconds}s  ${who} ${pad('', 22)} ${mark} ${change.detail}`;
  }
  const transition = `${change.from ?? '(new)'} → ${change.to}`;
  return `+${seconds}s  ${who} ${pad(transition, 22)} ${change.detail}`;
}

/** A plain text table: headers, a rule, rows; columns as wide as their widest cell. */
export function formatTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max([...h].length, ...rows.map((r) => [...(r[i] ?? '')].length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => pad(c, widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(headers), line(widths.map((w) => '─'.repeat(w))), ...rows.map(line)].join('\n');
}

function playbookCell(instance: InstanceSummary): string {
  if (instance.playbooks.length === 0) return '—';
  return instance.playbooks
    .map((p) => `${p.file} ${RESULT_MARK[p.status] ?? p.status}${p.attempts > 1 ? `×${p.attempts}` : ''}`)
    .join(', ');
}

export function formatSummary(report: DemoReport): string {
  const rows = report.instances.map((i) => {
    const expectation = report.expectations?.find(
      (e) => e.instance === i.name || e.instance === i.instanceId,
    );
    return [
      i.instanceId,
      i.name ?? '',
      i.status,
      String(i.generation),
      playbookCell(i),
      String(i.attempts),
      String(i.executions),
      expectation ? (expectation.ok ? 'as expected' : `✖ ${expectation.problems.join('; ')}`) : '',
    ];
  });
  const table = formatTable(
    ['instance', 'Name', 'status', 'gen', 'playbooks', 'attempts', 'executions', 'check'],
    rows,
  );
  const failures = formatFailures(report);
  return failures ? `${table}\n\n${failures}` : table;
}

/** Output lines shown under each failure in the summary. */
const FAILURE_LINES = 6;

/** Why each FAILED/PARTIAL instance failed: the failed task and its message, then the output's last lines. */
export function formatFailures(report: Pick<DemoReport, 'instances'>): string {
  const blocks = report.instances
    .filter((i) => i.failure)
    .map((i) => {
      const failure = i.failure as FailureReport;
      const lastLines = failure.lastLines.split('\n').slice(-FAILURE_LINES).join('\n');
      return `${i.instanceId}${i.name ? ` (${i.name})` : ''} ${i.status}: ${formatFailureReport({ ...failure, lastLines }, '    ')}`;
    });
  return blocks.length > 0 ? ['Why:', ...blocks].join('\n') : '';
}

export function formatHistory(events: readonly HistoryEvent[]): string {
  const rows = events.map((e) => {
    const details = e.details ? compact(e.details) : '';
    return [
      e.at.slice(11, 23),
      e.type,
      e.generation === undefined ? '' : `g${e.generation}`,
      e.actor,
      [readableReason(e.reason), details].filter(Boolean).join(' — '),
    ];
  });
  return formatTable(['time (UTC)', 'event', 'gen', 'actor', 'details'], rows);
}

/** One value, short: objects by their `file` (playbook results) or as JSON. */
function compactValue(value: unknown): string {
  if (Array.isArray(value)) return value.map(compactValue).join(',');
  if (value !== null && typeof value === 'object') {
    const file = (value as { file?: unknown }).file;
    return typeof file === 'string' ? file : JSON.stringify(value);
  }
  return String(value);
}

/** `{a: 1, b: [x, y]}` → `a=1 b=x,y`, without the ids a reader does not need here, cut to a readable length. */
function compact(details: Readonly<Record<string, unknown>>): string {
  const text = Object.entries(details)
    .filter(([k, v]) => !['commandId', 'fingerprint', 'leaseExpiresAt'].includes(k) && compactValue(v) !== '')
    .map(([k, v]) => `${k}=${compactValue(v)}`)
    .join(' ');
  return text.length > 100 ? `${text.slice(0, 99)}…` : text;
}

export function formatLocations(report: DemoReport, kept: boolean): string {
  const sample = report.instances.find((i) => i.status === 'SUCCESS');
  const lines = [
    `State directory: ${report.stateDir}${kept ? '' : ' (removed at exit: run with --keep to look around)'}`,
    `  DynamoDB Local data   ${join(report.stateDir, 'dynamodb')}`,
    `  instance sandboxes    ${join(report.stateDir, 'sandbox', '<instance id>')}  (what autoprov_root pointed Ansible at)`,
    `  function logs         ${join(report.logDir, 'functions', '<function>.log')}`,
    `  command output        ${join(report.logDir, 'commands', '<log group>', '<command id>', '<instance id>', '<step>', 'stdout|stderr')}`,
  ];
  if (report.check) {
    lines.push('  (check mode: ansible-playbook --check changed nothing in the sandboxes)');
  } else if (sample) {
    lines.push(`  e.g. ${sample.name ?? sample.instanceId}: ${report.sandboxes[sample.instanceId]}/etc/motd`);
  }
  return lines.join('\n');
}

export function formatDuration(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}
