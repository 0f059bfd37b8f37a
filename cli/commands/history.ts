// `autoprov history <instance>`: the audit trail of one instance, oldest first, with the console link
// of each run's execution and the links to the full playbook logs.

import { failureReport, formatFailureReport, readableReason } from '../../functions/core/failure-text.js';
import { executionConsoleUrl } from '../../functions/notifier/message.js';
import type { HistoryEvent, InstanceRecord } from '../../functions/shared/state-store-api.js';
import { executionNameOf } from '../../functions/shared/workflow-contract.js';
import { CliError, EXIT, stringOption, UsageError } from '../args.js';
import type { Command } from '../context.js';
import { localLogLink } from '../local-links.js';
import { formatTable, formatTime, paintStatus } from '../output.js';
import { resolveStack } from '../stack.js';
import { openStore, resolveInstanceRef } from '../store.js';

export interface RunLink {
  readonly generation: number;
  readonly executionName: string;
  readonly consoleUrl?: string;
}

export interface LogLink {
  readonly generation?: number;
  readonly playbook?: string;
  readonly url: string;
}

/** `k=v` pairs of an event's details, sorted, on one line; log links are listed under Logs instead. */
export function formatDetails(details: HistoryEvent['details']): string {
  if (!details) return '';
  return Object.entries(details)
    .filter(([key]) => key !== 'logUrl')
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`)
    .join(' ');
}

/** One link per run (generation) the history or the record mentions. */
export function runLinks(
  instanceId: string,
  events: readonly HistoryEvent[],
  record: InstanceRecord | undefined,
  stateMachineArn: string | undefined,
): RunLink[] {
  const generations = new Set<number>();
  for (const event of events)
    if (event.type === 'CLAIMED' && event.generation) generations.add(event.generation);
  if (record && record.generation > 0) generations.add(record.generation);
  return [...generations]
    .sort((a, b) => a - b)
    .map((generation) => {
      const executionName = executionNameOf(instanceId, generation);
      const consoleUrl = stateMachineArn ? executionConsoleUrl(stateMachineArn, executionName) : undefined;
      return { generation, executionName, ...(consoleUrl ? { consoleUrl } : {}) };
    });
}

/** Full-log links: from events' details (logUrl) and from the record's per-playbook results. */
export function logLinks(events: readonly HistoryEvent[], record: InstanceRecord | undefined): LogLink[] {
  const links: LogLink[] = [];
  const seen = new Set<string>();
  const add = (link: LogLink) => {
    if (seen.has(link.url)) return;
    seen.add(link.url);
    links.push(link);
  };
  for (const event of events) {
    const url = event.details?.logUrl;
    if (typeof url !== 'string') continue;
    const playbook = event.details?.playbook ?? event.details?.file;
    add({
      url,
      ...(event.generation === undefined ? {} : { generation: event.generation }),
      ...(typeof playbook === 'string' ? { playbook } : {}),
    });
  }
  for (const playbook of record?.playbooks ?? []) {
    if (playbook.logUrl)
      add({ url: playbook.logUrl, generation: record?.generation ?? 0, playbook: playbook.file });
  }
  return links;
}

export const historyCommand: Command = {
  name: 'history',
  usage: 'autoprov history <instance-id | Name> [--limit N] [--json]',
  description: `Shows the audit events of one instance, oldest first (detected, claimed, playbooks, retries,
recorded, notified…), then the Step Functions console link of each run and the links to the full
playbook logs.`,
  options: {
    limit: { type: 'string', value: '<n>', description: 'only the newest N events (shown oldest first)' },
  },
  examples: ['autoprov history i-0123456789abcdef0', 'autoprov history web-1 --json'],
  async run(context) {
    const { out, args } = context;
    const [ref, ...extra] = args.positionals;
    if (!ref) throw new UsageError('which instance? autoprov history <instance-id | Name>');
    if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`);
    const limitText = stringOption(args, 'limit');
    const limit = limitText === undefined ? undefined : Number(limitText);
    if (limit !== undefined && (!Number.isInteger(limit) || limit < 1)) {
      throw new UsageError(`--limit must be a whole number ≥ 1, got "${limitText}"`);
    }
    const stack = await resolveStack(context.stack, context.clients.cloudFormation, { table: true });
    const store = openStore(context, stack.tableName ?? '', stack.stateMachineArn);
    const { instanceId } = await resolveInstanceRef(store, ref);
    const [record, listed] = await Promise.all([
      store.getInstance(instanceId),
      store.listHistory(instanceId, limit === undefined ? {} : { limit, newest: true }),
    ]);
    if (!record && listed.length === 0) {
      throw new CliError(
        `no record and no history for ${instanceId} in table ${stack.tableName}: check the id (autoprov status lists known instances), or run autoprov doctor ${instanceId}.`,
      );
    }
    // Reasons read as text, older records' JSON causes included (core/failure-text.ts).
    const events = listed.map((event) =>
      event.reason ? { ...event, reason: readableReason(event.reason) ?? event.reason } : event,
    );
    const failure = record && record.status !== 'SUCCESS' ? failureReport(record) : undefined;
    // Local mode (AUTOPROV_LOCAL_LOGS, from npm start -- --serve): no console, the logs are files.
    const localLogs = context.env.AUTOPROV_LOCAL_LOGS || undefined;
    const runs = runLinks(instanceId, events, record, localLogs ? undefined : stack.stateMachineArn);
    const logs = logLinks(events, record).map((link) => ({
      ...link,
      url: localLogLink(link.url, localLogs),
    }));

    if (context.json) {
      out.json({
        instanceId,
        ...(record
          ? {
              record: {
                status: record.status,
                generation: record.generation,
                name: record.facts.name ?? null,
                reason: readableReason(record.reason) ?? null,
              },
            }
          : {}),
        ...(failure ? { failure } : {}),
        events,
        runs,
        logs,
      });
      return EXIT.ok;
    }
    const { paint } = out;
    const title = record
      ? `${instanceId}${record.facts.name ? ` (${record.facts.name})` : ''}: ${paintStatus(record.status, paint)} at g${record.generation}${record.reason ? ` — ${readableReason(record.reason)}` : ''}`
      : `${instanceId}: no state record (history only)`;
    out.print(paint.bold(title), '');
    out.print(
      ...formatTable(
        [
          { header: 'TIME' },
          { header: 'EVENT' },
          { header: 'GEN', align: 'right' },
          { header: 'ACTOR' },
          { header: 'REASON / DETAILS', maxWidth: 100 },
        ],
        events.map((event) => [
          formatTime(event.at),
          event.type,
          event.generation === undefined ? '-' : String(event.generation),
          event.actor,
          [event.reason, formatDetails(event.details)].filter(Boolean).join(' — ') || '-',
        ]),
        {
          paint,
          colour: (row, column, text) => {
            if (column !== 1) return text;
            const type = events[row]?.type ?? '';
            if (/FAILED|REJECTED|ORPHANED/.test(type)) return paint.red(text);
            if (/SUCCEEDED|RECORDED/.test(type)) return paint.green(text);
            return text;
          },
        },
      ),
    );
    if (failure) out.print('', `${paint.bold('Why:')} ${formatFailureReport(failure)}`);
    if (runs.length > 0) {
      out.print('', paint.bold('Executions'));
      for (const run of runs)
        out.print(`  g${run.generation}  ${run.executionName}${run.consoleUrl ? `  ${run.consoleUrl}` : ''}`);
      if (!stack.stateMachineArn)
        out.print(paint.dim('  (pass --state-machine or --stack for console links)'));
    }
    if (logs.length > 0) {
      out.print('', paint.bold('Logs'));
      for (const log of logs) {
        const label = [log.generation === undefined ? '' : `g${log.generation}`, log.playbook ?? '']
          .filter(Boolean)
          .join(' ');
        out.print(`  ${label ? `${label}  ` : ''}${log.url}`);
      }
    }
    return EXIT.ok;
  },
};
