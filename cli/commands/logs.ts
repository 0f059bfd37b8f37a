// `autoprov logs <instance> [--playbook f] [--generation n] [--follow]`: the full output of an instance's
// playbook commands from CloudWatch Logs, where SSM Run Command writes it (the run-command λ sets
// CloudWatchOutputConfig; streams `<commandId>/<instanceId>/<step>/stdout|stderr`). In local mode the
// local endpoint serves the same API from the files the local agent wrote (scripts/local/services/logs.ts).
import {
  type CloudWatchLogsClient,
  GetLogEventsCommand,
  type GetLogEventsCommandOutput,
} from '@aws-sdk/client-cloudwatch-logs';
import type { HistoryEvent, InstanceRecord } from '../../functions/shared/state-store-api.js';
import { CliError, EXIT, stringOption, UsageError } from '../args.js';
import type { Command } from '../context.js';
import { resolveStack } from '../stack.js';
import { openStore, resolveInstanceRef } from '../store.js';

/** The document step whose output is the playbook's (AWS-ApplyAnsiblePlaybooks' second step). */
export const PLAYBOOK_STEP = 'runShellScript';
/** Safety net against a service that never repeats its token. */
const MAX_PAGES = 10_000;

export interface CommandRef {
  readonly commandId: string;
  readonly playbook: string;
  readonly generation: number;
  readonly attempt?: number;
}

/** The log group in a record's console link (callback/log-url.ts writes it; `$25` stands for `%`). */
export function logGroupOfUrl(url: string | undefined): string | undefined {
  const match = /#logsV2:log-groups\/log-group\/(.+?)\$3FlogStreamNameFilter/.exec(url ?? '');
  if (!match?.[1]) return undefined;
  try {
    return decodeURIComponent(match[1].replace(/\$25/g, '%'));
  } catch {
    return undefined;
  }
}

/** Commands of one generation, oldest first, from the history (every attempt) and the record (the last). */
export function commandsOf(
  instanceId: string,
  record: InstanceRecord | undefined,
  events: readonly HistoryEvent[],
  generation: number,
): CommandRef[] {
  const refs = new Map<string, CommandRef>();
  for (const event of events) {
    if (event.generation !== generation) continue;
    if (
      event.type !== 'PLAYBOOK_SUCCEEDED' &&
      event.type !== 'PLAYBOOK_FAILED' &&
      event.type !== 'COMMAND_SENT'
    )
      continue;
    const details = event.details ?? {};
    const commandId = typeof details.commandId === 'string' ? details.commandId : undefined;
    const playbook = typeof details.playbook === 'string' ? details.playbook : undefined;
    if (!commandId || !playbook || details.kind === 'ensure-ansible' || playbook === 'ensure-ansible')
      continue;
    refs.set(commandId, {
      commandId,
      playbook,
      generation,
      ...(typeof details.attempt === 'number' ? { attempt: details.attempt } : {}),
    });
  }
  if (record?.generation === generation) {
    for (const playbook of record.playbooks ?? []) {
      if (playbook.commandId && !refs.has(playbook.commandId)) {
        refs.set(playbook.commandId, {
          commandId: playbook.commandId,
          playbook: playbook.file,
          generation,
          attempt: playbook.attempts,
        });
      }
    }
    const active = record.activeCommand;
    const file =
      active?.kind === 'playbook' ? record.playbooks?.[active.playbookIndex ?? -1]?.file : undefined;
    if (active?.commandId && file && !refs.has(active.commandId)) {
      refs.set(active.commandId, {
        commandId: active.commandId,
        playbook: file,
        generation,
        attempt: active.attempt,
      });
    }
  }
  void instanceId;
  return [...refs.values()];
}

export class LogGoneError extends CliError {}

/**
 * Every event of a stream, page by page (GetLogEvents from the head: the end is reached when the
 * returned nextForwardToken is the one passed in). `from` continues a previous read (--follow).
 */
export async function readStream(
  client: Pick<CloudWatchLogsClient, 'send'>,
  logGroupName: string,
  logStreamName: string,
  onLine: (line: string) => void,
  from?: string,
): Promise<{ token: string | undefined; found: boolean }> {
  let token = from;
  for (let page = 0; page < MAX_PAGES; page++) {
    let output: GetLogEventsCommandOutput;
    try {
      output = await client.send(
        new GetLogEventsCommand({
          logGroupName,
          logStreamName,
          startFromHead: true,
          ...(token ? { nextToken: token } : {}),
        }),
      );
    } catch (error) {
      if ((error as Error).name === 'ResourceNotFoundException') return { token, found: false };
      throw error;
    }
    for (const event of output.events ?? []) onLine(event.message ?? '');
    const next = output.nextForwardToken;
    if (!next || next === token) return { token: next ?? token, found: true };
    token = next;
  }
  return { token, found: true };
}

/** How often --follow reads the stream again while the command runs. */
export const FOLLOW_POLL_MS = 2000;

/**
 * --follow: while the command runs, waits and reads on from `token`, so every line is printed once. After
 * the command ended, reads once more: the lines it wrote after the last read while it was running.
 */
export async function followStream(
  client: Pick<CloudWatchLogsClient, 'send'>,
  logGroupName: string,
  logStreamName: string,
  onLine: (line: string) => void,
  token: string | undefined,
  wait: { isRunning: () => Promise<boolean>; sleep: () => Promise<unknown> },
): Promise<string | undefined> {
  let from = token;
  while (await wait.isRunning()) {
    await wait.sleep();
    from = (await readStream(client, logGroupName, logStreamName, onLine, from)).token;
  }
  return (await readStream(client, logGroupName, logStreamName, onLine, from)).token;
}

export const logsCommand: Command = {
  name: 'logs',
  usage: 'autoprov logs <instance-id | Name> [--playbook f] [--generation n] [--follow] [--log-group g]',
  description: `Prints the complete ansible-playbook output of each playbook command of a run (the last run
unless --generation says which), every attempt, stdout then stderr, from the CloudWatch log group SSM Run
Command writes to. --follow keeps printing while a command still runs. Command output is kept for the
stack's autoprov:logRetentionDays (default 30 days); older output is gone from CloudWatch Logs.`,
  options: {
    playbook: { type: 'string', value: '<file>', description: 'only this playbook (e.g. webserver.yml)' },
    generation: { type: 'string', value: '<n>', description: 'the run to show (default: the last one)' },
    follow: { type: 'boolean', description: 'keep printing until the running command ends' },
    'log-group': {
      type: 'string',
      value: '<name>',
      description: "the command output log group (default: the one in the record's log link)",
    },
  },
  examples: ['autoprov logs web-1', 'autoprov logs i-0abc… --playbook webserver.yml --generation 2'],
  async run(context) {
    const { out, args } = context;
    const ref = args.positionals[0];
    if (!ref) throw new UsageError('which instance? autoprov logs <instance-id | Name>');
    if (args.positionals.length > 1) throw new UsageError(`unexpected argument "${args.positionals[1]}"`);
    const playbookFilter = stringOption(args, 'playbook');
    const generationText = stringOption(args, 'generation');
    const generationWanted = generationText === undefined ? undefined : Number(generationText);
    if (generationWanted !== undefined && (!Number.isInteger(generationWanted) || generationWanted < 1)) {
      throw new UsageError(`--generation must be a whole number ≥ 1, got "${generationText}"`);
    }
    const follow = args.values.follow === true;
    const stack = await resolveStack(context.stack, context.clients.cloudFormation, { table: true });
    const store = openStore(context, stack.tableName ?? '');
    const { instanceId } = await resolveInstanceRef(store, ref);
    const [record, events] = await Promise.all([
      store.getInstance(instanceId),
      store.listHistory(instanceId, {}),
    ]);
    const generation = generationWanted ?? record?.generation ?? 0;
    if (!record && events.length === 0) {
      throw new CliError(
        `no record and no history for ${instanceId}: autoprov status lists known instances.`,
      );
    }
    const commands = commandsOf(instanceId, record, events, generation).filter(
      (command) => playbookFilter === undefined || command.playbook === playbookFilter,
    );
    if (commands.length === 0) {
      const which = playbookFilter ? ` of ${playbookFilter}` : '';
      throw new CliError(
        `${instanceId} has no playbook command${which} in generation ${generation}: autoprov history ${instanceId} lists its runs.`,
      );
    }
    const group =
      stringOption(args, 'log-group') ??
      context.env.AUTOPROV_LOG_GROUP ??
      [...(record?.playbooks ?? [])].map((p) => logGroupOfUrl(p.logUrl)).find((g) => g !== undefined);
    if (!group) {
      throw new CliError(
        `no log link recorded for ${instanceId} to find the command output log group: pass --log-group <name> (the stack's command output group).`,
      );
    }
    const client = context.clients.logs();
    for (const command of commands) {
      const attempt = command.attempt === undefined ? '' : ` attempt ${command.attempt}`;
      out.print(
        `=== ${command.playbook}${attempt} (g${command.generation}, command ${command.commandId}) ===`,
      );
      const base = `${command.commandId}/${instanceId}/${PLAYBOOK_STEP}`;
      const print = (line: string) => out.print(line);
      const stdout = await readStream(client, group, `${base}/stdout`, print);
      if (follow) {
        await followStream(client, group, `${base}/stdout`, print, stdout.token, {
          isRunning: async () =>
            (await store.getInstance(instanceId))?.activeCommand?.commandId === command.commandId,
          sleep: () => new Promise((resolve) => setTimeout(resolve, FOLLOW_POLL_MS)),
        });
      }
      const stderrLines: string[] = [];
      const stderr = await readStream(client, group, `${base}/stderr`, (line) => stderrLines.push(line));
      if (stderrLines.length > 0) out.print('--- stderr ---', ...stderrLines);
      if (!stdout.found && !stderr.found) {
        throw new LogGoneError(
          `the output of command ${command.commandId} (${command.playbook}) is not in log group ${group}: ` +
            "CloudWatch Logs keeps it for the stack's autoprov:logRetentionDays (default 30); an older run's log is gone. " +
            'A copy may remain in the output bucket under commands/ (kept 90 days), and the record keeps its last lines: autoprov history ' +
            `${instanceId}.`,
        );
      }
    }
    return EXIT.ok;
  },
};
