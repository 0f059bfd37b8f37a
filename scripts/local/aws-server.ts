// Local AWS endpoint for local mode, the end-to-end tests and the benchmark: ONE HTTP server on
// 127.0.0.1:<free port> that speaks each service's real wire protocol, so the real AWS SDK v3 clients in
// the bundled handlers (pointed here with AWS_ENDPOINT_URL_<SERVICE>) serialize and parse exactly as
// against AWS. Every call is counted per `Service.Operation`; a seeded fraction can be answered with the
// service's real throttling error so the SDK's retry logic is exercised.
//
// Supported operations (anything else gets a clear UnknownOperation error, never a silent success):
//   EC2 (Query/XML)           DescribeInstances — InstanceIds, Filters tag:<k> / tag-key / tag-value /
//                             instance-state-name / instance-state-code / instance-id / instance-type /
//                             availability-zone / vpc-id / platform, MaxResults + NextToken.
//   SSM (JSON 1.1)            SendCommand, GetCommandInvocation, ListCommandInvocations, CancelCommand,
//                             DescribeInstanceInformation (services/ssm.ts; commands run by ssm-agent.ts).
//   Step Functions (JSON 1.0) StartExecution, DescribeExecution, ListExecutions, StopExecution,
//                             GetExecutionHistory, SendTaskSuccess, SendTaskFailure, SendTaskHeartbeat,
//                             DescribeStateMachine (services/sfn.ts; ASL run by sfn-runner.ts).
//   SNS (Query/XML)           Publish, CreateTopic.
//   S3 (REST-XML)             GetObject, HeadObject, PutObject, DeleteObject, ListObjectsV2, CreateBucket
//                             (path-style, which the SDK uses for an IP endpoint, and virtual-host style).
//   Lambda (REST-JSON)        Invoke (RequestResponse, Event, DryRun) → function-host.ts.
//   Secrets Manager (JSON 1.1) GetSecretValue.
//   IAM (Query/XML)           GetInstanceProfile, ListAttachedRolePolicies (services/iam.ts; the agent also
//                             asks it whether an instance's profile may read the bundle).
//   CloudFormation (Query/XML) DescribeStacks — the stack's Outputs, resolved (services/cloudformation.ts).
//   SQS (JSON 1.0)            GetQueueAttributes — dead-letter queue depth (services/sqs.ts).
//   CloudWatch Logs (JSON 1.1) GetLogEvents — the command output the local agent wrote (services/logs.ts).
// DynamoDB is not emulated here: local mode uses DynamoDB Local (dynamodb-local.ts).
// Not AWS, not counted: POST <endpoint>/_local/webhooks/<anything> records the request and answers
// 200 {"ok":true} — a stand-in for Slack/Telegram webhooks so local mode never calls the internet.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import {
  type AwsRequest,
  type AwsResponse,
  newRequestId,
  PROTOCOL_OF,
  renderError,
  type ServiceEmulator,
  ServiceError,
  type ServiceName,
  throttlingError,
} from './protocol.js';
import { createRng, type Rng } from './rng.js';
import { s3Location } from './services/s3.js';

export interface CallCounter {
  /** Requests received (including throttled ones). */
  calls: number;
  /** Answered with the injected throttling error. */
  throttled: number;
  /** Answered with any other service error. */
  errors: number;
}

/** Per-key call counters (`Service.Operation`), shared by the local endpoint and the DynamoDB proxy. */
export class CallCounters {
  private byKey = new Map<string, CallCounter>();

  /** The live counter of `key`, created at zero. */
  of(key: string): CallCounter {
    let counter = this.byKey.get(key);
    if (!counter) {
      counter = { calls: 0, throttled: 0, errors: 0 };
      this.byKey.set(key, counter);
    }
    return counter;
  }

  /** A copy of every counter. */
  snapshot(): Record<string, CallCounter> {
    return Object.fromEntries([...this.byKey].map(([key, counter]) => [key, { ...counter }]));
  }

  entries(): IterableIterator<[string, CallCounter]> {
    return this.byKey.entries();
  }

  reset(): void {
    this.byKey = new Map();
  }
}

/** Fraction (0–1) of calls to throttle, keyed by service (`SSM`) or operation (`SSM.SendCommand`). */
export type ThrottleConfig = Readonly<Record<string, number>>;

export interface AwsServerOptions {
  readonly emulators: readonly ServiceEmulator[];
  readonly throttle?: ThrottleConfig;
  readonly seed?: number;
  readonly port?: number;
  /** Called for every request after routing (for logs); `outcome` is ok | throttled | <error code>. */
  readonly onCall?: (key: string, outcome: string) => void;
}

export interface WebhookCall {
  readonly path: string;
  readonly contentType: string;
  readonly body: string;
  readonly at: number;
}

export interface AwsServer {
  readonly endpoint: string;
  /** Requests received on /_local/webhooks/… (Slack/Telegram stand-ins). */
  readonly webhooks: WebhookCall[];
  readonly port: number;
  /** Per `Service.Operation`. */
  counters(): Record<string, CallCounter>;
  /** Sum of `calls` (optionally excluding throttled ones) over all or some services. */
  totalCalls(options?: { services?: readonly ServiceName[]; excludeThrottled?: boolean }): number;
  resetCounters(): void;
  setThrottle(config: ThrottleConfig): void;
  /** AWS_ENDPOINT_URL_* for bundled code; `AWS_ENDPOINT_URL` too, so any other service fails here, not in AWS. */
  endpointEnv(dynamoDbEndpoint?: string): Record<string, string>;
  stop(): Promise<void>;
}

interface Route {
  readonly service: ServiceName;
  readonly operation: string;
}

const JSON_TARGETS: readonly [string, ServiceName][] = [
  ['AmazonSSM.', 'SSM'],
  ['AWSStepFunctions.', 'SFN'],
  ['secretsmanager.', 'SecretsManager'],
  ['AmazonSQS.', 'SQS'],
  ['Logs_20140328.', 'Logs'],
];

const LAMBDA_INVOKE = /^\/2015-03-31\/functions\/([^/]+)\/invocations$/;

/** Works out service and operation from the wire protocol alone. */
export function routeRequest(request: AwsRequest): Route | undefined {
  const target = request.headers['x-amz-target'];
  if (typeof target === 'string') {
    for (const [prefix, service] of JSON_TARGETS) {
      if (target.startsWith(prefix)) return { service, operation: target.slice(prefix.length) };
    }
    return undefined;
  }
  const contentType = String(request.headers['content-type'] ?? '');
  if (
    request.method === 'POST' &&
    request.path === '/' &&
    contentType.startsWith('application/x-www-form-urlencoded')
  ) {
    const params = new URLSearchParams(request.body.toString('utf8'));
    const action = params.get('Action') ?? '';
    const version = params.get('Version');
    if (version === '2016-11-15') return { service: 'EC2', operation: action };
    if (version === '2010-03-31') return { service: 'SNS', operation: action };
    if (version === '2010-05-08') return { service: 'IAM', operation: action };
    if (version === '2010-05-15') return { service: 'CloudFormation', operation: action };
    return undefined;
  }
  if (LAMBDA_INVOKE.test(request.path)) return { service: 'Lambda', operation: 'Invoke' };
  if (request.path.startsWith('/2015-03-31/') || request.path.startsWith('/2017-')) return undefined;
  return { service: 'S3', operation: s3Operation(request) };
}

function s3Operation(request: AwsRequest): string {
  const hasKey = s3Location(request).key !== undefined;
  switch (request.method) {
    case 'GET':
      return hasKey ? 'GetObject' : 'ListObjectsV2';
    case 'HEAD':
      return hasKey ? 'HeadObject' : 'HeadBucket';
    case 'PUT':
      return hasKey ? 'PutObject' : 'CreateBucket';
    case 'DELETE':
      return hasKey ? 'DeleteObject' : 'DeleteBucket';
    default:
      return `${request.method}Object`;
  }
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export async function startAwsServer(options: AwsServerOptions): Promise<AwsServer> {
  const byService = new Map<ServiceName, ServiceEmulator>();
  for (const emulator of options.emulators) byService.set(emulator.service, emulator);
  let throttle: ThrottleConfig = options.throttle ?? {};
  const rng: Rng = createRng(options.seed ?? 42);
  const counters = new CallCounters();

  const webhooks: WebhookCall[] = [];

  const handle = async (request: AwsRequest): Promise<AwsResponse> => {
    if (request.path.startsWith('/_local/webhooks/')) {
      webhooks.push({
        path: request.path,
        contentType: String(request.headers['content-type'] ?? ''),
        body: request.body.toString('utf8'),
        at: Date.now(),
      });
      return { status: 200, headers: { 'content-type': 'application/json' }, body: '{"ok":true}' };
    }
    const route = routeRequest(request);
    if (!route) {
      return renderError(
        'json',
        new ServiceError(
          'UnknownOperationException',
          `The local AWS server cannot route ${request.method} ${request.rawPath} ` +
            `(x-amz-target=${String(request.headers['x-amz-target'] ?? '-')}): see the list at the top of scripts/local/aws-server.ts`,
        ),
        request,
      );
    }
    const key = `${route.service}.${route.operation}`;
    const counter = counters.of(key);
    counter.calls++;
    const protocol = PROTOCOL_OF[route.service];
    const fraction = throttle[key] ?? throttle[route.service] ?? 0;
    if (rng.chance(fraction)) {
      counter.throttled++;
      options.onCall?.(key, 'throttled');
      return renderError(protocol, throttlingError(route.service), request);
    }
    const emulator = byService.get(route.service);
    try {
      if (!emulator) {
        throw new ServiceError(
          'UnknownOperationException',
          `The local AWS server has no ${route.service} emulator configured (called ${key})`,
        );
      }
      const response = await emulator.handle(route.operation, request);
      options.onCall?.(key, 'ok');
      return response;
    } catch (error) {
      counter.errors++;
      const serviceError =
        error instanceof ServiceError
          ? error
          : new ServiceError(
              'InternalFailure',
              `Local ${route.service} emulator failed: ${String(error)}`,
              500,
            );
      if (!(error instanceof ServiceError)) console.error(`[aws-server] ${key} crashed:`, error);
      options.onCall?.(key, serviceError.code);
      return renderError(protocol, serviceError, request);
    }
  };

  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    void (async () => {
      const requestId = newRequestId();
      const url = new URL(req.url ?? '/', 'http://local');
      let response: AwsResponse;
      try {
        const body = await readBody(req);
        const request: AwsRequest = {
          method: req.method ?? 'GET',
          path: decodeURIComponent(url.pathname),
          rawPath: url.pathname,
          query: url.searchParams,
          headers: req.headers,
          host: req.headers.host ?? '',
          body,
          requestId,
        };
        response = await handle(request);
      } catch (error) {
        response = { status: 500, body: `local aws server error: ${String(error)}` };
      }
      const headers: Record<string, string> = { 'x-amzn-requestid': requestId, ...response.headers };
      const body = response.body ?? '';
      if (req.method !== 'HEAD' || headers['content-length'] === undefined) {
        headers['content-length'] = String(Buffer.byteLength(body));
      }
      res.writeHead(response.status ?? 200, headers);
      res.end(req.method === 'HEAD' ? undefined : body);
    })();
  });
  // Many SDK clients keep connections alive; don't let idle sockets hold stop() up.
  server.keepAliveTimeout = 5_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const endpoint = `http://127.0.0.1:${port}`;

  return {
    endpoint,
    port,
    webhooks,
    counters: () => counters.snapshot(),
    totalCalls: ({ services, excludeThrottled = false } = {}) => {
      let total = 0;
      for (const [key, c] of counters.entries()) {
        const service = key.split('.')[0] as ServiceName;
        if (services && !services.includes(service)) continue;
        total += excludeThrottled ? c.calls - c.throttled : c.calls;
      }
      return total;
    },
    resetCounters: () => counters.reset(),
    setThrottle: (config) => {
      throttle = config;
    },
    endpointEnv: (dynamoDbEndpoint) => ({
      AWS_ENDPOINT_URL: endpoint,
      AWS_ENDPOINT_URL_EC2: endpoint,
      AWS_ENDPOINT_URL_SSM: endpoint,
      AWS_ENDPOINT_URL_SFN: endpoint,
      AWS_ENDPOINT_URL_SNS: endpoint,
      AWS_ENDPOINT_URL_S3: endpoint,
      AWS_ENDPOINT_URL_LAMBDA: endpoint,
      AWS_ENDPOINT_URL_SECRETS_MANAGER: endpoint,
      AWS_ENDPOINT_URL_IAM: endpoint,
      AWS_ENDPOINT_URL_CLOUDFORMATION: endpoint,
      AWS_ENDPOINT_URL_SQS: endpoint,
      AWS_ENDPOINT_URL_CLOUDWATCH_LOGS: endpoint,
      ...(dynamoDbEndpoint ? { AWS_ENDPOINT_URL_DYNAMODB: dynamoDbEndpoint } : {}),
    }),
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
