// The steady-state sweep figure (docs/architecture.md "Budgets": 10,000 opted-in instances, 0 DynamoDB writes, ≤ 15 API calls).
// Provisioning 10,000 instances through the workflow would take hours locally, so the fleet is seeded:
// 1. one EC2 instance (and the static inventory's hybrid nodes) is provisioned for real by a sweep — EC2
//    events are all dropped in this stack, so the sweep is what finds them;
// 2. the other instances are launched, listed with the sweep's own code (listOptedInInstances →
//    observeSources with the sweep function's bundle), and each gets a copy of the real record's items
//    (every non-history item of its partition, as the store wrote them) with its own id, facts, facts hash
//    and fingerprint — so the sweep sees exactly what a provisioned fleet looks like;
// 3. the counters are reset and ONE sweep runs; its calls and writes are the figure.
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EC2Client } from '@aws-sdk/client-ec2';
import { BatchWriteCommand, DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { loadBundle } from '../../functions/core/bundle-file.js';
import { type Observation, observeSources } from '../../functions/core/reconcile.js';
import { HISTORY_SK_PREFIX } from '../../functions/shared/table-schema.js';
import { executionNameOf } from '../../functions/shared/workflow-contract.js';
import { listOptedInInstances } from '../../functions/sweep/list-instances.js';
import { type LocalStack, startLocalStack } from '../local/stack.js';
import { BENCH_INSTANCE_TYPE, BENCH_TAGS } from './workload.js';

const WRITES = new Set(['PutItem', 'UpdateItem', 'DeleteItem', 'BatchWriteItem', 'TransactWriteItems']);

export interface SweepFigures {
  /** Opted-in EC2 instances in the fleet (all SUCCESS with the current fingerprint). */
  readonly instances: number;
  /** Static inventory hosts the sweep also reconciles (provisioned for real, SUCCESS). */
  readonly inventoryHosts: number;
  /** Every AWS API call of the one sweep, DynamoDB included. */
  readonly apiCalls: number;
  readonly ddbWrites: number;
  readonly byOperation: Readonly<Record<string, number>>;
  readonly describeInstancesPages: number;
  readonly dynamoDbQueryPages: number;
  /** Approximate stored size of one state item (DynamoDB's size rules) and of the rest of its partition. */
  readonly itemBytes: Readonly<Record<string, number>>;
  readonly summary: unknown;
  readonly seedSeconds: number;
  readonly sweepSeconds: number;
}

export interface SweepOptions {
  readonly instances: number;
  readonly seed: number;
  readonly stateDir?: string;
  readonly log: (line: string) => void;
}

type Item = Record<string, unknown>;

export async function runSteadySweep(options: SweepOptions): Promise<SweepFigures> {
  const stack = await startLocalStack({
    simulatedAnsible: true,
    sweepSchedule: false,
    seed: options.seed,
    // EC2 lifecycle and tag events are lost on purpose: the instances are seeded, and the template one is
    // found by a sweep. SSM's command status events still flow: the workflow's callbacks need them.
    eventFaults: { dropIf: (event) => event.source === 'aws.ec2' || event.source === 'aws.tag' },
    // The sample inventory's three hybrid nodes, as the demo runs them (the shipped rules.yaml enables none).
    inventories: ['inventory/onprem.example.ini'],
    ...(options.stateDir ? { stateDir: options.stateDir } : {}),
    onProgress: (message) => options.log(`  ${message}`),
  });
  let measured = false;
  try {
    const figures = await measure(stack, options);
    measured = true;
    return figures;
  } finally {
    // A run that failed keeps its logs and table for a look.
    await stack.stop({ removeStateDir: measured && !options.stateDir });
    if (!measured) options.log(`  sweep: state kept in ${stack.stateDir}`);
  }
}

async function measure(stack: LocalStack, options: SweepOptions): Promise<SweepFigures> {
  const seedStarted = Date.now();
  const sweeper = stack.spec.functions.find((f) => f.serviceName === 'sweep');
  if (!sweeper) throw new Error('The assembly has no sweep function (POWERTOOLS_SERVICE_NAME=sweep).');
  const bundle = loadBundle(join(sweeper.assetDir, 'rules.json'));
  const tableName = String(stack.spec.table.create.TableName);
  const doc = DynamoDBDocumentClient.from(
    new DynamoDBClient({
      endpoint: stack.endpoints.dynamoDbDirect,
      region: stack.spec.region,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    }),
    { marshallOptions: { removeUndefinedValues: true } },
  );
  const ec2 = new EC2Client({
    endpoint: stack.endpoints.aws,
    region: stack.spec.region,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  try {
    // 1. The template record (and the inventory's hybrid nodes), provisioned for real by one sweep.
    const hybrid = bundle.inventoryHosts.filter((h) => h.instanceId.startsWith('mi-'));
    for (const host of hybrid) stack.fleet.launch({ instanceId: host.instanceId, name: host.name });
    const template = stack.fleet.launch({
      name: 'steady-1',
      instanceType: BENCH_INSTANCE_TYPE,
      platform: 'linux',
      tags: { ...BENCH_TAGS },
    });
    options.log('  sweep: provisioning the template instance and the inventory hosts for real…');
    await stack.sweepNow();
    await stack.waitForIdle({ timeoutMs: 120_000 });
    const templateRecord = await stack.store.getInstance(template.instanceId);
    if (templateRecord?.status !== 'SUCCESS') {
      throw new Error(
        `The template instance ${template.instanceId} ended ${templateRecord?.status ?? 'without a record'}, not SUCCESS: see ${stack.logDir}`,
      );
    }

    // 2. The rest of the fleet, seeded from the template's items.
    for (let i = 2; i <= options.instances; i++) {
      stack.fleet.launch({
        name: `steady-${i}`,
        instanceType: BENCH_INSTANCE_TYPE,
        platform: 'linux',
        tags: { ...BENCH_TAGS },
      });
    }
    const listed = await listOptedInInstances(ec2, bundle.config.optIn);
    const { observations } = observeSources(listed.instances, bundle);
    const templateObservation = observations.find((o) => o.facts.instanceId === template.instanceId);
    if (templateObservation?.fingerprint !== templateRecord.lastSuccessFingerprint) {
      throw new Error(
        'The sweep would re-provision the template instance: its recorded fingerprint differs from the one ' +
          'observeSources computes with the sweep function’s bundle. The seeded fleet would not be steady.',
      );
    }
    const templateItems = (await partition(doc, tableName, template.instanceId)).filter(
      (item) => !String(item.sk).startsWith(HISTORY_SK_PREFIX),
    );
    const known = new Set([template.instanceId, ...hybrid.map((h) => h.instanceId)]);
    const seeds = observations
      .filter((o) => !known.has(o.facts.instanceId))
      .flatMap((o) =>
        templateItems.map((item) => cloneItem(item, template.instanceId, o, templateRecord.generation)),
      );
    await batchPut(doc, tableName, seeds, (done) =>
      options.log(
        `  sweep: seeded ${Math.round(done / templateItems.length)}/${options.instances - 1} records`,
      ),
    );
    const seedSeconds = (Date.now() - seedStarted) / 1000;

    // 3. One sweep over the steady fleet.
    stack.resetCounters();
    const sweepStarted = Date.now();
    const summary = await stack.sweepNow();
    const sweepSeconds = (Date.now() - sweepStarted) / 1000;
    await stack.waitForIdle({ timeoutMs: 60_000 });
    const byOperation = Object.fromEntries(
      Object.entries(stack.counters())
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([key, c]) => [key, c.calls]),
    );
    const total = (filter: (key: string) => boolean) =>
      Object.entries(byOperation).reduce((s, [key, calls]) => (filter(key) ? s + calls : s), 0);
    return {
      instances: listed.instances.length,
      inventoryHosts: hybrid.length,
      apiCalls: total(() => true),
      ddbWrites: total((key) => key.startsWith('DynamoDB.') && WRITES.has(key.slice('DynamoDB.'.length))),
      byOperation,
      describeInstancesPages: byOperation['EC2.DescribeInstances'] ?? 0,
      dynamoDbQueryPages: byOperation['DynamoDB.Query'] ?? 0,
      itemBytes: Object.fromEntries(templateItems.map((item) => [String(item.sk), itemSize(item)])),
      summary,
      seedSeconds: Math.round(seedSeconds * 10) / 10,
      sweepSeconds: Math.round(sweepSeconds * 100) / 100,
    };
  } finally {
    doc.destroy();
    ec2.destroy();
  }
}

export async function partition(doc: DynamoDBDocumentClient, tableName: string, pk: string): Promise<Item[]> {
  const items: Item[] = [];
  let startKey: Item | undefined;
  do {
    const page = await doc.send(
      new QueryCommand({
        TableName: tableName,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': pk },
        ExclusiveStartKey: startKey,
      }),
    );
    items.push(...((page.Items ?? []) as Item[]));
    startKey = page.LastEvaluatedKey as Item | undefined;
  } while (startKey);
  return items;
}

/**
 * The template's item for another instance: every mention of the template id becomes the new id (key,
 * execution name, log links), and the observation-specific attributes are the new instance's, wherever the
 * store keeps them and in the form it stores them (a hash stored as raw bytes stays raw bytes).
 */
export function cloneItem(item: Item, templateId: string, observed: Observation, generation: number): Item {
  const id = observed.facts.instanceId;
  const copy = rewrite(item, (text) => text.replaceAll(templateId, id)) as Item;
  const hash = (current: unknown, hex: string) =>
    current instanceof Uint8Array ? new Uint8Array(Buffer.from(hex, 'hex')) : hex;
  if ('facts' in copy) copy.facts = observed.facts;
  if ('factsHash' in copy) copy.factsHash = hash(copy.factsHash, observed.factsHash);
  if ('fingerprint' in copy) copy.fingerprint = hash(copy.fingerprint, observed.fingerprint);
  if ('lastSuccessFingerprint' in copy)
    copy.lastSuccessFingerprint = hash(copy.lastSuccessFingerprint, observed.fingerprint);
  if ('executionName' in copy) copy.executionName = executionNameOf(id, generation);
  return copy;
}

/** A deep copy with every string passed through `text`. */
function rewrite(value: unknown, text: (s: string) => string): unknown {
  if (typeof value === 'string') return text(value);
  if (value instanceof Uint8Array) return new Uint8Array(value);
  if (Array.isArray(value)) return value.map((v) => rewrite(v, text));
  if (value && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, rewrite(v, text)]));
  return value;
}

export async function batchPut(
  doc: DynamoDBDocumentClient,
  tableName: string,
  items: readonly Item[],
  onProgress: (done: number) => void,
): Promise<void> {
  const batches: Item[][] = [];
  for (let i = 0; i < items.length; i += 25) batches.push(items.slice(i, i + 25));
  let next = 0;
  let done = 0;
  let reported = Date.now();
  const worker = async () => {
    while (next < batches.length) {
      const batch = batches[next++] ?? [];
      let requests = batch.map((Item) => ({ PutRequest: { Item } }));
      for (let attempt = 0; requests.length > 0; attempt++) {
        if (attempt > 0) await new Promise((r) => setTimeout(r, Math.min(1000, 20 * 2 ** attempt)));
        const result = await doc.send(new BatchWriteCommand({ RequestItems: { [tableName]: requests } }));
        requests = (result.UnprocessedItems?.[tableName] ?? []) as typeof requests;
      }
      done += batch.length;
      if (Date.now() - reported > 5_000) {
        reported = Date.now();
        onProgress(done);
      }
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
}

/**
 * DynamoDB's item size: attribute names + values (strings by UTF-8 length, binary by length, numbers ≈ 1 byte
 * per 2 digits + 1, booleans/null 1, 3 bytes overhead per list/map plus 1 per element).
 */
export function itemSize(item: Item): number {
  const value = (v: unknown): number => {
    if (v === null || typeof v === 'boolean') return 1;
    if (typeof v === 'string') return Buffer.byteLength(v);
    if (v instanceof Uint8Array) return v.length;
    if (typeof v === 'number') return Math.ceil(String(Math.abs(v)).replace(/[.-]/g, '').length / 2) + 1;
    if (Array.isArray(v)) return 3 + v.reduce((s: number, e) => s + 1 + value(e), 0);
    if (typeof v === 'object')
      return 3 + Object.entries(v as Item).reduce((s, [k, e]) => s + 1 + Buffer.byteLength(k) + value(e), 0);
    return 0;
  };
  return Object.entries(item).reduce((s, [k, v]) => s + Buffer.byteLength(k) + value(v), 0);
}
