// Task implementations for the local Step Functions runner: which states of an ASL are Tasks (including those
// inside Map/Parallel), what kind of Resource each calls, and the generic local implementation of each kind.
//
// Generic implementations, chosen from the Task's Resource:
//   arn:aws:states:::lambda:invoke                    → local function; result = Lambda integration shape
//                                                        {ExecutedVersion, Payload, SdkHttpMetadata, StatusCode…}
//   arn:aws:lambda:<region>:<acct>:function:<name>     → local function; result = its payload (payloadResponseOnly)
//   arn:aws:states:::lambda:invoke.waitForTaskToken   → mints a task token for $$.Task.Token, invokes the function,
//                                                        then waits for SendTaskSuccess/SendTaskFailure (or times out)
//   arn:aws:states:::aws-sdk:<service>:<action>[.waitForTaskToken] → the real SDK against the local endpoint
//   arn:aws:states:::sns:publish, arn:aws:states:::dynamodb:<getItem|putItem|updateItem|deleteItem> → likewise
// Errors follow Step Functions: a function error's name is its errorType and its cause the JSON error
// payload; SDK integrations fail with `<Service>.<ErrorName>Exception`, or the service's catch-all
// `<Service>.<Service>Exception` for IAM/signature errors (sdkIntegrationErrorName).
import { randomBytes } from 'node:crypto';
import type { InvokeOutcome } from './services/lambda.js';
import { type Json, type JsonObject, TaskError, type TaskTokenBroker } from './sfn-task-tokens.js';

// ----- the ASL ----------------------------------------------------------------------------------

export interface TaskStateInfo {
  readonly name: string;
  readonly resource: string;
  readonly definition: JsonObject;
}

export interface AslStates {
  States?: Record<string, JsonObject>;
}

/** Every state of the machine, including Map iterators/item processors and Parallel branches. */
export function allStates(definition: unknown): { name: string; definition: JsonObject }[] {
  const out: { name: string; definition: JsonObject }[] = [];
  const visit = (machine: unknown) => {
    const states = (machine as AslStates | undefined)?.States ?? {};
    for (const [name, state] of Object.entries(states)) {
      out.push({ name, definition: state });
      if (state.Type === 'Map') visit(state.ItemProcessor ?? state.Iterator);
      if (state.Type === 'Parallel' && Array.isArray(state.Branches))
        for (const b of state.Branches) visit(b);
    }
  };
  visit(definition);
  return out;
}

export function taskStates(definition: unknown): TaskStateInfo[] {
  return allStates(definition)
    .filter((s) => s.definition.Type === 'Task')
    .map((s) => ({ name: s.name, resource: String(s.definition.Resource ?? ''), definition: s.definition }));
}

export type TaskResourceKind =
  | { readonly kind: 'lambda-invoke'; readonly callback: boolean }
  | { readonly kind: 'lambda-direct'; readonly functionRef: string }
  | {
      readonly kind: 'aws-sdk';
      readonly service: string;
      readonly action: string;
      readonly callback: boolean;
    }
  | {
      readonly kind: 'optimized';
      readonly service: string;
      readonly action: string;
      readonly callback: boolean;
    }
  | { readonly kind: 'unsupported' };

export function classifyResource(resource: string): TaskResourceKind {
  if (resource === 'arn:aws:states:::lambda:invoke') return { kind: 'lambda-invoke', callback: false };
  if (resource === 'arn:aws:states:::lambda:invoke.waitForTaskToken')
    return { kind: 'lambda-invoke', callback: true };
  if (/^arn:aws[\w-]*:lambda:[^:]*:[^:]*:function:/.test(resource))
    return { kind: 'lambda-direct', functionRef: resource };
  const sdk = /^arn:aws[\w-]*:states:::aws-sdk:([a-z0-9]+):([A-Za-z0-9]+)(\.waitForTaskToken)?$/.exec(
    resource,
  );
  if (sdk?.[1] && sdk[2])
    return { kind: 'aws-sdk', service: sdk[1], action: sdk[2], callback: sdk[3] !== undefined };
  const optimized = /^arn:aws[\w-]*:states:::(sns|dynamodb):([A-Za-z]+)(\.waitForTaskToken)?$/.exec(resource);
  if (optimized?.[1] && optimized[2]) {
    return {
      kind: 'optimized',
      service: optimized[1],
      action: optimized[2],
      callback: optimized[3] !== undefined,
    };
  }
  return { kind: 'unsupported' };
}

// ----- task implementations ---------------------------------------------------------------------

export interface TaskCall {
  readonly executionArn: string;
  readonly stateName: string;
  readonly state: JsonObject;
  /** The token minted for `$$.Task.Token` in this state's Parameters, if any. */
  readonly taskToken?: string;
  readonly broker: TaskTokenBroker;
  /** The timeout the library applies to this Task (ms). */
  readonly timeoutMs: number;
}

/** A local implementation of one Task state: gets the input after Parameters, returns the raw result. */
export type TaskImplementation = (input: Json, call: TaskCall) => Promise<Json>;

export interface GenericTaskDeps {
  /** Invokes a local function by name or ARN (function-host.ts). */
  readonly invokeFunction?: (functionRef: string, payload: unknown) => Promise<InvokeOutcome>;
  /** Local endpoint for aws-sdk:* and optimized integrations (aws-server.ts). */
  readonly awsEndpoint?: string;
  readonly dynamoDbEndpoint?: string;
  readonly region?: string;
}

const SERVICE_ERROR_PREFIX: Readonly<Record<string, string>> = {
  ec2: 'Ec2',
  ssm: 'Ssm',
  sfn: 'Sfn',
  sns: 'Sns',
  s3: 'S3',
  secretsmanager: 'SecretsManager',
  lambda: 'Lambda',
  dynamodb: 'DynamoDb',
};

/**
 * Step Functions names an SDK integration's error `<ServiceName>.<ErrorName>`, with an `Exception` suffix
 * even where the API reference has none ("Learning to use AWS service SDK integrations in Step Functions",
 * https://docs.aws.amazon.com/step-functions/latest/dg/supported-services-awssdk.html). An error the
 * service's model does not name for the operation — IAM's AccessDenied above all — surfaces as the
 * service client's catch-all exception, `Ssm.SsmException` with the message as its Cause (what executions
 * report for an unauthorized ssm: call). So `Ssm.SsmException` also carries permanent errors: it must
 * never be retried as if it were throttling.
 */
const CATCH_ALL_EXCEPTION: Readonly<Record<string, string>> = {
  ec2: 'Ec2Exception',
  ssm: 'SsmException',
  sfn: 'SfnException',
  sns: 'SnsException',
  s3: 'S3Exception',
  secretsmanager: 'SecretsManagerException',
  lambda: 'LambdaException',
  dynamodb: 'DynamoDbException',
};

/** Errors of IAM and request signing, common to every AWS API and named by no operation's error list. */
const UNMODELED_ERRORS: ReadonlySet<string> = new Set([
  'AccessDeniedException',
  'AccessDenied',
  'NotAuthorized',
  'UnrecognizedClientException',
  'InvalidClientTokenId',
  'IncompleteSignature',
  'InvalidSignatureException',
  'MissingAuthenticationToken',
  'ExpiredTokenException',
]);

/** The Error a failed aws-sdk:<service>:<action> Task reports (see CATCH_ALL_EXCEPTION). */
export function sdkIntegrationErrorName(service: string, errorName: string): string {
  const prefix = SERVICE_ERROR_PREFIX[service] ?? service;
  const catchAll = CATCH_ALL_EXCEPTION[service];
  if (catchAll && UNMODELED_ERRORS.has(errorName)) return `${prefix}.${catchAll}`;
  return `${prefix}.${errorName.endsWith('Exception') ? errorName : `${errorName}Exception`}`;
}

const SDK_MODULES: Readonly<Record<string, string>> = {
  ec2: '@aws-sdk/client-ec2',
  ssm: '@aws-sdk/client-ssm',
  sfn: '@aws-sdk/client-sfn',
  sns: '@aws-sdk/client-sns',
  s3: '@aws-sdk/client-s3',
  secretsmanager: '@aws-sdk/client-secrets-manager',
  lambda: '@aws-sdk/client-lambda',
  dynamodb: '@aws-sdk/client-dynamodb',
};

const SDK_CLIENTS: Readonly<Record<string, string>> = {
  ec2: 'EC2Client',
  ssm: 'SSMClient',
  sfn: 'SFNClient',
  sns: 'SNSClient',
  s3: 'S3Client',
  secretsmanager: 'SecretsManagerClient',
  lambda: 'LambdaClient',
  dynamodb: 'DynamoDBClient',
};

interface SdkClient {
  send(command: unknown): Promise<Record<string, unknown>>;
}

type Constructor<T> = new (input: unknown) => T;

function lambdaErrorFrom(outcome: InvokeOutcome): TaskError {
  const payload = (outcome.payload ?? {}) as { errorType?: unknown };
  const name = typeof payload.errorType === 'string' ? payload.errorType : 'Lambda.Unknown';
  return new TaskError(name, JSON.stringify(outcome.payload));
}

/** Converts an SDK result to what a Task would see: no $metadata, timestamps as ISO strings. */
function sdkResultToJson(value: unknown): Json {
  return JSON.parse(
    JSON.stringify(value, (key, v: unknown) =>
      key === '$metadata' ? undefined : v instanceof Date ? v.toISOString() : v,
    ),
  ) as Json;
}

/** Builds the generic local implementation for a Task state, or undefined if its Resource is not supported. */
export function genericTaskImplementation(
  task: TaskStateInfo,
  deps: GenericTaskDeps,
): TaskImplementation | undefined {
  const kind = classifyResource(task.resource);
  switch (kind.kind) {
    case 'lambda-invoke':
      return async (input, call) => {
        const invoke = requireInvoker(deps, task.name);
        const params = (input ?? {}) as JsonObject;
        const functionRef = String(params.FunctionName ?? '');
        const token = kind.callback ? requireToken(call) : undefined;
        const outcome = await invokeOrFail(invoke, functionRef, params.Payload ?? null);
        if (outcome.functionError) throw lambdaErrorFrom(outcome);
        if (token) return call.broker.wait(token, call.stateName, call.timeoutMs + 50);
        const asyncInvoke = params.InvocationType === 'Event';
        return {
          ExecutedVersion: '$LATEST',
          Payload: asyncInvoke ? '' : ((outcome.payload ?? null) as Json),
          SdkHttpMetadata: {
            AllHttpHeaders: { 'X-Amz-Executed-Version': ['$LATEST'], 'Content-Type': ['application/json'] },
            HttpHeaders: { 'X-Amz-Executed-Version': '$LATEST', 'Content-Type': 'application/json' },
            HttpStatusCode: asyncInvoke ? 202 : 200,
          },
          SdkResponseMetadata: { RequestId: randomBytes(16).toString('hex') },
          StatusCode: asyncInvoke ? 202 : 200,
        };
      };
    case 'lambda-direct':
      return async (input) => {
        const outcome = await invokeOrFail(requireInvoker(deps, task.name), kind.functionRef, input);
        if (outcome.functionError) throw lambdaErrorFrom(outcome);
        return (outcome.payload ?? null) as Json;
      };
    case 'aws-sdk':
    case 'optimized': {
      const { service, action, callback } = kind;
      if (!SDK_MODULES[service]) return undefined;
      let client: SdkClient | undefined;
      let commands: Record<string, unknown> | undefined;
      return async (input, call) => {
        const token = callback ? requireToken(call) : undefined;
        if (!client || !commands) {
          if (!deps.awsEndpoint)
            throw new TaskError('States.Runtime', `Task ${task.name} needs deps.awsEndpoint`);
          commands = (await import(SDK_MODULES[service] as string)) as Record<string, unknown>;
          const Client = commands[SDK_CLIENTS[service] as string] as Constructor<SdkClient>;
          client = new Client({
            endpoint: service === 'dynamodb' ? (deps.dynamoDbEndpoint ?? deps.awsEndpoint) : deps.awsEndpoint,
            region: deps.region ?? 'us-east-1',
            credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
            // Step Functions surfaces throttling to the state's Retry instead of retrying inside the SDK.
            maxAttempts: 1,
            ...(service === 's3' ? { forcePathStyle: true } : {}),
          });
        }
        const Command = commands[`${action.charAt(0).toUpperCase()}${action.slice(1)}Command`] as
          | Constructor<unknown>
          | undefined;
        if (!Command)
          throw new TaskError('States.Runtime', `Unknown ${service} action ${action} in ${task.name}`);
        let result: Record<string, unknown>;
        try {
          result = await client.send(new Command(input));
        } catch (error) {
          const name = (error as Error).name ?? 'Unknown';
          if (kind.kind === 'aws-sdk') {
            throw new TaskError(sdkIntegrationErrorName(service, name), (error as Error).message);
          }
          const prefix = service === 'sns' ? 'SNS' : 'DynamoDB';
          throw new TaskError(
            `${prefix}.${name.endsWith('Exception') ? name : `${name}Exception`}`,
            (error as Error).message,
          );
        }
        if (token) return call.broker.wait(token, call.stateName, call.timeoutMs + 50);
        return sdkResultToJson(result);
      };
    }
    case 'unsupported':
      return undefined;
  }
}

function requireInvoker(deps: GenericTaskDeps, stateName: string) {
  if (!deps.invokeFunction)
    throw new TaskError('States.Runtime', `Task ${stateName} needs deps.invokeFunction`);
  return deps.invokeFunction;
}

function requireToken(call: TaskCall): string {
  if (!call.taskToken) {
    throw new TaskError(
      'States.Runtime',
      `${call.stateName} uses .waitForTaskToken but its Parameters never read $$.Task.Token: nothing could ever complete it`,
    );
  }
  return call.taskToken;
}

async function invokeOrFail(
  invoke: NonNullable<GenericTaskDeps['invokeFunction']>,
  functionRef: string,
  payload: unknown,
): Promise<InvokeOutcome> {
  try {
    return await invoke(functionRef, payload);
  } catch (error) {
    // The Lambda service itself failed (unknown function, host down): Step Functions' Lambda.* errors.
    const name = (error as Error).name;
    throw new TaskError(
      name.startsWith('Lambda.') ? name : 'Lambda.ServiceException',
      `${(error as Error).message} (invoking ${functionRef})`,
    );
  }
}
