// A counting proxy in front of DynamoDB Local: the bundled functions get its address as
// AWS_ENDPOINT_URL_DYNAMODB, so every DynamoDB call they make is counted per `DynamoDB.<Operation>` next to
// the other services' calls (the benchmark's API budgets), can be throttled with DynamoDB's own error, and
// every successful write reports the partition keys it touched (local mode's live progress reads the record
// then). The harness's own reads go to DynamoDB Local directly and are never counted.
// Throttled and internal errors use the error types DynamoDB documents, with HTTP 400 and 500
// (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Programming.Errors.html).
import {
  Agent,
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import { type CallCounter, CallCounters, type ThrottleConfig } from './aws-server.js';
import { createRng } from './rng.js';

export interface DynamoDbProxyOptions {
  /** DynamoDB Local's endpoint, e.g. http://127.0.0.1:8000. */
  readonly target: string;
  /** Fractions keyed `DynamoDB` or `DynamoDB.<Operation>`. */
  readonly throttle?: ThrottleConfig;
  readonly seed?: number;
  /** After a successful write: the table and the partition key values it touched. */
  readonly onWrite?: (table: string, partitionKeys: readonly string[]) => void;
}

export interface DynamoDbProxy {
  readonly endpoint: string;
  counters(): Record<string, CallCounter>;
  resetCounters(): void;
  setThrottle(config: ThrottleConfig): void;
  stop(): Promise<void>;
}

const WRITES = new Set(['PutItem', 'UpdateItem', 'DeleteItem', 'BatchWriteItem', 'TransactWriteItems']);

type AttributeMap = Record<string, Record<string, unknown>>;

/** The first string attribute of each written key/item: the partition key in this table's schema (`pk`). */
function writtenKeys(operation: string, body: Record<string, unknown>): { table: string; keys: string[] }[] {
  const pk = (item: unknown): string | undefined => {
    const value = (item as AttributeMap | undefined)?.pk?.S;
    return typeof value === 'string' ? value : undefined;
  };
  const one = (table: unknown, item: unknown) =>
    typeof table === 'string' && pk(item) ? [{ table, keys: [pk(item) as string] }] : [];
  switch (operation) {
    case 'PutItem':
      return one(body.TableName, body.Item);
    case 'UpdateItem':
    case 'DeleteItem':
      return one(body.TableName, body.Key);
    case 'BatchWriteItem':
      return Object.entries((body.RequestItems ?? {}) as Record<string, Record<string, unknown>[]>).map(
        ([table, requests]) => ({
          table,
          keys: requests
            .map((r) =>
              pk((r.PutRequest as { Item?: unknown })?.Item ?? (r.DeleteRequest as { Key?: unknown })?.Key),
            )
            .filter((k): k is string => k !== undefined),
        }),
      );
    case 'TransactWriteItems':
      return ((body.TransactItems ?? []) as Record<string, Record<string, unknown>>[]).flatMap((t) => {
        const action = t.Put ?? t.Update ?? t.Delete;
        return action ? one(action.TableName, action.Item ?? action.Key) : [];
      });
    default:
      return [];
  }
}

export async function startDynamoDbProxy(options: DynamoDbProxyOptions): Promise<DynamoDbProxy> {
  const target = new URL(options.target);
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const rng = createRng(options.seed ?? 99);
  let throttle: ThrottleConfig = options.throttle ?? {};
  const counters = new CallCounters();

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const amzTarget = String(req.headers['x-amz-target'] ?? '');
      const operation = amzTarget.split('.')[1] ?? 'Unknown';
      const key = `DynamoDB.${operation}`;
      const counter = counters.of(key);
      counter.calls++;
      const fraction = throttle[key] ?? throttle.DynamoDB ?? 0;
      if (rng.chance(fraction)) {
        counter.throttled++;
        const payload = JSON.stringify({
          __type: 'com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException',
          message: 'The level of configured provisioned throughput for the table was exceeded.',
        });
        res.writeHead(400, {
          'content-type': 'application/x-amz-json-1.0',
          'content-length': String(Buffer.byteLength(payload)),
        });
        res.end(payload);
        return;
      }
      const upstream = httpRequest(
        {
          host: target.hostname,
          port: target.port,
          method: req.method,
          path: req.url,
          headers: { ...req.headers, host: target.host },
          agent,
        },
        (answer) => {
          const parts: Buffer[] = [];
          answer.on('data', (chunk: Buffer) => parts.push(chunk));
          answer.on('end', () => {
            const status = answer.statusCode ?? 500;
            if (status >= 400) counter.errors++;
            res.writeHead(status, answer.headers);
            res.end(Buffer.concat(parts));
            if (status < 300 && WRITES.has(operation) && options.onWrite) {
              try {
                const parsed = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
                for (const w of writtenKeys(operation, parsed)) options.onWrite(w.table, w.keys);
              } catch {
                // Not JSON: nothing to report.
              }
            }
          });
        },
      );
      upstream.on('error', (error) => {
        counter.errors++;
        const payload = JSON.stringify({
          __type: 'com.amazonaws.dynamodb.v20120810#InternalServerError',
          message: `DynamoDB Local is not reachable: ${error.message}`,
        });
        res.writeHead(500, { 'content-type': 'application/x-amz-json-1.0' });
        res.end(payload);
      });
      upstream.end(body);
    });
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    counters: () => counters.snapshot(),
    resetCounters: () => counters.reset(),
    setThrottle: (config) => {
      throttle = config;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        agent.destroy();
      }),
  };
}
