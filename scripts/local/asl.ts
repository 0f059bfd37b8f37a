// Pure ASL from a synthesized template: the state machine's DefinitionString (an Fn::Join of literals and
// references) with every CloudFormation intrinsic resolved to a placeholder. Local mode and the tests run
// exactly this definition (docs/adr/0005-local-mode-fidelity.md: the artifacts under test are the deployable
// ones). Test tooling, not product: it lives beside the local stack that uses it.

export interface ResolveOptions {
  /** @default 'us-east-1' */
  readonly region?: string;
  /** @default '123456789012' */
  readonly account?: string;
  /** @default 'aws' */
  readonly partition?: string;
  /** @default 'AnsibleAutoProvisioner' */
  readonly stackName?: string;
  /**
   * Overrides how one resource reference resolves (e.g. local mode's real function names). Return
   * undefined to keep the placeholder.
   */
  readonly resolveReference?: (
    logicalId: string,
    attribute: string | undefined,
    type: string,
  ) => string | undefined;
}

export class TemplateResolutionError extends Error {
  override name = 'TemplateResolutionError';
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
interface TemplateResource {
  readonly Type: string;
  readonly Properties?: Record<string, Json>;
}
interface Template {
  readonly Resources?: Record<string, TemplateResource>;
  readonly Parameters?: Record<string, { readonly Default?: Json }>;
}

/**
 * The ASL of the one `AWS::StepFunctions::StateMachine` in the template (or of `logicalId`), as an object.
 * Throws if the template has none, or several and no id was given.
 */
export function extractAsl(
  template: object,
  logicalId?: string,
  options: ResolveOptions = {},
): Record<string, unknown> {
  const resources = (template as Template).Resources ?? {};
  const machines = Object.entries(resources).filter(([, r]) => r.Type === 'AWS::StepFunctions::StateMachine');
  const chosen = logicalId ? machines.filter(([id]) => id === logicalId) : machines;
  if (chosen.length !== 1 || !chosen[0]) {
    throw new TemplateResolutionError(
      `Expected exactly one state machine${logicalId ? ` with logical id ${logicalId}` : ''} in the template, found ${chosen.length} (${machines.map(([id]) => id).join(', ') || 'none'}).`,
    );
  }
  const [id, machine] = chosen[0];
  const props = machine.Properties ?? {};
  if (props.Definition !== undefined) {
    return resolveIntrinsics(props.Definition, template, options) as Record<string, unknown>;
  }
  const definition = resolveIntrinsics(props.DefinitionString, template, options);
  if (typeof definition !== 'string') {
    throw new TemplateResolutionError(`State machine ${id} has no DefinitionString or Definition.`);
  }
  return JSON.parse(definition) as Record<string, unknown>;
}

/** The Parameters field forLocalRunner adds to carry a Task's timeout; beside the payload, never in it. */
export const LOCAL_TIMEOUT_FIELD = 'LocalRunnerTimeoutSeconds';

/**
 * The same ASL adapted to aws-local-stepfunctions 3, which resolves a Task's `TimeoutSecondsPath`
 * against the Parameters output instead of the state input (AWS semantics: "TimeoutSecondsPath … must be
 * a reference path to the state input", Step Functions Developer Guide, "Task workflow state",
 * https://docs.aws.amazon.com/step-functions/latest/dg/state-task.html). The local copy's Lambda Task
 * gets one more Parameters field, LOCAL_TIMEOUT_FIELD, copied from the same path in the state input,
 * and its timeout path points at that field. The field sits beside FunctionName, not in Payload, so the
 * function receives exactly the payload it gets in AWS, and the deployed workflow carries nothing for the
 * local runner. A Task with a timeout path but no Lambda Payload makes this throw. Nothing else changes.
 *
 * Upstream (aws-local-stepfunctions 3.0.0): src/stateMachine/stateActions/TaskStateAction.ts `getTimeoutMs`
 * (main.node.esm.js:2395-2406) queries TimeoutSecondsPath against the `input` the Task handler receives,
 * which StateExecutor.processInput has already passed through Parameters (main.node.esm.js:2571).
 * Tested unpatched in test/local/library-patches.test.ts.
 */
export function forLocalRunner<T extends object>(asl: T): T {
  const copy = structuredClone(asl) as { States?: Record<string, Record<string, unknown>> };
  const visit = (machine: { States?: Record<string, Record<string, unknown>> }) => {
    for (const [name, state] of Object.entries(machine.States ?? {})) {
      const processor = (state.ItemProcessor ?? state.Iterator) as typeof machine | undefined;
      if (processor) visit(processor);
      const path = state.TimeoutSecondsPath;
      if (state.Type !== 'Task' || typeof path !== 'string') continue;
      const params = state.Parameters as Record<string, unknown> | undefined;
      if (!params || typeof params.Payload !== 'object' || params.Payload === null) {
        throw new TemplateResolutionError(
          `Task "${name}": TimeoutSecondsPath ${path} on a Task without a Lambda Payload; the local runner supports a timeout path only on Lambda Tasks.`,
        );
      }
      params[`${LOCAL_TIMEOUT_FIELD}.$`] = path;
      state.TimeoutSecondsPath = `$.${LOCAL_TIMEOUT_FIELD}`;
    }
  };
  visit(copy);
  return copy as T;
}

/** Placeholder ARN of a resource (what `Fn::GetAtt [id, Arn]` resolves to). */
export function placeholderArn(logicalId: string, type: string, options: ResolveOptions = {}): string {
  const { region, account, partition } = withDefaults(options);
  const arn = (service: string, resource: string, regional = true, acct = account) =>
    `arn:${partition}:${service}:${regional ? region : ''}:${acct}:${resource}`;
  switch (type) {
    case 'AWS::Lambda::Function':
      return arn('lambda', `function:${logicalId}`);
    case 'AWS::StepFunctions::StateMachine':
      return arn('states', `stateMachine:${logicalId}`);
    case 'AWS::SNS::Topic':
      return arn('sns', logicalId);
    case 'AWS::SQS::Queue':
      return arn('sqs', logicalId);
    case 'AWS::DynamoDB::Table':
      return arn('dynamodb', `table/${logicalId}`);
    case 'AWS::S3::Bucket':
      return `arn:${partition}:s3:::${logicalId.toLowerCase()}`;
    case 'AWS::Logs::LogGroup':
      return arn('logs', `log-group:${logicalId}:*`);
    case 'AWS::IAM::Role':
      return arn('iam', `role/${logicalId}`, false);
    case 'AWS::IAM::ManagedPolicy':
      return arn('iam', `policy/${logicalId}`, false);
    case 'AWS::Events::Rule':
      return arn('events', `rule/${logicalId}`);
    case 'AWS::SSM::Document':
      return arn('ssm', `document/${logicalId}`);
    default:
      return arn(type.split('::')[1]?.toLowerCase() ?? 'unknown', logicalId);
  }
}

/** What `Ref` returns for a resource of this type, as a placeholder. */
function placeholderRef(logicalId: string, type: string, options: ResolveOptions): string {
  switch (type) {
    case 'AWS::StepFunctions::StateMachine':
    case 'AWS::SNS::Topic':
    case 'AWS::IAM::ManagedPolicy':
      return placeholderArn(logicalId, type, options);
    case 'AWS::SQS::Queue': {
      const { region, account } = withDefaults(options);
      return `https://sqs.${region}.amazonaws.com/${account}/${logicalId}`;
    }
    case 'AWS::S3::Bucket':
      return logicalId.toLowerCase();
    default:
      return logicalId;
  }
}

function withDefaults(options: ResolveOptions) {
  return {
    region: options.region ?? 'us-east-1',
    account: options.account ?? '123456789012',
    partition: options.partition ?? 'aws',
    stackName: options.stackName ?? 'AnsibleAutoProvisioner',
  };
}

/**
 * Resolves Ref, Fn::GetAtt, Fn::Join, Fn::Sub, Fn::Select, Fn::Split and the pseudo parameters
 * (AWS::Region, AWS::AccountId, AWS::Partition, AWS::URLSuffix, AWS::StackName) anywhere in `value`.
 */
export function resolveIntrinsics(value: unknown, template: object, options: ResolveOptions = {}): unknown {
  const resources = (template as Template).Resources ?? {};
  const parameters = (template as Template).Parameters ?? {};
  const { region, account, partition, stackName } = withDefaults(options);
  const pseudo: Record<string, string> = {
    'AWS::Region': region,
    'AWS::AccountId': account,
    'AWS::Partition': partition,
    'AWS::URLSuffix': 'amazonaws.com',
    'AWS::StackName': stackName,
    'AWS::StackId': `arn:${partition}:cloudformation:${region}:${account}:stack/${stackName}/placeholder`,
    'AWS::NoValue': '',
  };

  // A resource with an explicit name property is known by that name (what a deployment would use).
  const NAME_PROPERTIES = ['StateMachineName', 'FunctionName', 'TableName', 'TopicName', 'QueueName'];
  const knownName = (logicalId: string): string => {
    const props = resources[logicalId]?.Properties ?? {};
    const key = NAME_PROPERTIES.find((k) => props[k] !== undefined);
    const name = key ? resolve(props[key]) : undefined;
    return typeof name === 'string' ? name : logicalId;
  };

  const reference = (logicalId: string, attribute?: string): string => {
    if (attribute === undefined && pseudo[logicalId] !== undefined) return pseudo[logicalId];
    const parameter = parameters[logicalId];
    if (attribute === undefined && parameter) {
      return typeof parameter.Default === 'string' ? parameter.Default : `param-${logicalId}`;
    }
    const resource = resources[logicalId];
    if (!resource)
      throw new TemplateResolutionError(`Reference to unknown resource or parameter ${logicalId}.`);
    const custom = options.resolveReference?.(logicalId, attribute, resource.Type);
    if (custom !== undefined) return custom;
    const name = knownName(logicalId);
    if (attribute === undefined) return placeholderRef(name, resource.Type, options);
    if (attribute === 'Arn') return placeholderArn(name, resource.Type, options);
    if (attribute === 'Name') return name;
    return `${logicalId}.${attribute}`;
  };

  function resolve(node: unknown): unknown {
    if (Array.isArray(node)) return node.map(resolve);
    if (node === null || typeof node !== 'object') return node;
    const entries = Object.entries(node as Record<string, unknown>);
    if (entries.length === 1 && entries[0]) {
      const [key, arg] = entries[0];
      switch (key) {
        case 'Ref':
          return reference(String(arg));
        case 'Fn::GetAtt': {
          const [id, attribute] = Array.isArray(arg) ? arg : String(arg).split(/\.(.*)/s);
          return reference(String(id), String(attribute));
        }
        case 'Fn::Join': {
          const [separator, parts] = arg as [string, unknown[]];
          return (resolve(parts) as unknown[]).map(String).join(separator);
        }
        case 'Fn::Select': {
          const [index, list] = arg as [unknown, unknown];
          const items = resolve(list);
          const i = Number(resolve(index));
          if (!Array.isArray(items)) return `${String(items)}[${i}]`;
          return items[i];
        }
        case 'Fn::Split': {
          const [separator, source] = arg as [string, unknown];
          return String(resolve(source)).split(separator);
        }
        case 'Fn::Sub': {
          const [text, vars] = Array.isArray(arg)
            ? (arg as [string, Record<string, unknown>])
            : [String(arg), {}];
          const resolvedVars = resolve(vars) as Record<string, unknown>;
          return text.replace(/\$\{([^}!][^}]*)\}/g, (_m, name: string) => {
            if (name in resolvedVars) return String(resolvedVars[name]);
            const [id, attribute] = name.split(/\.(.*)/s);
            return reference(String(id), attribute);
          });
        }
        default:
          if (key.startsWith('Fn::')) throw new TemplateResolutionError(`Unsupported intrinsic ${key}.`);
      }
    }
    return Object.fromEntries(entries.map(([k, v]) => [k, resolve(v)]));
  }
  return resolve(value);
}
