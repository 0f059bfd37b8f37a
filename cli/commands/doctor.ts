// `autoprov doctor [instance]`: why is this instance not provisioned? Walks the path a run takes —
// record, opt-in and hold tags, SSM registration, bundle access, the last execution — then the
// stack's own health (dead-letter queues, recent failed executions). Exit 1 when anything is ✖.
import type { Instance } from '@aws-sdk/client-ec2';
import { hasInstanceIdShape } from '../../functions/core/instance-id.js';
import {
  DEFAULT_GROUPS_TAG,
  DEFAULT_HOLD,
  DEFAULT_OPT_IN,
  DEFAULT_RULE_DEFAULTS,
  RulesValidationError,
} from '../../functions/core/rules.js';
import type { RulesBundle, RulesConfig } from '../../functions/core/types.js';
import type { InstanceRecord } from '../../functions/shared/state-store-api.js';
import { EXIT, UsageError } from '../args.js';
import { describeAwsError } from '../aws.js';
import { loadLocalBundle, RULES_OPTION, rulesPathFrom } from '../bundle.js';
import type { Command, CommandContext } from '../context.js';
import { formatCheck } from '../output.js';
import { resolveStack, type StackInfo } from '../stack.js';
import { openStore, resolveInstanceRef } from '../store.js';
import {
  type Check,
  checkAgent,
  checkAnsibleInstall,
  checkBundlePolicy,
  checkEc2Instance,
  checkInventory,
  checkLastExecution,
  checkQueues,
  checkRecentFailures,
  checkRecord,
  describeEc2Instance,
  hybridPolicyNote,
  isGone,
} from './doctor-checks.js';

const FALLBACK_BUNDLE: RulesBundle = {
  config: {
    optIn: DEFAULT_OPT_IN,
    hold: DEFAULT_HOLD,
    groupsTag: DEFAULT_GROUPS_TAG,
    inventories: [],
    defaults: DEFAULT_RULE_DEFAULTS,
    rules: [],
  },
  inventoryHosts: [],
  bundleHash: '',
};

/** The rules (for tag names and inventories); the defaults with a note when they cannot be read. */
function rulesFor(context: CommandContext): { bundle: RulesBundle; note?: string } {
  const path = rulesPathFrom(context.args, context.cwd);
  try {
    return { bundle: loadLocalBundle(path) };
  } catch (error) {
    const why =
      error instanceof RulesValidationError
        ? `${error.issues.length} issue(s), see autoprov validate`
        : (error as Error).message;
    return {
      bundle: FALLBACK_BUNDLE,
      note: `rules ${path} not usable (${why}): assuming the default opt-in and hold tags`,
    };
  }
}

/** The record (the reference may be a Name: resolved through the records) and what its status says. */
async function recordChecks(
  context: CommandContext,
  ref: string,
  stack: StackInfo,
  config: RulesConfig,
): Promise<{ instanceId: string; record?: InstanceRecord; checks: Check[] }> {
  if (!stack.tableName) {
    const detail = `not checked: ${stack.outputsError ?? 'the table is unknown'}`;
    return {
      instanceId: ref,
      checks: [
        {
          section: 'instance',
          status: 'warn',
          title: 'State record',
          detail,
          fix: 'pass --table <name> or --stack <name>',
        },
      ],
    };
  }
  const store = openStore(context, stack.tableName, stack.stateMachineArn);
  const { instanceId, record: listed } = await resolveInstanceRef(store, ref);
  try {
    const record = listed ?? (await store.getInstance(instanceId));
    return {
      instanceId,
      ...(record ? { record } : {}),
      checks: checkRecord(instanceId, record, config, context.now()),
    };
  } catch (error) {
    const detail = `could not read: ${describeAwsError(error)}`;
    return {
      instanceId,
      checks: [
        {
          section: 'instance',
          status: 'warn',
          title: 'State record',
          detail,
          fix: 'check --table / --region and dynamodb:GetItem permission',
        },
      ],
    };
  }
}

/** Opt-in as the sources see it: EC2 tags and state, or the static inventory (hybrid nodes). */
async function sourceChecks(
  context: CommandContext,
  instanceId: string,
  bundle: RulesBundle,
): Promise<{ instance?: Instance; checks: Check[] }> {
  const inventoryHost = bundle.inventoryHosts.find((host) => host.instanceId === instanceId);
  if (instanceId.startsWith('mi-'))
    return { checks: [checkInventory(instanceId, inventoryHost, bundle.config)] };
  try {
    const instance = await describeEc2Instance(context.clients.ec2(), instanceId);
    const ec2Checks = checkEc2Instance(instanceId, instance, bundle.config);
    // An EC2 instance listed in an inventory is provisioned through the inventory, tag or not.
    const checks = inventoryHost
      ? [
          ...ec2Checks.filter((c) => c.title !== 'Opt-in tag'),
          checkInventory(instanceId, inventoryHost, bundle.config),
        ]
      : ec2Checks;
    return { ...(instance ? { instance } : {}), checks };
  } catch (error) {
    const detail = `could not check: ${describeAwsError(error)}`;
    return {
      checks: [
        {
          section: 'instance',
          status: 'warn',
          title: 'EC2 instance',
          detail,
          fix: "the CLI's credentials need ec2:DescribeInstances",
        },
      ],
    };
  }
}

async function instanceChecks(
  context: CommandContext,
  ref: string,
  stack: StackInfo,
  bundle: RulesBundle,
): Promise<{ instanceId: string; name?: string; checks: Check[] }> {
  const { clients } = context;
  const { instanceId, record, checks: fromRecord } = await recordChecks(context, ref, stack, bundle.config);
  if (!hasInstanceIdShape(instanceId)) {
    throw new UsageError(
      `"${ref}" is neither an instance id (i-…, mi-…) nor the Name of a recorded instance`,
    );
  }
  const hybrid = instanceId.startsWith('mi-');
  const { instance, checks: fromSources } = await sourceChecks(context, instanceId, bundle);
  const state = instance?.State?.Name;
  const checks = [...fromRecord, ...fromSources, await checkAgent(clients.ssm(), instanceId, hybrid, state)];
  if (hybrid) checks.push(hybridPolicyNote(stack.instancePolicyArn));
  else if (instance && !isGone(state))
    checks.push(await checkBundlePolicy(clients.iam(), instance, stack.instancePolicyArn));
  checks.push(checkAnsibleInstall(stack.ansibleInstall));
  checks.push(await checkLastExecution(clients.sfn(), stack.stateMachineArn, instanceId, record));
  const name = record?.facts.name ?? instance?.Tags?.find((tag) => tag.Key === 'Name')?.Value;
  return { instanceId, ...(name ? { name } : {}), checks };
}

/** Records whose last run ended FAILED or PARTIAL; undefined when the table is unknown or unreadable. */
async function failedRecords(
  context: CommandContext,
  stack: StackInfo,
): Promise<InstanceRecord[] | undefined> {
  if (!stack.tableName) return undefined;
  const store = openStore(context, stack.tableName, stack.stateMachineArn);
  try {
    const [failed, partial] = await Promise.all([
      store.listByStatus('FAILED'),
      store.listByStatus('PARTIAL'),
    ]);
    return [...failed, ...partial];
  } catch (error) {
    context.out.note(`failed runs not read from the table: ${describeAwsError(error)}`);
    return undefined;
  }
}

export const doctorCommand: Command = {
  name: 'doctor',
  usage: 'autoprov doctor [instance-id | Name] [--rules playbooks/rules.yaml] [--dlq <url>] [--json]',
  description: `Checks, for one instance: its state record and status; the opt-in and hold tags (EC2
DescribeInstances) or its static inventory entry (hybrid nodes); SSM registration and PingStatus;
the bundle-read policy on its instance profile's role; what the image needs for the stack's
ansibleInstall mode (preinstalled: ansible-playbook and unzip); its last execution and error. Then the
stack's health: dead-letter queue depth and failed runs of the last 24 h (executions that failed, and
runs recorded FAILED or PARTIAL: a failed playbook is recorded, its execution still succeeds). Each check is
printed as ✔ / ✖ / ! with a one-line fix. Without an instance, only the stack health.
Exit code 1 when any check is ✖.`,
  options: {
    ...RULES_OPTION,
    dlq: {
      type: 'string',
      multiple: true,
      value: '<url>',
      description: 'dead-letter queue URL to check (repeatable; or AUTOPROV_DLQ_URLS)',
    },
  },
  examples: ['autoprov doctor i-0123456789abcdef0', 'autoprov doctor web-1 --json', 'autoprov doctor'],
  async run(context) {
    const { out, args, clients } = context;
    const [ref, ...extra] = args.positionals;
    if (extra.length > 0)
      throw new UsageError(`unexpected argument "${extra[0]}": doctor checks one instance at a time`);
    const stack = await resolveStack(context.stack, clients.cloudFormation, { outputs: true });
    const { bundle, note } = rulesFor(context);
    if (note && ref) out.note(note);

    const target = ref ? await instanceChecks(context, ref, stack, bundle) : undefined;
    out.progress('checking the stack…');
    const stackChecks: Check[] = [
      ...(await checkQueues(clients.sqs(), stack.dlqUrls)),
      await checkRecentFailures(
        clients.sfn(),
        stack.stateMachineArn,
        context.now(),
        24,
        await failedRecords(context, stack),
      ),
    ];
    const checks = [...(target?.checks ?? []), ...stackChecks];
    const summary = {
      fail: checks.filter((c) => c.status === 'fail').length,
      warn: checks.filter((c) => c.status === 'warn').length,
      ok: checks.filter((c) => c.status === 'ok').length,
    };
    const exit = summary.fail > 0 ? EXIT.findings : EXIT.ok;

    if (context.json) {
      out.json({
        ...(target ? { instanceId: target.instanceId, name: target.name ?? null } : {}),
        stack: {
          name: stack.stackName,
          outputsRead: stack.outputsRead,
          ...(stack.outputsError ? { outputsError: stack.outputsError } : {}),
        },
        checks,
        summary,
      });
      return exit;
    }
    const { paint } = out;
    if (target) {
      out.print(paint.bold(`Instance ${target.instanceId}${target.name ? ` (${target.name})` : ''}`));
      for (const c of target.checks) out.print(...formatCheck(c, paint));
      out.print();
    }
    const where = stack.outputsRead
      ? `stack ${stack.stackName}`
      : stack.outputsError
        ? `stack outputs not read: ${stack.outputsError}`
        : 'explicit names, stack outputs not read';
    out.print(`${paint.bold('Stack health')} ${paint.dim(`(${where})`)}`);
    for (const c of stackChecks) out.print(...formatCheck(c, paint));
    out.print();
    const verdict =
      summary.fail > 0
        ? paint.red(`${summary.fail} problem${summary.fail === 1 ? '' : 's'}`)
        : paint.green('no problems');
    out.print(`${verdict}, ${summary.warn} warning${summary.warn === 1 ? '' : 's'}, ${summary.ok} ok`);
    return exit;
  },
};
