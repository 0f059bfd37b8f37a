// A fresh state table in the shared DynamoDB Local (started by test/global-setup.ts) with the real
// schema from table-schema.ts, so claims, fences and GSI queries are tested against DynamoDB's own
// semantics. Every call creates a uniquely named table: suites never see each other's items.
import { randomUUID } from 'node:crypto';
import {
  CreateTableCommand,
  DynamoDBClient,
  type GlobalSecondaryIndex,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { inject } from 'vitest';
import { StateStore } from '../../functions/shared/state-store.js';
import { FLEET_INDEX, STATUS_INDEX, TABLE_KEYS, TTL_ATTRIBUTE } from '../../functions/shared/table-schema.js';

export interface TestTable {
  readonly tableName: string;
  readonly doc: DynamoDBDocumentClient;
  readonly store: StateStore;
}

/** A document client on DynamoDB Local, configured like functions/shared/clients.ts. */
export function localDocumentClient(): DynamoDBDocumentClient {
  const client = new DynamoDBClient({
    endpoint: inject('dynamoDbEndpoint'),
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
  return DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
}

/** The table the stack deploys (infra builds it from the same table-schema.ts constants). */
export async function createTable(doc: DynamoDBDocumentClient, tableName: string): Promise<void> {
  const statusIndex: GlobalSecondaryIndex = {
    IndexName: STATUS_INDEX.name,
    KeySchema: [
      { AttributeName: STATUS_INDEX.partitionKey, KeyType: 'HASH' },
      { AttributeName: STATUS_INDEX.sortKey, KeyType: 'RANGE' },
    ],
    // listByStatus returns full records.
    Projection: { ProjectionType: 'ALL' },
  };
  const fleetIndex: GlobalSecondaryIndex = {
    IndexName: FLEET_INDEX.name,
    KeySchema: [
      { AttributeName: FLEET_INDEX.partitionKey, KeyType: 'HASH' },
      { AttributeName: FLEET_INDEX.sortKey, KeyType: 'RANGE' },
    ],
    Projection: { ProjectionType: 'INCLUDE', NonKeyAttributes: [...FLEET_INDEX.projectedAttributes] },
  };
  await doc.send(
    new CreateTableCommand({
      TableName: tableName,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [
        { AttributeName: TABLE_KEYS.partitionKey, AttributeType: 'S' },
        { AttributeName: TABLE_KEYS.sortKey, AttributeType: 'S' },
        { AttributeName: STATUS_INDEX.partitionKey, AttributeType: 'S' },
        { AttributeName: STATUS_INDEX.sortKey, AttributeType: 'S' },
        { AttributeName: FLEET_INDEX.partitionKey, AttributeType: 'S' },
      ],
      KeySchema: [
        { AttributeName: TABLE_KEYS.partitionKey, KeyType: 'HASH' },
        { AttributeName: TABLE_KEYS.sortKey, KeyType: 'RANGE' },
      ],
      GlobalSecondaryIndexes: [statusIndex, fleetIndex],
    }),
  );
  await doc.send(
    new UpdateTimeToLiveCommand({
      TableName: tableName,
      TimeToLiveSpecification: { AttributeName: TTL_ATTRIBUTE, Enabled: true },
    }),
  );
}

/** A new, empty, uniquely named table and a store on it. */
export async function createTestTable(options: { historyDays?: number } = {}): Promise<TestTable> {
  const doc = localDocumentClient();
  const tableName = `autoprov-test-${randomUUID()}`;
  await createTable(doc, tableName);
  const store = new StateStore({
    doc,
    tableName,
    accountId: '123456789012',
    region: 'us-east-1',
    ...(options.historyDays === undefined ? {} : { historyDays: options.historyDays }),
  });
  return { tableName, doc, store };
}

const WRITE_COMMANDS = new Set([
  'PutItemCommand',
  'UpdateItemCommand',
  'DeleteItemCommand',
  'BatchWriteItemCommand',
  'TransactWriteItemsCommand',
]);

export interface CommandCounter {
  /** Every command sent since the counter was installed (or last reset), by name, in order. */
  readonly commands: string[];
  writes(): number;
  reset(): void;
}

/**
 * Counts the commands a document client sends (a middleware on the shared stack), so a test can
 * assert "zero writes" or an exact API-call budget without mocking DynamoDB.
 */
export function countCommands(doc: DynamoDBDocumentClient): CommandCounter {
  const commands: string[] = [];
  doc.middlewareStack.add(
    (next, context) => async (args) => {
      commands.push(String(context.commandName));
      return next(args);
    },
    { step: 'initialize', name: `autoprovCommandCounter-${randomUUID()}` },
  );
  return {
    commands,
    writes: () => commands.filter((name) => WRITE_COMMANDS.has(name)).length,
    reset: () => {
      commands.length = 0;
    },
  };
}
