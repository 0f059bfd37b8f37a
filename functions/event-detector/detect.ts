// What one EC2 event means for the state (docs/architecture.md "Detect"). Events are duplicated, reordered and late,
// so nothing here trusts the event beyond "look at this instance": the instance's current state and
// tags come from DescribeInstances, and every write is conditional.
// - running / tag change on an opted-in instance → record (upsert), then claim + StartExecution when
//   the record is due (same pure decision as the sweep: core/reconcile.ts decideInstance). A re-provision
//   (fingerprint changed) is left to the sweep, which admits it in the rollout's waves; every claim here is
//   refused while the global pause is set.
// - a second `running` for a claimed instance: the upsert finds nothing changed and the record is
//   not due, so nothing is written at all (no history noise); a lost claim race is also silent.
// - terminated / shutting-down → ORPHANED 'terminated' + one notification. Terminal for good: a late
//   `running` event re-reads the instance, sees `terminated`, and changes nothing.
// - opt-in tag removed (confirmed by DescribeInstances) → ORPHANED 'opted-out' + notification,
//   unless a static inventory still lists the instance (then it is managed as an inventory host).
// - stopped / stopping → a STOPPED history event on a known record.
// - tag change on an SSM managed node (hybrid, mi-…): hybrid nodes are provisioned from the static
//   inventories (being listed is the opt-in), so a listed node is detected exactly as the sweep observes
//   it (no EC2 call: EC2 does not know mi- ids); an unlisted one is ignored.
import { DescribeInstancesCommand, type EC2Client } from '@aws-sdk/client-ec2';
import { isOptedIn } from '../core/eligibility.js';
import { ec2Tags } from '../core/facts.js';
import {
  decideInstance,
  type Observation,
  ORPHAN_REASONS,
  observeEc2,
  observeInventoryHost,
} from '../core/reconcile.js';
import type { Ec2InstanceShape, RulesBundle } from '../core/types.js';
import { type OrphanDeps, orphanAndNotify } from '../shared/notify-invoke.js';
import { claimAndStart, resolveExpiredLease, type StartDeps } from '../shared/start-execution.js';
import type { StateStoreApi } from '../shared/state-store-api.js';
import type { DetectorEvent } from './events.js';

export interface DetectorDeps extends StartDeps, OrphanDeps {
  readonly store: Pick<
    StateStoreApi,
    'getInstance' | 'upsertDetection' | 'claim' | 'extendLease' | 'markOrphaned' | 'appendHistory'
  >;
  readonly ec2: Pick<EC2Client, 'send'>;
  readonly bundle: RulesBundle;
}

export type DetectionAction =
  | 'ignored'
  | 'recorded'
  | 'held'
  | 'claimed'
  | 'claim-lost'
  | 'lease-extended'
  | 'orphaned'
  | 'stopped';

export interface DetectionOutcome {
  readonly instanceId: string;
  readonly action: DetectionAction;
  readonly detail?: string;
  readonly generation?: number;
}

export async function handleDetectorEvent(
  event: DetectorEvent,
  deps: DetectorDeps,
): Promise<DetectionOutcome> {
  const { instanceId } = event;
  if (event.kind === 'tag-change') {
    if (event.resourceType === 'managed-instance') return detectManagedNode(instanceId, deps);
    const { optIn } = deps.bundle.config;
    // Tags are facts (tag_* vars, groups, hold): any change on an opted-in instance is a re-detection.
    // A change that removed the opt-in tag is one too: DescribeInstances confirms it before orphaning.
    if (!event.changedKeys.includes(optIn.tagKey) && !isOptedIn(event.tags, deps.bundle.config)) {
      return { instanceId, action: 'ignored', detail: 'tag change on an instance that is not opted in' };
    }
    return detect(instanceId, 'tag-change', deps);
  }
  switch (event.state) {
    case 'running':
      return detect(instanceId, 'running', deps);
    case 'terminated':
    case 'shutting-down':
      return orphan(instanceId, ORPHAN_REASONS.terminated, deps);
    case 'stopping':
    case 'stopped':
      return stopped(instanceId, event.state, deps);
    default:
      return { instanceId, action: 'ignored', detail: `state ${event.state}: the running event follows` };
  }
}

async function detect(
  instanceId: string,
  origin: 'running' | 'tag-change',
  deps: DetectorDeps,
): Promise<DetectionOutcome> {
  const instance = await describeInstance(deps.ec2, instanceId);
  if (!instance)
    return { instanceId, action: 'ignored', detail: 'DescribeInstances does not know it (the sweep will)' };
  const state = instance.State?.Name;
  if (state === 'terminated' || state === 'shutting-down')
    return orphan(instanceId, ORPHAN_REASONS.terminated, deps);

  const observation = observe(instance, deps.bundle);
  if (!observation) {
    return origin === 'tag-change'
      ? orphan(instanceId, ORPHAN_REASONS.optedOut, deps)
      : { instanceId, action: 'ignored', detail: 'not opted in' };
  }
  return act(instanceId, observation, deps);
}

/** A tag change on an SSM managed node: the node as the sweep sees it, from the static inventories. */
async function detectManagedNode(instanceId: string, deps: DetectorDeps): Promise<DetectionOutcome> {
  const host = deps.bundle.inventoryHosts.find((candidate) => candidate.instanceId === instanceId);
  if (!host) {
    return {
      instanceId,
      action: 'ignored',
      detail:
        'managed node not listed in any static inventory (hybrid nodes are provisioned from inventories)',
    };
  }
  return act(instanceId, observeInventoryHost(host, deps.bundle), deps);
}

/** Records the observation, then claims and starts when it is due (the sweep's decision). */
async function act(
  instanceId: string,
  observation: Observation,
  deps: DetectorDeps,
): Promise<DetectionOutcome> {
  const now = deps.now();
  const upserted = await deps.store.upsertDetection(observation.facts, {
    held: observation.held,
    actor: deps.actor,
    now,
  });
  const { record } = upserted;
  if (observation.held) {
    if (upserted.written) {
      await deps.store.appendHistory({
        instanceId,
        type: 'HELD',
        at: now.toISOString(),
        actor: deps.actor,
        generation: record.generation,
        reason: `hold tag ${deps.bundle.config.hold.tagKey}=${deps.bundle.config.hold.tagValue}`,
      });
    }
    return { instanceId, action: 'held', generation: record.generation };
  }
  // A terminated orphan seen through a stale source: the store refused to revive it.
  if (record.status === 'ORPHANED')
    return { instanceId, action: 'ignored', detail: `ORPHANED (${record.reason})` };

  const plan = decideInstance(observation, upserted.created ? undefined : record, {
    now,
    reapplyOnChange: deps.bundle.config.defaults.reapplyOnChange,
  });
  const written = upserted.written ? 'recorded' : 'ignored';
  switch (plan.action.kind) {
    case 'claim': {
      if (plan.action.reason === 'fingerprint-changed') {
        // A re-provision is a rollout's: admitted in waves by the sweep, never one by one from events
        // (docs/adr/0015-admission-slots-for-rollouts-and-quotas.md).
        return {
          instanceId,
          action: written,
          generation: record.generation,
          detail: `${record.status}, fingerprint changed: the sweep re-provisions it in the rollout's waves`,
        };
      }
      const claim = await claimAndStart(deps, instanceId, plan.action);
      return claim.won
        ? { instanceId, action: 'claimed', generation: claim.generation, detail: plan.action.reason }
        : { instanceId, action: 'claim-lost', detail: claim.message };
    }
    case 'check-execution': {
      const result = await resolveExpiredLease(deps, instanceId, plan.action);
      if (result.kind === 'extended')
        return { instanceId, action: 'lease-extended', generation: record.generation };
      return result.claim.won
        ? {
            instanceId,
            action: 'claimed',
            generation: result.claim.generation,
            detail: `lease-expired (${result.executionStatus})`,
          }
        : { instanceId, action: 'claim-lost', detail: result.claim.message };
    }
    default:
      return {
        instanceId,
        action: written,
        generation: record.generation,
        detail: `${record.status}, nothing due`,
      };
  }
}

/** Exactly what the sweep observes for this instance, or undefined when nothing manages it. */
function observe(instance: Ec2InstanceShape, bundle: RulesBundle): Observation | undefined {
  const host = bundle.inventoryHosts.find((candidate) => candidate.instanceId === instance.InstanceId);
  const tags = ec2Tags(instance);
  if (isOptedIn(tags, bundle.config)) return observeEc2(instance, bundle, host);
  // No opt-in tag but listed in an inventory: the sweep manages it as an inventory host, so do we.
  return host ? observeInventoryHost(host, bundle) : undefined;
}

async function orphan(instanceId: string, reason: string, deps: DetectorDeps): Promise<DetectionOutcome> {
  const result = await orphanAndNotify(deps, instanceId, reason);
  return result.changed
    ? {
        instanceId,
        action: 'orphaned',
        detail: reason,
        ...(result.generation === undefined ? {} : { generation: result.generation }),
      }
    : { instanceId, action: 'ignored', detail: `${reason}: no record, or already ORPHANED` };
}

async function stopped(instanceId: string, state: string, deps: DetectorDeps): Promise<DetectionOutcome> {
  const record = await deps.store.getInstance(instanceId);
  if (!record || record.status === 'ORPHANED')
    return { instanceId, action: 'ignored', detail: `${state}: not tracked` };
  await deps.store.appendHistory({
    instanceId,
    type: 'STOPPED',
    at: deps.now().toISOString(),
    actor: deps.actor,
    generation: record.generation,
    reason: state,
  });
  return { instanceId, action: 'stopped', generation: record.generation };
}

/** The instance as EC2 sees it now; undefined when EC2 does not know the id (any more, or yet). */
export async function describeInstance(
  ec2: Pick<EC2Client, 'send'>,
  instanceId: string,
): Promise<Ec2InstanceShape | undefined> {
  try {
    const { Reservations } = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
    return Reservations?.flatMap((reservation) => reservation.Instances ?? []).find(
      (i) => i.InstanceId === instanceId,
    );
  } catch (error) {
    if ((error as Error).name === 'InvalidInstanceID.NotFound') return undefined;
    throw error;
  }
}
