// The stack's own health, whatever the instance: messages in the dead-letter queues, and the runs that
// failed recently (failed executions, and runs recorded FAILED or PARTIAL).
import { ListExecutionsCommand, type SFNClient } from '@aws-sdk/client-sfn';
import { GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { InstanceRecord } from '../../../functions/shared/state-store-api.js';
import { type Check, check, couldNotCheck, type Send } from './check.js';

/** Messages waiting in the dead-letter queues: events or invocations that failed every retry. */
export async function checkQueues(sqs: Send<SQSClient>, urls: readonly string[]): Promise<Check[]> {
  if (urls.length === 0) {
    return [
      check(
        'stack',
        'warn',
        'Dead-letter queues',
        'not checked: no queue URL known',
        'pass --stack <name> (reads the outputs) or --dlq <url>',
      ),
    ];
  }
  return Promise.all(
    urls.map(async (url) => {
      const title = `Dead-letter queue ${url.slice(url.lastIndexOf('/') + 1)}`;
      try {
        const { Attributes } = await sqs.send(
          new GetQueueAttributesCommand({
            QueueUrl: url,
            AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
          }),
        );
        const depth =
          Number(Attributes?.ApproximateNumberOfMessages ?? 0) +
          Number(Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0);
        if (depth === 0) return check('stack', 'ok', title, 'empty');
        return check(
          'stack',
          'fail',
          title,
          `${depth} message${depth === 1 ? '' : 's'}: events or invocations that failed every retry`,
          `read them (aws sqs receive-message --queue-url ${url} --max-number-of-messages 10), fix the cause, then purge the queue`,
        );
      } catch (error) {
        return couldNotCheck('stack', title, error, 'sqs:GetQueueAttributes');
      }
    }),
  );
}

/**
 * Failed runs of the last `hours`: executions that ended FAILED (a workflow error) and runs whose recorded
 * outcome is FAILED or PARTIAL. A failed playbook does not fail its execution — the workflow records the
 * outcome, notifies and ends SUCCEEDED — so the executions alone miss every failed playbook.
 * `failedRecords` are the records with status FAILED or PARTIAL (undefined: the table is unknown).
 */
export async function checkRecentFailures(
  sfn: Send<SFNClient>,
  stateMachineArn: string | undefined,
  now: Date,
  hours = 24,
  failedRecords?: readonly InstanceRecord[],
): Promise<Check> {
  const title = 'Recent failed executions';
  const since = now.getTime() - hours * 3_600_000;
  const failed = new Map<string, string>(); // execution (or instance) → what failed
  for (const record of failedRecords ?? []) {
    const at = record.lastRunAt ?? record.updatedAt;
    if (Date.parse(at) < since) continue;
    failed.set(record.executionName ?? record.instanceId, `${record.status}`);
  }
  let executionsError: unknown;
  if (stateMachineArn) {
    try {
      const { executions } = await sfn.send(
        new ListExecutionsCommand({ stateMachineArn, statusFilter: 'FAILED', maxResults: 100 }),
      );
      for (const execution of executions ?? []) {
        if ((execution.stopDate ?? execution.startDate ?? now).getTime() < since) continue;
        const name = execution.name ?? '?';
        failed.set(name, failed.has(name) ? `${failed.get(name)}, execution FAILED` : 'execution FAILED');
      }
    } catch (error) {
      executionsError = error;
    }
  }
  const unchecked = [
    ...(stateMachineArn
      ? []
      : ['the state machine is unknown (pass --state-machine <arn> or --stack <name>)']),
    ...(failedRecords ? [] : ['the table is unknown (pass --table <name> or --stack <name>)']),
  ];
  if (failed.size === 0) {
    if (executionsError) return couldNotCheck('stack', title, executionsError, 'states:ListExecutions');
    if (!stateMachineArn && !failedRecords) {
      return check(
        'stack',
        'warn',
        title,
        'not checked: the state machine and the table are unknown',
        'pass --state-machine <arn> and --table <name>, or --stack <name>',
      );
    }
    if (unchecked.length > 0) return check('stack', 'warn', title, `none found, but ${unchecked.join('; ')}`);
    return check('stack', 'ok', title, `none in the last ${hours} h`);
  }
  const entries = [...failed.entries()];
  const shown = entries.slice(0, 5).map(([name, what]) => `${name} (${what})`);
  return check(
    'stack',
    'warn',
    title,
    `${failed.size} in the last ${hours} h: ${shown.join(', ')}${failed.size > shown.length ? ', …' : ''}`,
    'autoprov status --status FAILED lists the instances; autoprov doctor <instance> explains one; autoprov retry --failed re-runs them',
  );
}
