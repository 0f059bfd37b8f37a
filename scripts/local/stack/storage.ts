// The state table, locally: AWS's DynamoDB Local with the table the template defines (keys, indexes, TTL),
// behind the counting proxy the bundled functions talk to (counted, throttled, reporting the instances each
// write touched), plus the harness's own StateStore, which goes to DynamoDB Local directly, uncounted.
import { join } from 'node:path';
import {
  CreateTableCommand,
  DynamoDBClient,
  ResourceInUseException,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { StateStore } from '../../../functions/shared/state-store.js';
import { type DynamoDbLocal, startDynamoDbLocal } from '../dynamodb-local.js';
import { type DynamoDbProxy, startDynamoDbProxy } from '../dynamodb-proxy.js';
import type { LocalStackSpec } from '../template.js';
import type { ChangeFeed } from './change-feed.js';
import { type Cleanups, type LocalStackOptions, throttleConfig } from './options.js';

export interface LocalStorage {
  readonly ddb: DynamoDbLocal;
  readonly proxy: DynamoDbProxy;
  readonly store: StateStore;
}

/** Starts DynamoDB Local and its proxy and creates the table; every part is in `cleanups` as it starts. */
export async function startStorage(
  spec: LocalStackSpec,
  stateDir: string,
  options: Pick<LocalStackOptions, 'throttle'> & { readonly seed: number },
  changes: ChangeFeed,
  cleanups: Cleanups,
): Promise<LocalStorage> {
  const { seed } = options;
  const ddb: DynamoDbLocal = await startDynamoDbLocal({ dbPath: join(stateDir, 'dynamodb') });
  cleanups.push(() => ddb.stop());
  const proxy: DynamoDbProxy = await startDynamoDbProxy({
    target: ddb.endpoint,
    throttle: throttleConfig(options.throttle),
    seed: seed + 1,
    onWrite: (table, keys) => {
      if (table === spec.table.create.TableName) for (const key of keys) changes.touched(key);
    },
  });
  cleanups.push(() => proxy.stop());
  const direct = DynamoDBDocumentClient.from(
    new DynamoDBClient({
      endpoint: ddb.endpoint,
      region: spec.region,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    }),
    { marshallOptions: { removeUndefinedValues: true } },
  );
  cleanups.push(() => direct.destroy());
  await createTable(direct, spec);
  const historyDays = Number(spec.functions[0]?.environment.HISTORY_DAYS ?? 90);
  const store = new StateStore({
    doc: direct,
    tableName: String(spec.table.create.TableName),
    historyDays,
    accountId: spec.account,
    region: spec.region,
  });
  return { ddb, proxy, store };
}

async function createTable(doc: DynamoDBDocumentClient, spec: LocalStackSpec): Promise<void> {
  try {
    await doc.send(new CreateTableCommand(spec.table.create));
  } catch (error) {
    // A kept state directory already has the table (DynamoDB Local -dbPath).
    if (error instanceof ResourceInUseException) return;
    throw error;
  }
  if (spec.table.ttlAttribute) {
    await doc.send(
      new UpdateTimeToLiveCommand({
        TableName: spec.table.create.TableName,
        TimeToLiveSpecification: { AttributeName: spec.table.ttlAttribute, Enabled: true },
      }),
    );
  }
}
