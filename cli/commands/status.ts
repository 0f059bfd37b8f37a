// `autoprov status`: how the fleet stands — counts by status and one line per instance record.
import {
  type FailureReport,
  failureReport,
  formatFailureReport,
  readableReason,
} from '../../functions/core/failure-text.js';
import { STATUSES, type Status } from '../../functions/core/types.js';
import type { InstanceRecord, PlaybookRecord } from '../../functions/shared/state-store-api.js';
import { EXIT, stringOption, UsageError } from '../args.js';
import type { Command } from '../context.js';
import { formatCounts, formatTable, formatTime, paintStatus } from '../output.js';
import { pauseLine, pauseView, rolloutSummaryLines, rolloutView } from '../rollout-view.js';
import { resolveStack } from '../stack.js';
import { openStore } from '../store.js';

const RAN = new Set(['Pending', 'InProgress', 'Success']);

/** The playbook that stopped the run: the first one that ran and did not succeed. */
export function failedPlaybook(record: Pick<InstanceRecord, 'playbooks'>): PlaybookRecord | undefined {
  return record.playbooks?.find((playbook) => !RAN.has(playbook.status));
}

export interface StatusRow {
  readonly instanceId: string;
  readonly name?: string;
  readonly status: Status;
  readonly held: boolean;
  readonly generation: number;
  readonly lastRunAt?: string;
  readonly failedPlaybook?: string;
  readonly reason?: string;
  /** Why the run did not succeed: the failed task and its message, then the output's last lines. */
  readonly failure?: FailureReport;
}

const UNSUCCESSFUL = new Set<Status>(['FAILED', 'PARTIAL', 'ORPHANED']);

export function statusRow(record: InstanceRecord): StatusRow {
  const failed = failedPlaybook(record);
  return {
    instanceId: record.instanceId,
    ...(record.facts.name === undefined ? {} : { name: record.facts.name }),
    status: record.status,
    held: record.held,
    generation: record.generation,
    ...(record.lastRunAt ? { lastRunAt: record.lastRunAt } : {}),
    ...(failed
      ? {
          failedPlaybook: `${failed.file} (${failed.status}, ${failed.attempts} attempt${failed.attempts === 1 ? '' : 's'})`,
        }
      : {}),
    ...(record.reason ? { reason: readableReason(record.reason) } : {}),
    ...(UNSUCCESSFUL.has(record.status) || failed ? withFailure(record) : {}),
  };
}

function withFailure(record: InstanceRecord): { failure?: FailureReport } {
  const report = failureReport(record);
  return report ? { failure: report } : {};
}

/** How many instances `status` explains below its table (the rest: `autoprov history <id>`). */
const EXPLAINED = 10;
/** Output lines shown per explained instance. */
const EXPLAINED_LINES = 6;

export function countByStatus(records: readonly Pick<InstanceRecord, 'status'>[]): Record<Status, number> {
  const counts = Object.fromEntries(STATUSES.map((status) => [status, 0])) as Record<Status, number>;
  for (const record of records) counts[record.status] += 1;
  return counts;
}

export function parseStatus(value: string | undefined): Status | undefined {
  if (value === undefined) return undefined;
  const upper = value.toUpperCase();
  if (!(STATUSES as readonly string[]).includes(upper)) {
    throw new UsageError(`unknown status "${value}": use one of ${STATUSES.join(', ')}`);
  }
  return upper as Status;
}

export const statusCommand: Command = {
  name: 'status',
  usage: 'autoprov status [--status FAILED] [--group web] [--json]',
  description: `Lists the instance records of the state table: counts by status, then one line per instance
with its Name, status, generation (the number of runs claimed), last run and the playbook that failed.
Above them, the global pause when one is set (autoprov pause) and the current rollout, one line per lane.`,
  options: {
    status: { type: 'string', value: '<status>', description: `only this status (${STATUSES.join(', ')})` },
    group: {
      type: 'string',
      value: '<group>',
      description: 'only instances in this group (groups tag or inventory group)',
    },
  },
  examples: [
    'autoprov status',
    'autoprov status --status FAILED',
    'autoprov status --group webservers --json',
  ],
  async run(context) {
    const { out, args } = context;
    const status = parseStatus(stringOption(args, 'status'));
    const group = stringOption(args, 'group');
    if (args.positionals.length > 0) throw new UsageError(`unexpected argument "${args.positionals[0]}"`);
    const stack = await resolveStack(context.stack, context.clients.cloudFormation, { table: true });
    const store = openStore(context, stack.tableName ?? '');
    out.progress('reading instance records…');
    // A status filter goes through the status GSI; otherwise every record (fleet index + batch reads).
    const [records, rollout, pause] = await Promise.all([
      status ? store.listByStatus(status) : store.listAll(),
      store.currentRollout(),
      store.getGlobalPause(),
    ]);
    const rolloutShown = rollout ? rolloutView(rollout) : null;
    const pauseShown = pause ? pauseView(pause) : null;
    const shown = records
      .filter((record) => group === undefined || record.facts.groups.includes(group))
      .sort((a, b) => a.instanceId.localeCompare(b.instanceId));
    const rows = shown.map(statusRow);
    const counts = countByStatus(shown);

    if (context.json) {
      out.json({
        table: stack.tableName,
        filters: { status: status ?? null, group: group ?? null },
        pause: pauseShown,
        rollout: rolloutShown,
        counts,
        total: rows.length,
        instances: rows,
      });
      return EXIT.ok;
    }
    const { paint } = out;
    const filters = [status ? `status ${status}` : '', group ? `group ${group}` : '']
      .filter(Boolean)
      .join(', ');
    out.print(
      `${paint.bold(`${rows.length} instance${rows.length === 1 ? '' : 's'}`)}${filters ? ` (${filters})` : ''}: ${formatCounts(counts, STATUSES, paint)}`,
    );
    if (pauseShown) out.print(pauseLine(pauseShown, paint));
    if (rolloutShown) out.print(...rolloutSummaryLines(rolloutShown, paint));
    if (rows.length === 0) return EXIT.ok;
    out.print();
    const lines = formatTable(
      [
        { header: 'INSTANCE' },
        { header: 'NAME', maxWidth: 32 },
        { header: 'STATUS' },
        { header: 'GEN', align: 'right' },
        { header: 'LAST RUN' },
        { header: 'WHY', maxWidth: 80 },
      ],
      rows.map((row) => [
        row.instanceId,
        row.name ?? '-',
        row.held ? `${row.status} (held)` : row.status,
        String(row.generation),
        formatTime(row.lastRunAt),
        row.failure?.headline ?? row.failedPlaybook ?? '-',
      ]),
      {
        paint,
        colour: (row, column, text) => {
          const status = rows[row]?.status;
          return column === 2 && status ? text.replace(status, paintStatus(status, paint)) : text;
        },
      },
    );
    out.print(...lines);
    const explained = rows.filter((row) => row.failure?.lastLines);
    for (const row of explained.slice(0, EXPLAINED)) {
      const report = row.failure as FailureReport;
      const last = report.lastLines.split('\n').slice(-EXPLAINED_LINES).join('\n');
      out.print('', `${paint.bold(row.instanceId)}: ${formatFailureReport({ ...report, lastLines: last })}`);
    }
    if (explained.length > EXPLAINED) {
      out.print(
        '',
        `… ${explained.length - EXPLAINED} more: autoprov history <instance>, autoprov logs <instance>`,
      );
    }
    return EXIT.ok;
  },
};
