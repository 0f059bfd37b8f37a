// The writes a workflow execution makes on its record, each fenced on its generation (fencing.ts): the
// lease, the match (plan and fingerprint, with the RUN item), the active command, one playbook's result
// (with the RUN item) and the run's outcome, whose legality core/status.ts decides (and which releases the
// run's rollout slot, if it holds one: rollouts.ts).
import { assertTransition, isTerminal } from '../../core/status.js';
import type { PlannedPlaybook, Status } from '../../core/types.js';
import { InvalidInputError } from '../errors.js';
import type { ActiveCommand, FencedResult, OutcomeResult, PlaybookRecord } from '../state-store-api.js';
import { RUN_SK } from '../table-schema.js';
import { readClaimTarget } from './claim.js';
import { fenced } from './fencing.js';
import type { StoreContext } from './io.js';
import { type Item, packHash, plain } from './items.js';
import { recordOutcomeReleasing } from './rollouts.js';

export async function extendLease(
  ctx: StoreContext,
  instanceId: string,
  generation: number,
  leaseSeconds: number,
  now: Date,
): Promise<FencedResult> {
  const lease = new Date(now.getTime() + leaseSeconds * 1000).toISOString();
  return fenced(ctx, 'extendLease', instanceId, generation, now, {
    update: 'SET leaseExpiresAt = :lease, dueAt = :lease, updatedAt = :now',
    values: { ':lease': lease },
  });
}

export async function recordMatch(
  ctx: StoreContext,
  instanceId: string,
  generation: number,
  match: { playbooks: readonly PlannedPlaybook[]; matchedRules: readonly string[]; fingerprint: string },
  now: Date,
): Promise<FencedResult> {
  const playbooks: PlaybookRecord[] = match.playbooks.map((p) => ({
    file: p.file,
    status: 'Pending',
    attempts: 0,
    ...(p.check ? { check: true } : {}),
  }));
  return fenced(
    ctx,
    'recordMatch',
    instanceId,
    generation,
    now,
    {
      update: 'SET fingerprint = :fingerprint, updatedAt = :now',
      values: { ':fingerprint': packHash(match.fingerprint) },
    },
    {
      put: {
        pk: instanceId,
        sk: RUN_SK,
        generation,
        matchedRules: [...match.matchedRules],
        playbooks,
      },
    },
  );
}

export async function setActiveCommand(
  ctx: StoreContext,
  instanceId: string,
  generation: number,
  command: ActiveCommand,
  now: Date,
): Promise<FencedResult> {
  return fenced(ctx, 'setActiveCommand', instanceId, generation, now, {
    update: 'SET activeCommand = :command, updatedAt = :now',
    values: { ':command': plain(command) },
  });
}

export async function clearActiveCommand(
  ctx: StoreContext,
  instanceId: string,
  generation: number,
  commandId: string,
  now: Date,
): Promise<FencedResult> {
  return fenced(ctx, 'clearActiveCommand', instanceId, generation, now, {
    update: 'SET updatedAt = :now REMOVE activeCommand',
    values: { ':cid': commandId },
    condition: 'activeCommand.commandId = :cid',
    explain: () => `command ${commandId} is no longer the active command (already recorded)`,
  });
}

export async function setActiveCommandId(
  ctx: StoreContext,
  instanceId: string,
  generation: number,
  taskToken: string,
  commandId: string,
  now: Date,
): Promise<FencedResult> {
  return fenced(ctx, 'setActiveCommandId', instanceId, generation, now, {
    update: 'SET activeCommand.commandId = :commandId, activeCommand.sentAt = :now, updatedAt = :now',
    values: { ':commandId': commandId, ':token': taskToken },
    condition: 'activeCommand.taskToken = :token',
    explain: (old) =>
      old.taskToken === undefined
        ? 'no active command is stored (it was recorded or never set)'
        : 'the active command has another task token (a newer attempt replaced it)',
  });
}

export async function recordPlaybookResult(
  ctx: StoreContext,
  instanceId: string,
  generation: number,
  index: number,
  result: PlaybookRecord,
  now: Date,
  options: { activeCommandId?: string } = {},
): Promise<FencedResult> {
  // The index goes into the expression text (DynamoDB has no placeholder for list indexes).
  if (!Number.isInteger(index) || index < 0) {
    throw new InvalidInputError(
      `recordPlaybookResult(${instanceId}): index must be an integer ≥ 0, got ${index}`,
    );
  }
  return fenced(
    ctx,
    'recordPlaybookResult',
    instanceId,
    generation,
    now,
    // Only the copy of the status event that finds its own command active records it: a duplicate
    // event must neither record twice nor clear the next command the workflow is waiting on.
    options.activeCommandId === undefined
      ? { update: 'SET updatedAt = :now REMOVE activeCommand', values: {} }
      : {
          update: 'SET updatedAt = :now REMOVE activeCommand',
          values: { ':cid': options.activeCommandId },
          condition: 'activeCommand.commandId = :cid',
          explain: () =>
            `command ${options.activeCommandId} is no longer the active command (already recorded)`,
        },
    {
      update: `SET playbooks[${index}] = :result`,
      values: { ':result': plain(result), ':g': generation },
      condition: `generation = :g AND attribute_exists(playbooks[${index}])`,
      explain: (old) =>
        `no planned playbook at index ${index} (the plan has ${old.generation === generation ? (old.playbookCount ?? 0) : 0})`,
    },
  );
}

export async function recordOutcome(
  ctx: StoreContext,
  instanceId: string,
  generation: number,
  outcome: { status: Status; reason?: string; fingerprint?: string },
  now: Date,
): Promise<OutcomeResult> {
  if (!isTerminal(outcome.status)) {
    throw new InvalidInputError(
      `recordOutcome(${instanceId} g${generation}): ${outcome.status} is not a run outcome; use one of SUCCESS, PARTIAL, FAILED, SKIPPED.`,
    );
  }
  // Fenced writes only ever apply to a RUNNING record; status.ts says whether the move is legal.
  assertTransition('RUNNING', outcome.status);
  const sets = ['#status = :outcome', 'lastRunAt = :now', 'dueAt = :now', 'updatedAt = :now'];
  const removes = ['leaseExpiresAt', 'activeCommand'];
  const values: Item = { ':outcome': outcome.status };
  if (outcome.reason === undefined) removes.push('#reason');
  else {
    sets.push('#reason = :reason');
    values[':reason'] = outcome.reason;
  }
  if (outcome.fingerprint !== undefined) {
    sets.push('fingerprint = :fingerprint');
    values[':fingerprint'] = packHash(outcome.fingerprint);
    if (outcome.status === 'SUCCESS') sets.push('lastSuccessFingerprint = :fingerprint');
  }
  // Most runs hold no rollout slot: one fenced write, as before rollouts, on condition that the record has
  // no slot. Only when that condition alone refused it (the fence held: same generation, RUNNING) does the
  // run hold one (rollouts.ts): read which, and release it with the outcome in one transaction. The fence
  // keeps the slot stable, since only a claim (a new generation) takes one and only an outcome gives it back.
  let holdsSlot = false;
  const plainWrite = {
    update: `SET ${sets.join(', ')} REMOVE ${removes.join(', ')}`,
    values,
    names: { '#reason': 'reason' },
    condition: 'attribute_not_exists(rolloutId)',
    explain: () => {
      holdsSlot = true;
      return 'the run holds a rollout slot';
    },
  };
  const result = await fenced(ctx, 'recordOutcome', instanceId, generation, now, plainWrite);
  if (!holdsSlot) return result;
  const { rolloutId, lane = '' } = (await readClaimTarget(ctx, instanceId)) ?? {};
  if (rolloutId === undefined) return recordOutcome(ctx, instanceId, generation, outcome, now);
  const write = {
    update: `SET ${sets.join(', ')} REMOVE ${[...removes, 'rolloutId', '#lane'].join(', ')}`,
    values,
    names: { '#reason': 'reason', '#lane': 'lane' },
  };
  return recordOutcomeReleasing(ctx, instanceId, generation, now, write, { rolloutId, lane }, outcome);
}
