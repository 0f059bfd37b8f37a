// What the state record says about an instance, and the execution of its current generation: the
// status, hold and lease on the record, and whether that execution ran, failed or never started.
import { DescribeExecutionCommand, ExecutionDoesNotExist, type SFNClient } from '@aws-sdk/client-sfn';
import { failureReport, formatFailureReport } from '../../../functions/core/failure-text.js';
import { ORPHAN_REASONS } from '../../../functions/core/reconcile.js';
import type { RulesConfig } from '../../../functions/core/types.js';
import { executionArnOf } from '../../../functions/shared/start-execution.js';
import type { InstanceRecord } from '../../../functions/shared/state-store-api.js';
import { formatTime, truncate } from '../../output.js';
import { type Check, check, couldNotCheck, type Send } from './check.js';

/** What the state record says, and what to do about it. */
export function checkRecord(
  instanceId: string,
  record: InstanceRecord | undefined,
  config: RulesConfig,
  now: Date,
): Check[] {
  const { optIn, hold } = config;
  const title = 'State record';
  if (!record) {
    return [
      check(
        'instance',
        'fail',
        title,
        'no record: the instance was never detected as opted in',
        `tag it ${optIn.tagKey}=${optIn.tagValue} while it is running; the event detector records it at once, the next sweep within minutes`,
      ),
    ];
  }
  const checks: Check[] = [];
  if (record.held) {
    checks.push(
      check(
        'instance',
        'fail',
        'Hold',
        `held (${hold.tagKey}=${hold.tagValue} was present at the last detection): never provisioned automatically`,
        `remove the tag ${hold.tagKey}, or run autoprov retry ${instanceId} for one run`,
      ),
    );
  }
  const g = `g${record.generation}`;
  switch (record.status) {
    case 'SUCCESS':
      checks.push(
        check('instance', 'ok', title, `SUCCESS at ${g}, last run ${formatTime(record.lastRunAt)}`),
      );
      break;
    case 'PENDING':
      checks.push(
        check(
          'instance',
          'warn',
          title,
          `PENDING since ${formatTime(record.updatedAt)}: detected, waiting for a claim`,
          `the next sweep claims it; autoprov retry ${instanceId} starts it now`,
        ),
      );
      break;
    case 'RUNNING': {
      const expired = record.leaseExpiresAt === undefined || record.leaseExpiresAt <= now.toISOString();
      checks.push(
        expired
          ? check(
              'instance',
              'fail',
              title,
              `RUNNING at ${g} but its lease expired at ${formatTime(record.leaseExpiresAt)}: the execution died or hangs`,
              `the next sweep checks the execution and reclaims it; see "Last execution" below`,
            )
          : check(
              'instance',
              'warn',
              title,
              `RUNNING at ${g} (lease until ${formatTime(record.leaseExpiresAt)}): a run is in progress`,
            ),
      );
      break;
    }
    case 'FAILED':
    case 'PARTIAL': {
      // The failed task and its message, then the last lines (core/failure-text.ts).
      const report = failureReport(record);
      checks.push(
        check(
          'instance',
          'fail',
          title,
          `${record.status} at ${g}${report ? `: ${formatFailureReport({ ...report, lastLines: report.lastLines.split('\n').slice(-6).join('\n') }, '    ')}` : ''}`,
          `autoprov history ${instanceId} links the full log; fix the cause, then autoprov retry ${instanceId}`,
        ),
      );
      break;
    }
    case 'SKIPPED':
      checks.push(
        check(
          'instance',
          'warn',
          title,
          `SKIPPED at ${g}: no rule selected any playbook for it`,
          'autoprov plan shows why each rule did not match; fix its groups tag or the rules, then autoprov retry',
        ),
      );
      break;
    case 'DRIFTED':
      checks.push(
        check(
          'instance',
          'warn',
          title,
          `DRIFTED at ${g}: a drift check (drift: report) found tasks that would change`,
          `autoprov history ${instanceId} lists them`,
        ),
      );
      break;
    case 'ORPHANED': {
      const fix =
        record.reason === ORPHAN_REASONS.terminated
          ? 'nothing to do: a terminated instance is never provisioned again'
          : `opt it in again (${optIn.tagKey}=${optIn.tagValue}) and keep it running; it is re-detected and provisioned`;
      checks.push(
        check('instance', 'fail', title, `ORPHANED (${record.reason ?? 'no reason recorded'})`, fix),
      );
      break;
    }
  }
  return checks;
}

/** The execution of the record's current generation. */
export async function checkLastExecution(
  sfn: Send<SFNClient>,
  stateMachineArn: string | undefined,
  instanceId: string,
  record: InstanceRecord | undefined,
): Promise<Check> {
  const title = 'Last execution';
  if (!record || record.generation === 0 || !record.executionName) {
    return check('instance', 'warn', title, 'none: the instance has never been claimed');
  }
  if (!stateMachineArn) {
    return check(
      'instance',
      'warn',
      title,
      `${record.executionName} not checked: the state machine is unknown`,
      'pass --state-machine <arn> or --stack <name>',
    );
  }
  try {
    const execution = await sfn.send(
      new DescribeExecutionCommand({ executionArn: executionArnOf(stateMachineArn, record.executionName) }),
    );
    const name = record.executionName;
    switch (execution.status) {
      case 'SUCCEEDED':
        // The workflow records a failed playbook (FAILED/PARTIAL) and notifies, then ends SUCCEEDED: the
        // execution's status alone says the workflow worked, not that the host was provisioned.
        if (record.status === 'FAILED' || record.status === 'PARTIAL') {
          return check(
            'instance',
            'fail',
            title,
            `${name} ended without a workflow error, but its run was recorded ${record.status}${record.reason ? `: ${truncate(record.reason.replace(/\s+/g, ' '), 300)}` : ''}`,
            `autoprov history ${instanceId} shows each attempt and links the log; fix the cause, then autoprov retry ${instanceId}`,
          );
        }
        return check('instance', 'ok', title, `${name} SUCCEEDED`);
      case 'RUNNING':
        return check(
          'instance',
          'warn',
          title,
          `${name} RUNNING since ${formatTime(execution.startDate?.toISOString())}`,
        );
      default: {
        const error = [
          execution.error,
          execution.cause ? truncate(execution.cause.replace(/\s+/g, ' '), 300) : undefined,
        ]
          .filter(Boolean)
          .join(': ');
        return check(
          'instance',
          'fail',
          title,
          `${name} ${execution.status ?? 'UNKNOWN'}${error ? ` — ${error}` : ''}`,
          `open it in the console (autoprov history ${instanceId}); fix the cause, then autoprov retry ${instanceId}`,
        );
      }
    }
  } catch (error) {
    if (error instanceof ExecutionDoesNotExist || (error as Error).name === 'ExecutionDoesNotExist') {
      return check(
        'instance',
        'fail',
        title,
        `${record.executionName} was claimed but never started (StartExecution failed)`,
        `the sweep reclaims it when the lease expires; or autoprov retry ${instanceId}`,
      );
    }
    return couldNotCheck('instance', title, error, 'states:DescribeExecution');
  }
}
