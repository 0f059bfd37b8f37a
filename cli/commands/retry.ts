// `autoprov retry`: re-provision through the same path as every automatic run — one conditional claim
// (reason operator-retry, which also lifts a hold for this one run) and, only if it is won, the
// execution named `<instanceId>-g<generation>` (claimAndStart). Never around the claim: a retry can
// not race a running execution or start a run twice. The claim is admitted like every other one
// (docs/adr/0015-admission-slots-for-rollouts-and-quotas.md): while `autoprov pause` holds, it is refused.

import { executionConsoleUrl } from '../../functions/notifier/message.js';
import {
  type ClaimAndStartResult,
  claimAndStart,
  type StartDeps,
} from '../../functions/shared/start-execution.js';
import type { StateStoreApi } from '../../functions/shared/state-store-api.js';
import { CliError, EXIT, flag, stringOption, UsageError } from '../args.js';
import { describeAwsError } from '../aws.js';
import { type Command, cliActor, cliLogger } from '../context.js';
import { formatTime } from '../output.js';
import { resolveStack } from '../stack.js';
import { openStore, resolveInstanceRef } from '../store.js';

/** The deployed default (infra LEASE_SECONDS); a retry's lease only bounds how long a dead run blocks the next. */
export const DEFAULT_LEASE_SECONDS = 3600;

export type RetryResult =
  | (Extract<ClaimAndStartResult, { won: true }> & {
      readonly instanceId: string;
      readonly consoleUrl?: string;
    })
  | {
      readonly instanceId: string;
      readonly won: false;
      readonly reason: string;
      readonly message: string;
    };

/**
 * The store as a retry claims through it: every claim with `admission`, so the global pause refuses it as it
 * refuses the sweep's. A retry is no rollout re-provision: it takes no rollout slot (a record that holds one
 * keeps it, as any reclaim does).
 */
export function admittedClaims(store: Pick<StateStoreApi, 'claim' | 'extendLease'>): StartDeps['store'] {
  return {
    claim: (instanceId, options) =>
      store.claim(instanceId, { ...options, admission: options.admission ?? {} }),
    extendLease: (instanceId, generation, leaseSeconds, now) =>
      store.extendLease(instanceId, generation, leaseSeconds, now),
  };
}

/** Claims and starts one instance; a lost claim or a failed start is a result, not an exception. */
export async function retryInstance(
  deps: StartDeps,
  store: Pick<StateStoreApi, 'getInstance'>,
  instanceId: string,
): Promise<RetryResult> {
  const record = await store.getInstance(instanceId);
  if (!record) {
    return {
      instanceId,
      won: false,
      reason: 'missing',
      message: `${instanceId} has no record: it was never detected. Check its opt-in tag (autoprov doctor ${instanceId}); the next sweep records it.`,
    };
  }
  try {
    const result = await claimAndStart(deps, instanceId, {
      reason: 'operator-retry',
      expectedGeneration: record.generation,
    });
    if (!result.won) return { instanceId, won: false, reason: result.reason, message: result.message };
    const consoleUrl = executionConsoleUrl(deps.stateMachineArn, result.executionName);
    return { instanceId, ...result, ...(consoleUrl ? { consoleUrl } : {}) };
  } catch (error) {
    return {
      instanceId,
      won: false,
      reason: 'start-failed',
      message: `claimed, but StartExecution failed (${describeAwsError(error)}); the lease was released, so the next sweep or a new retry reclaims it.`,
    };
  }
}

export const retryCommand: Command = {
  name: 'retry',
  usage: 'autoprov retry <instance-id | Name>… | --failed [--json]',
  description: `Re-provisions through the same conditional claim the detectors use (reason operator-retry),
then starts the execution <instance>-g<generation>. Works on SUCCESS, FAILED, PARTIAL, SKIPPED and
PENDING records (and on held ones: a retry is an explicit operator decision); refuses a RUNNING
record whose lease is live and an ORPHANED one. --failed retries every FAILED and PARTIAL record.`,
  options: {
    failed: { type: 'boolean', description: 'retry every FAILED and PARTIAL instance' },
    'lease-seconds': {
      type: 'string',
      value: '<n>',
      description: `lease of the new run (default ${DEFAULT_LEASE_SECONDS}, the stack's default)`,
    },
  },
  examples: ['autoprov retry i-0123456789abcdef0', 'autoprov retry --failed'],
  async run(context) {
    const { out, args } = context;
    const all = flag(args, 'failed');
    if (all && args.positionals.length > 0) throw new UsageError('give instance ids or --failed, not both');
    if (!all && args.positionals.length === 0)
      throw new UsageError('which instance? autoprov retry <instance-id | Name>… or --failed');
    const leaseText = stringOption(args, 'lease-seconds');
    const leaseSeconds = leaseText === undefined ? DEFAULT_LEASE_SECONDS : Number(leaseText);
    if (!Number.isInteger(leaseSeconds) || leaseSeconds < 60) {
      throw new UsageError(`--lease-seconds must be a whole number ≥ 60, got "${leaseText}"`);
    }
    const stack = await resolveStack(context.stack, context.clients.cloudFormation, {
      table: true,
      stateMachine: true,
    });
    const stateMachineArn = stack.stateMachineArn ?? '';
    const store = openStore(context, stack.tableName ?? '', stateMachineArn);
    // Refused up front, once, rather than once per instance (the claims check it again, atomically).
    const pause = await store.getGlobalPause();
    if (pause) {
      throw new CliError(
        `not retried: provisioning is paused (since ${formatTime(pause.since)} by ${pause.actor}${pause.reason ? `: ${pause.reason}` : ''}), and no claim of any kind is made while it is; \`autoprov resume\` lifts it`,
      );
    }
    const deps: StartDeps = {
      store: admittedClaims(store),
      sfn: context.clients.sfn(),
      stateMachineArn,
      leaseSeconds,
      actor: cliActor(context.env),
      now: context.now,
      logger: cliLogger(out),
    };

    let ids: string[];
    if (all) {
      const failed = [...(await store.listByStatus('FAILED')), ...(await store.listByStatus('PARTIAL'))];
      ids = failed.map((record) => record.instanceId).sort();
    } else {
      ids = [];
      for (const ref of args.positionals) ids.push((await resolveInstanceRef(store, ref)).instanceId);
    }

    const results: RetryResult[] = [];
    for (const [index, id] of ids.entries()) {
      out.progress(`retrying ${id} (${index + 1}/${ids.length})…`);
      results.push(await retryInstance(deps, store, id));
    }
    const lost = results.filter((result) => !result.won).length;

    if (context.json) {
      out.json({ retried: results.length - lost, refused: lost, results });
      return lost > 0 ? EXIT.findings : EXIT.ok;
    }
    const { paint } = out;
    if (ids.length === 0) {
      out.print('No FAILED or PARTIAL instances: nothing to retry.');
      return EXIT.ok;
    }
    for (const result of results) {
      if (result.won) {
        out.print(
          `${paint.green('✔')} ${result.instanceId}: claimed generation ${paint.bold(String(result.generation))}, execution ${paint.bold(result.executionName)}${result.alreadyExisted ? ' (already started)' : ''}`,
        );
        if (result.consoleUrl) out.print(`    ${paint.dim(result.consoleUrl)}`);
      } else {
        out.print(`${paint.red('✖')} ${result.instanceId}: not retried: ${result.message}`);
      }
    }
    if (results.length > 1) out.print(`${results.length - lost} retried, ${lost} refused.`);
    return lost > 0 ? EXIT.findings : EXIT.ok;
  },
};
