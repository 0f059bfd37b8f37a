// The one way a handler opens the state store: table and history retention from its environment.
import { clients } from './clients.js';
import { getNumberFromEnv, getOptionalStringFromEnv, getStringFromEnv } from './config.js';
import { StateStore } from './state-store.js';

/**
 * Built once per cold start. Records carry account and region (docs/architecture.md "What comes next"): taken from
 * STATE_MACHINE_ARN (`arn:aws:states:<region>:<account>:stateMachine:<name>`) where the function has it.
 */
export function stateStoreFromEnv(): StateStore {
  const [, , , region, accountId] = (getOptionalStringFromEnv('STATE_MACHINE_ARN') ?? '').split(':');
  return new StateStore({
    doc: clients.dynamo(),
    tableName: getStringFromEnv('TABLE_NAME'),
    historyDays: getNumberFromEnv('HISTORY_DAYS', 90),
    ...(accountId ? { accountId } : {}),
    ...(region ? { region } : {}),
  });
}
