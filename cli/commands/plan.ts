// `autoprov plan`: which playbooks each opted-in host would get right now, and why. Hosts come from
// EC2 (DescribeInstances with the opt-in filter) or from a local-mode fleet file, plus the static
// inventories; they are observed with the sweep's own code (observeSources), so plan and sweep can
// never disagree on facts, match or fingerprint.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { DescribeInstancesCommand, type EC2Client, type Instance } from '@aws-sdk/client-ec2';
import { isOptedIn } from '../../functions/core/eligibility.js';
import { ec2Tags } from '../../functions/core/facts.js';
import { describeAdjustment } from '../../functions/core/playbook-vars.js';
import { LIVE_EC2_STATES, observeSources } from '../../functions/core/reconcile.js';
import { RulesValidationError } from '../../functions/core/rules.js';
import type { Ec2InstanceShape, PlannedPlaybook, RulesBundle } from '../../functions/core/types.js';
import type { FleetEntry } from '../../functions/shared/state-store-api.js';
import { CliError, EXIT, flag, stringOption, UsageError } from '../args.js';
import { describeAwsError } from '../aws.js';
import { displayPath, loadLocalBundle, RULES_OPTION, rulesPathFrom } from '../bundle.js';
import type { Command, CommandContext } from '../context.js';
import { FleetFileError } from '../fleet-file.js';
import { formatTable, type Output, paintStatus } from '../output.js';
import { type HostPlan, instancesFromFleetFile, planHosts } from '../plan-hosts.js';
import { resolveStack } from '../stack.js';
import { openStore } from '../store.js';

export { type HostPlan, instancesFromFleetFile, planHosts };

/** Every opted-in EC2 instance in a live state (the sweep's query), page by page. */
export async function instancesFromEc2(
  ec2: Pick<EC2Client, 'send'>,
  bundle: RulesBundle,
  onPage: (count: number) => void = () => undefined,
): Promise<Instance[]> {
  const { tagKey, tagValue } = bundle.config.optIn;
  const instances: Instance[] = [];
  let NextToken: string | undefined;
  do {
    const page = await ec2.send(
      new DescribeInstancesCommand({
        Filters: [
          { Name: `tag:${tagKey}`, Values: [tagValue] },
          { Name: 'instance-state-name', Values: [...LIVE_EC2_STATES] },
        ],
        MaxResults: 1000,
        NextToken,
      }),
    );
    for (const reservation of page.Reservations ?? []) instances.push(...(reservation.Instances ?? []));
    onPage(instances.length);
    NextToken = page.NextToken;
  } while (NextToken);
  return instances;
}

function describePlaybook(playbook: PlannedPlaybook): string {
  const vars = Object.entries(playbook.extraVars).map(([key, value]) => `${key}=${value}`);
  const settings = [...vars, ...(playbook.check ? ['check mode'] : [])];
  return settings.length > 0 ? `${playbook.file} (${settings.join(', ')})` : playbook.file;
}

function loadRules(rulesPath: string): RulesBundle {
  try {
    return loadLocalBundle(rulesPath);
  } catch (error) {
    if (error instanceof RulesValidationError) {
      throw new CliError(`${error.message}\nFix the rules first (autoprov validate).`);
    }
    throw error;
  }
}

/** The EC2 instances to plan for: from the fleet file when given, else from EC2. */
async function readInstances(
  context: CommandContext,
  bundle: RulesBundle,
  fleetFile: string | undefined,
): Promise<{ instances: Ec2InstanceShape[]; source: string }> {
  if (fleetFile === undefined) {
    try {
      const instances = await instancesFromEc2(context.clients.ec2(), bundle, (n) =>
        context.out.progress(`DescribeInstances: ${n} instances…`),
      );
      return { instances, source: 'EC2' };
    } catch (error) {
      throw new CliError(
        `cannot list EC2 instances: ${describeAwsError(error)} (use --fleet <file> to plan without EC2)`,
      );
    }
  }
  const path = resolve(context.cwd, fleetFile);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new CliError(`cannot read fleet file ${fleetFile}: ${(error as Error).message}`);
  }
  try {
    return {
      instances: instancesFromFleetFile(text, fleetFile),
      source: `fleet file ${displayPath(context.cwd, path)}`,
    };
  } catch (error) {
    if (error instanceof FleetFileError) throw new CliError(error.message);
    throw error;
  }
}

/** The fleet index when the table is reachable; otherwise why not (plan still works without it). */
async function readRecords(
  context: CommandContext,
): Promise<{ known?: Map<string, FleetEntry>; note?: string }> {
  if (flag(context.args, 'offline')) return { note: 'state table not read (--offline)' };
  try {
    const stack = await resolveStack(context.stack, context.clients.cloudFormation, { table: true });
    context.out.progress('reading the state table…');
    const fleet = await openStore(context, stack.tableName ?? '').listFleet();
    return { known: new Map(fleet.map((entry) => [entry.instanceId, entry])) };
  } catch (error) {
    const why = error instanceof CliError ? error.message : describeAwsError(error);
    return { note: `state table not read, so "changed" is not shown: ${why}` };
  }
}

function printHost(out: Output, host: HostPlan, stateRead: boolean, showVars: boolean): void {
  const { paint } = out;
  const state = host.record
    ? `${paintStatus(host.record.status, paint)} g${host.record.generation}${host.changed ? `, ${paint.yellow('changed since last success')}` : ''}`
    : stateRead
      ? paint.cyan('new (no record yet)')
      : '';
  const name = host.name && host.name !== host.instanceId ? `  ${host.name}` : '';
  out.print(
    `${paint.bold(host.instanceId)}${name}  ${paint.dim(`(${host.source})`)}${state ? `  ${state}` : ''}`,
  );
  const rows = host.rules.map((rule) => [rule.matched ? '✔' : '✖', rule.rule, rule.reasons.join('; ')]);
  const table = formatTable([{ header: '' }, { header: 'rule' }, { header: 'why' }], rows, {
    colour: (row, column, text) =>
      column === 0 ? (host.rules[row]?.matched ? paint.green(text) : paint.red(text)) : text,
  });
  // Without the header row: the marks say enough.
  for (const line of table.slice(1)) out.print(`  ${line}`);
  out.print(
    host.playbooks.length > 0
      ? `  → ${host.playbooks.map(describePlaybook).join(', ')}`
      : `  → ${paint.yellow('no playbooks: would be recorded SKIPPED')}`,
  );
  for (const adjustment of host.varsAdjusted)
    out.print(`  ${paint.yellow('!')} var ${adjustment.key}: ${describeAdjustment(adjustment)}`);
  if (!showVars) return;
  out.print('  vars (as {{ var }} gives them in the playbook):');
  for (const [key, value] of Object.entries(host.vars)) out.print(`    ${key}=${value}`);
}

export const planCommand: Command = {
  name: 'plan',
  usage:
    'autoprov plan [--fleet fleet.yaml | --from-ec2] [--rules playbooks/rules.yaml] [--offline] [--vars] [--json]',
  description: `Matches every opted-in host against the rules and shows the playbooks it would get, with the
reason each rule did or did not match. Hosts come from EC2 (default: DescribeInstances with the
opt-in tag) or from a local-mode fleet file (--fleet), plus the static inventories. When the state
table is reachable, hosts whose last success applied other rules or playbooks are flagged "changed".
Vars that cannot be sent as written (colliding tag keys, values sent base64-encoded or dropped) are
listed under each host, as a run would record them (VARS_ADJUSTED); --vars lists every var sent.`,
  options: {
    ...RULES_OPTION,
    fleet: {
      type: 'string',
      value: '<file>',
      description: 'read instances from a local-mode fleet file (YAML/JSON) instead of EC2',
    },
    'from-ec2': { type: 'boolean', description: 'read instances from EC2 DescribeInstances (the default)' },
    offline: { type: 'boolean', description: 'do not read the state table (no "changed" flags)' },
    vars: {
      type: 'boolean',
      description: "also list every var each host's playbooks get, as {{ var }} gives it",
    },
  },
  examples: ['autoprov plan', 'autoprov plan --fleet fleet.yaml --offline', 'autoprov plan --json'],
  async run(context) {
    const { out, args } = context;
    const fleetFile = stringOption(args, 'fleet');
    if (fleetFile !== undefined && flag(args, 'from-ec2')) {
      throw new UsageError('use either --fleet or --from-ec2, not both');
    }
    if (args.positionals.length > 0) throw new UsageError(`unexpected argument "${args.positionals[0]}"`);
    const rulesPath = rulesPathFrom(args, context.cwd);
    const bundle = loadRules(rulesPath);
    const { instances, source } = await readInstances(context, bundle, fleetFile);
    const notOptedIn = instances.filter((instance) => !isOptedIn(ec2Tags(instance), bundle.config)).length;
    const { observations, ec2, inventory } = observeSources(instances, bundle);
    const { known, note } = await readRecords(context);
    const hosts = planHosts(bundle, observations, known);

    if (context.json) {
      out.json({
        rulesFile: displayPath(context.cwd, rulesPath),
        bundleHash: bundle.bundleHash,
        source,
        stateRead: known !== undefined,
        ...(note ? { stateNote: note } : {}),
        counts: { ec2, inventory, notOptedIn },
        hosts,
      });
      return EXIT.ok;
    }
    if (note) out.note(note);
    const { paint } = out;
    out.print(
      paint.bold(`Plan for ${hosts.length} host${hosts.length === 1 ? '' : 's'}`) +
        ` (${ec2} from ${source}, ${inventory} from inventories; rules ${displayPath(context.cwd, rulesPath)}, bundle ${bundle.bundleHash.slice(0, 12)})`,
    );
    if (notOptedIn > 0) {
      const { tagKey, tagValue } = bundle.config.optIn;
      out.print(
        paint.dim(
          `${notOptedIn} instance${notOptedIn === 1 ? '' : 's'} without ${tagKey}=${tagValue} left out.`,
        ),
      );
    }
    for (const host of hosts) {
      out.print();
      printHost(out, host, known !== undefined, flag(args, 'vars'));
    }
    return EXIT.ok;
  },
};
