// The state store as the CLI uses it: the same StateStore class the functions use (so a CLI retry
// is the same conditional claim), and instance references by id or by Name tag.
import { hasInstanceIdShape } from '../functions/core/instance-id.js';
import { StateStore } from '../functions/shared/state-store.js';
import type { InstanceRecord } from '../functions/shared/state-store-api.js';
import { CliError } from './args.js';
import { type CommandContext, cliLogger } from './context.js';

export function openStore(context: CommandContext, tableName: string, stateMachineArn?: string): StateStore {
  // Records carry account and region (docs/architecture.md "What comes next"); the state machine ARN names both.
  const [, , , region, accountId] = stateMachineArn?.split(':') ?? [];
  return new StateStore({
    doc: context.clients.dynamo(),
    tableName,
    logger: cliLogger(context.out),
    ...(accountId ? { accountId } : {}),
    ...(region ? { region } : {}),
  });
}

/** `i-…` / `mi-…` as given; anything else is looked up as a Name tag among the records. */
export async function resolveInstanceRef(
  store: Pick<StateStore, 'listAll'>,
  ref: string,
): Promise<{ instanceId: string; record?: InstanceRecord }> {
  if (hasInstanceIdShape(ref)) return { instanceId: ref };
  const matches = (await store.listAll()).filter((record) => record.facts.name === ref);
  if (matches.length === 1 && matches[0]) return { instanceId: matches[0].instanceId, record: matches[0] };
  if (matches.length === 0) {
    throw new CliError(
      `no instance record is named "${ref}": pass an instance id (i-… or mi-…); \`autoprov status\` lists the known instances.`,
    );
  }
  throw new CliError(
    `${matches.length} records are named "${ref}" (${matches.map((m) => m.instanceId).join(', ')}): pass one instance id.`,
  );
}
