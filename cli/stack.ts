// Locating the stack: explicit --table / --state-machine (or AUTOPROV_* variables) win; otherwise the
// CloudFormation outputs of --stack (default AnsibleAutoProvisioner) say where everything is. The
// outputs are read only when they can help: --stack was given, or nothing was given explicitly, so a
// CLI pointed at local mode with explicit names never calls CloudFormation.
import {
  type CloudFormationClient,
  DescribeStacksCommand,
  type Output as StackOutput,
} from '@aws-sdk/client-cloudformation';
import { CliError, listOption, type ParsedArgs, stringOption } from './args.js';
import { describeAwsError } from './aws.js';

export const DEFAULT_STACK_NAME = 'AnsibleAutoProvisioner';

export interface StackRequest {
  readonly stackName: string;
  /** --stack or AUTOPROV_STACK was given: read its outputs even when names were given too. */
  readonly stackExplicit: boolean;
  readonly region?: string;
  readonly tableName?: string;
  readonly stateMachineArn?: string;
  /** --dlq / AUTOPROV_DLQ_URLS: dead-letter queues to check besides those in the outputs. */
  readonly dlqUrls: readonly string[];
}

/** Where the stack's parts are, as far as they are known. */
export interface StackInfo {
  readonly stackName: string;
  readonly tableName?: string;
  readonly stateMachineArn?: string;
  readonly topicArn?: string;
  readonly bundleLocation?: string;
  readonly instancePolicyArn?: string;
  /** How Ansible reaches the hosts (output AnsibleInstall: autoprov, document or preinstalled). */
  readonly ansibleInstall?: string;
  readonly dlqUrls: readonly string[];
  /** True when the outputs were read; `outputsError` says why they were not, when they were wanted. */
  readonly outputsRead: boolean;
  readonly outputsError?: string;
}

export interface StackNeeds {
  /** Fail without it. */
  readonly table?: boolean;
  readonly stateMachine?: boolean;
  /** Read the outputs for the optional parts too (DLQs, instance policy) when allowed. */
  readonly outputs?: boolean;
}

export function stackRequestFrom(
  args: ParsedArgs,
  env: Readonly<Record<string, string | undefined>>,
): StackRequest {
  const nonEmpty = (value: string | undefined) => (value === undefined || value === '' ? undefined : value);
  const stack = nonEmpty(stringOption(args, 'stack')) ?? nonEmpty(env.AUTOPROV_STACK);
  const region =
    nonEmpty(stringOption(args, 'region')) ?? nonEmpty(env.AWS_REGION) ?? nonEmpty(env.AWS_DEFAULT_REGION);
  const tableName = nonEmpty(stringOption(args, 'table')) ?? nonEmpty(env.AUTOPROV_TABLE);
  const stateMachineArn =
    nonEmpty(stringOption(args, 'state-machine')) ?? nonEmpty(env.AUTOPROV_STATE_MACHINE_ARN);
  const dlqUrls = [
    ...listOption(args, 'dlq'),
    ...(env.AUTOPROV_DLQ_URLS ?? '')
      .split(',')
      .map((url) => url.trim())
      .filter((url) => url !== ''),
  ];
  return {
    stackName: stack ?? DEFAULT_STACK_NAME,
    stackExplicit: stack !== undefined,
    ...(region ? { region } : {}),
    ...(tableName ? { tableName } : {}),
    ...(stateMachineArn ? { stateMachineArn } : {}),
    dlqUrls,
  };
}

const SQS_URL = /^https:\/\/(sqs|[a-z0-9-]+\.queue)\.[a-z0-9-.]+\/\d{12}\/[\w-]+$/;

/** The stack's outputs (infra/stack.ts) as named parts. A queue URL under any key counts as a DLQ to watch. */
export function infoFromOutputs(
  outputs: readonly StackOutput[],
): Omit<StackInfo, 'stackName' | 'outputsRead'> {
  const byKey = new Map<string, string>();
  const dlqUrls: string[] = [];
  for (const output of outputs) {
    if (!output.OutputKey || output.OutputValue === undefined) continue;
    byKey.set(output.OutputKey, output.OutputValue);
    if (
      /(dlq|deadletter|failed.*queue|queueurl)/i.test(output.OutputKey) ||
      SQS_URL.test(output.OutputValue)
    ) {
      dlqUrls.push(output.OutputValue);
    }
  }
  const pick = (key: string) => byKey.get(key);
  return {
    ...(pick('TableName') ? { tableName: pick('TableName') } : {}),
    ...(pick('StateMachineArn') ? { stateMachineArn: pick('StateMachineArn') } : {}),
    ...(pick('TopicArn') ? { topicArn: pick('TopicArn') } : {}),
    ...(pick('BundleLocation') ? { bundleLocation: pick('BundleLocation') } : {}),
    ...(pick('InstancePolicyArn') ? { instancePolicyArn: pick('InstancePolicyArn') } : {}),
    ...(pick('AnsibleInstall') ? { ansibleInstall: pick('AnsibleInstall') } : {}),
    dlqUrls: [...new Set(dlqUrls)],
  };
}

/** Explicit names, completed from the stack outputs when that is allowed and useful. */
export async function resolveStack(
  request: StackRequest,
  cloudFormation: () => Pick<CloudFormationClient, 'send'>,
  needs: StackNeeds,
): Promise<StackInfo> {
  const explicit: StackInfo = {
    stackName: request.stackName,
    ...(request.tableName ? { tableName: request.tableName } : {}),
    ...(request.stateMachineArn ? { stateMachineArn: request.stateMachineArn } : {}),
    dlqUrls: request.dlqUrls,
    outputsRead: false,
  };
  const anyExplicit = request.tableName !== undefined || request.stateMachineArn !== undefined;
  const consult = request.stackExplicit || !anyExplicit;
  const missing = (needs.table && !explicit.tableName) || (needs.stateMachine && !explicit.stateMachineArn);
  let info = explicit;
  if (consult && (missing || needs.outputs || request.stackExplicit)) {
    try {
      const outputs = await readOutputs(cloudFormation(), request.stackName);
      const fromOutputs = infoFromOutputs(outputs);
      info = {
        ...fromOutputs,
        ...explicit,
        dlqUrls: [...new Set([...request.dlqUrls, ...fromOutputs.dlqUrls])],
        outputsRead: true,
      };
    } catch (error) {
      info = {
        ...explicit,
        outputsError: error instanceof CliError ? error.message : describeAwsError(error),
      };
    }
  }
  if (needs.table && !info.tableName) throw new CliError(missingMessage('table', info, anyExplicit));
  if (needs.stateMachine && !info.stateMachineArn)
    throw new CliError(missingMessage('state machine', info, anyExplicit));
  return info;
}

async function readOutputs(
  cloudFormation: Pick<CloudFormationClient, 'send'>,
  stackName: string,
): Promise<StackOutput[]> {
  try {
    const { Stacks } = await cloudFormation.send(new DescribeStacksCommand({ StackName: stackName }));
    const stack = Stacks?.[0];
    if (!stack) throw new CliError(`stack ${stackName} was not found`);
    return stack.Outputs ?? [];
  } catch (error) {
    if (error instanceof Error && /does not exist/i.test(error.message)) {
      throw new CliError(`stack ${stackName} does not exist in this account and region`);
    }
    throw error;
  }
}

function missingMessage(what: 'table' | 'state machine', info: StackInfo, anyExplicit: boolean): string {
  const option =
    what === 'table'
      ? '--table <name> (or AUTOPROV_TABLE)'
      : '--state-machine <arn> (or AUTOPROV_STATE_MACHINE_ARN)';
  if (anyExplicit && !info.outputsRead && info.outputsError === undefined) {
    return `no ${what} given: pass ${option}, or --stack <name> to read it from the stack outputs.`;
  }
  const why = info.outputsError
    ? `the outputs of stack ${info.stackName} could not be read (${info.outputsError})`
    : `stack ${info.stackName} has no ${what} output`;
  return `cannot find the ${what}: ${why}. Deploy the stack (npx cdk deploy), pass --stack <name> and --region, or pass ${option}.`;
}
