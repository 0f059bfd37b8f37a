// SSM emulator (JSON 1.1, X-Amz-Target AmazonSSM.*): Run Command as the workflow sees it. SendCommand
// validates like SSM (document exists, parameters against the document schema, instance registered and
// Online) and hands each invocation to the local agent (ssm-agent.ts), which runs it and reports status.
// GetCommandInvocation is eventually consistent like the real API: right after SendCommand it answers
// InvocationDoesNotExist for a configurable window, and for a multi-step document (such as
// AWS-ApplyAnsiblePlaybooks: downloadContent + runShellScript) it requires PluginName, as documented.
// DescribeInstanceInformation (the agent's registration and ping status) is ssm-instance-information.ts.
import { randomUUID } from 'node:crypto';
import {
  type AwsRequest,
  type AwsResponse,
  decodePageToken,
  encodePageToken,
  epochSeconds,
  jsonResponse,
  parseJsonBody,
  type ServiceEmulator,
  ServiceError,
} from '../protocol.js';
import {
  type DocumentDefinition,
  InvalidParametersError,
  resolveParameters,
  type SsmDocuments,
} from '../ssm-documents.js';
import { paramMap, str, strList } from './ssm-input.js';
import {
  describeInstanceInformation,
  type ManagedNodeSource,
  type UnregisteredOption,
} from './ssm-instance-information.js';

export type { ManagedNodeSource, UnregisteredAnswer } from './ssm-instance-information.js';

export type InvocationStatus = 'Pending' | 'InProgress' | 'Success' | 'Failed' | 'TimedOut' | 'Cancelled';

export const TERMINAL_STATUSES: ReadonlySet<InvocationStatus> = new Set([
  'Success',
  'Failed',
  'TimedOut',
  'Cancelled',
]);

export interface PluginRecord {
  readonly name: string;
  status: InvocationStatus;
  statusDetails: string;
  responseCode: number;
  startedAt?: number;
  endedAt?: number;
  stdout: string;
  stderr: string;
  /** Full output on disk (the "CloudWatch log"), set by the agent. */
  stdoutLogFile?: string;
  stderrLogFile?: string;
  stdoutUrl?: string;
  stderrUrl?: string;
}

export interface CommandRecord {
  readonly commandId: string;
  readonly document: DocumentDefinition;
  readonly comment?: string;
  /** As sent (lists of strings). */
  readonly requestParameters: Readonly<Record<string, readonly string[]>>;
  /** After defaults, as the agent sees them. */
  readonly parameters: Readonly<Record<string, string>>;
  readonly instanceIds: readonly string[];
  readonly requestedAt: number;
  readonly deliveryTimeoutSeconds: number;
  readonly outputS3BucketName?: string;
  readonly outputS3KeyPrefix?: string;
  readonly cloudWatch?: { readonly logGroupName: string; readonly enabled: boolean };
  readonly invocations: Map<string, InvocationRecord>;
}

export interface InvocationRecord {
  readonly command: CommandRecord;
  readonly instanceId: string;
  status: InvocationStatus;
  statusDetails: string;
  responseCode: number;
  startedAt?: number;
  endedAt?: number;
  readonly plugins: PluginRecord[];
}

/** Runs invocations (ssm-agent.ts). */
export interface CommandRunner {
  submit(invocation: InvocationRecord): void;
  cancel(invocation: InvocationRecord): void;
}

export interface SsmEmulatorOptions {
  readonly nodes: ManagedNodeSource;
  readonly documents: SsmDocuments;
  readonly runner: CommandRunner;
  readonly region?: string;
  /** GetCommandInvocation answers InvocationDoesNotExist this long after SendCommand. Default 200 ms. */
  readonly invocationVisibilityDelayMs?: number;
  /** Refuse GetCommandInvocation without PluginName on multi-step documents (as documented). Default true. */
  readonly requirePluginNameForMultiStep?: boolean;
  readonly now?: () => number;
  readonly account?: string;
  /**
   * IAM for SendCommand: undefined = allowed, else the AccessDenied message. Asked with the document's,
   * every target's ARN and tags (what `ssm:resourceTag/…` conditions read) and the output bucket's ARN when
   * the request names one. Default: everything allowed.
   */
  readonly authorize?: (
    request: AwsRequest,
    action: string,
    resources: readonly { arn: string; tags: Readonly<Record<string, string>> }[],
  ) => string | undefined;
  /** Tags of an instance or managed node (EC2 tags / SSM resource tags). */
  readonly tagsOf?: (instanceId: string) => Readonly<Record<string, string>>;
  /**
   * How DescribeInstanceInformation answers an InstanceIds filter naming a node whose agent has not
   * registered (yet): `omitted` leaves it out of InstanceInformationList (an empty list for one id), or
   * `InvalidInstanceId`, which the API reference lists among the operation's errors ("SSM Agent isn't
   * registered with the SSM endpoint", DescribeInstanceInformation, AWS Systems Manager API Reference,
   * https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_DescribeInstanceInformation.html).
   * AWS answers either way, so a caller must handle both. A function decides per instance.
   * Default `omitted`.
   */
  readonly unregisteredInstances?: UnregisteredOption;
}

/** SSM: GetCommandInvocation returns the first 24,000 characters of each stream. */
export const OUTPUT_CONTENT_LIMIT = 24_000;
/** SSM: CommandPlugin.Output holds at most 2,500 characters. */
export const PLUGIN_OUTPUT_LIMIT = 2_500;

const COMMAND_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export class SsmEmulator implements ServiceEmulator {
  readonly service = 'SSM' as const;
  private readonly commands = new Map<string, CommandRecord>();
  private readonly now: () => number;
  private readonly region: string;

  constructor(private readonly options: SsmEmulatorOptions) {
    this.now = options.now ?? Date.now;
    this.region = options.region ?? 'us-east-1';
  }

  /** Every command sent, in order (for assertions). */
  listCommands(): CommandRecord[] {
    return [...this.commands.values()];
  }

  handle(operation: string, request: AwsRequest): AwsResponse {
    const input = parseJsonBody(request);
    switch (operation) {
      case 'SendCommand':
        this.authorizeSend(request, input);
        return jsonResponse({ Command: this.commandShape(this.sendCommand(input)) }, '1.1');
      case 'GetCommandInvocation':
        return jsonResponse(this.getCommandInvocation(input), '1.1');
      case 'ListCommands':
        return jsonResponse(this.listCommandsApi(input), '1.1');
      case 'ListCommandInvocations':
        return jsonResponse(this.listCommandInvocations(input), '1.1');
      case 'CancelCommand':
        this.cancelCommand(input);
        return jsonResponse({}, '1.1');
      case 'DescribeInstanceInformation':
        return jsonResponse(
          describeInstanceInformation(input, this.options.nodes, this.options.unregisteredInstances),
          '1.1',
        );
      default:
        throw new ServiceError('UnknownOperationException', `The local SSM does not implement ${operation}`);
    }
  }

  /** IAM is evaluated before anything else about the request, as in AWS. */
  private authorizeSend(request: AwsRequest, input: Record<string, unknown>): void {
    if (!this.options.authorize) return;
    const account = this.options.account ?? '123456789012';
    const name = str(input.DocumentName) ?? '';
    // AWS-owned documents have no account in their ARN.
    const documentArn = `arn:aws:ssm:${this.region}:${name.startsWith('AWS-') ? '' : account}:document/${name}`;
    const targets = strList(input.InstanceIds).map((id) => ({
      arn: id.startsWith('mi-')
        ? `arn:aws:ssm:${this.region}:${account}:managed-instance/${id}`
        : `arn:aws:ec2:${this.region}:${account}:instance/${id}`,
      tags: this.options.tagsOf?.(id) ?? {},
    }));
    // The output bucket the request names is a resource of SendCommand too (IAM's resource types for
    // ssm:SendCommand: bucket, document, instance, managed-instance — "Actions, resources, and condition keys
    // for AWS Systems Manager", https://docs.aws.amazon.com/service-authorization/latest/reference/list_awssystemsmanager.html).
    const bucket = str(input.OutputS3BucketName);
    const denied = this.options.authorize(request, 'ssm:SendCommand', [
      { arn: documentArn, tags: {} },
      ...targets,
      ...(bucket ? [{ arn: `arn:aws:s3:::${bucket}`, tags: {} }] : []),
    ]);
    if (denied !== undefined) throw new ServiceError('AccessDeniedException', denied, 400);
  }

  private sendCommand(input: Record<string, unknown>): CommandRecord {
    const documentName = str(input.DocumentName);
    if (input.Targets !== undefined) {
      throw new ServiceError('InvalidParameters', 'The local SSM supports InstanceIds only, not Targets.');
    }
    const document = documentName ? this.options.documents.get(documentName) : undefined;
    if (!document) {
      throw new ServiceError(
        'InvalidDocument',
        `Document with name ${documentName ?? '(none)'} does not exist.`,
      );
    }
    const instanceIds = strList(input.InstanceIds);
    if (instanceIds.length === 0 || instanceIds.length > 50) {
      throw new ServiceError('ValidationException', 'InstanceIds must hold 1 to 50 managed node ids.');
    }
    for (const id of instanceIds) {
      const node = this.options.nodes.managedNode(id);
      if (node?.pingStatus !== 'Online') {
        throw new ServiceError(
          'InvalidInstanceId',
          `Instances [[${id}]] not in a valid state for account: not registered with SSM or the agent is not Online.`,
        );
      }
    }
    const requestParameters = paramMap(input.Parameters);
    let parameters: Record<string, string>;
    try {
      parameters = resolveParameters(document, requestParameters);
    } catch (error) {
      if (error instanceof InvalidParametersError) throw new ServiceError('InvalidParameters', error.message);
      throw error;
    }
    const cw = input.CloudWatchOutputConfig as
      | { CloudWatchLogGroupName?: unknown; CloudWatchOutputEnabled?: unknown }
      | undefined;
    const now = this.now();
    const command: CommandRecord = {
      commandId: randomUUID(),
      document,
      comment: str(input.Comment),
      requestParameters,
      parameters,
      instanceIds,
      requestedAt: now,
      deliveryTimeoutSeconds: typeof input.TimeoutSeconds === 'number' ? input.TimeoutSeconds : 3600,
      outputS3BucketName: str(input.OutputS3BucketName),
      outputS3KeyPrefix: str(input.OutputS3KeyPrefix),
      cloudWatch:
        cw && cw.CloudWatchOutputEnabled === true
          ? { logGroupName: str(cw.CloudWatchLogGroupName) ?? `/aws/ssm/${document.name}`, enabled: true }
          : undefined,
      invocations: new Map(),
    };
    for (const instanceId of instanceIds) {
      command.invocations.set(instanceId, {
        command,
        instanceId,
        status: 'Pending',
        statusDetails: 'Pending',
        responseCode: -1,
        plugins: document.steps.map((name) => ({
          name,
          status: 'Pending',
          statusDetails: 'Pending',
          responseCode: -1,
          stdout: '',
          stderr: '',
        })),
      });
    }
    this.commands.set(command.commandId, command);
    for (const invocation of command.invocations.values()) this.options.runner.submit(invocation);
    return command;
  }

  private findInvocation(input: Record<string, unknown>): InvocationRecord {
    const commandId = str(input.CommandId) ?? '';
    const instanceId = str(input.InstanceId) ?? '';
    if (!COMMAND_ID.test(commandId))
      throw new ServiceError('InvalidCommandId', "The specified command ID isn't valid.");
    const command = this.commands.get(commandId);
    const invocation = command?.invocations.get(instanceId);
    if (!command || !invocation) {
      throw new ServiceError(
        'InvocationDoesNotExist',
        'The command ID and managed node ID you specified did not match any invocations.',
      );
    }
    if (this.now() - command.requestedAt < (this.options.invocationVisibilityDelayMs ?? 200)) {
      // Eventual consistency right after SendCommand, as the real API documents.
      throw new ServiceError(
        'InvocationDoesNotExist',
        'The command ID and managed node ID you specified did not match any invocations.',
      );
    }
    return invocation;
  }

  private getCommandInvocation(input: Record<string, unknown>): Record<string, unknown> {
    const invocation = this.findInvocation(input);
    const { command } = invocation;
    const pluginName = str(input.PluginName);
    let plugin: PluginRecord | undefined;
    if (pluginName !== undefined) {
      plugin = invocation.plugins.find((p) => p.name === pluginName);
      if (!plugin) {
        throw new ServiceError(
          'InvalidPluginName',
          `The plugin name is not valid. Steps of ${command.document.name}: ${command.document.steps.join(', ')}.`,
        );
      }
    } else if (invocation.plugins.length === 1) {
      plugin = invocation.plugins[0];
    } else if (this.options.requirePluginNameForMultiStep ?? true) {
      throw new ServiceError(
        'InvalidPluginName',
        `Document ${command.document.name} has several steps (${command.document.steps.join(', ')}): specify PluginName.`,
      );
    }
    const view = plugin ?? {
      status: invocation.status,
      statusDetails: invocation.statusDetails,
      responseCode: invocation.responseCode,
      startedAt: invocation.startedAt,
      endedAt: invocation.endedAt,
      stdout: invocation.plugins.map((p) => p.stdout).join(''),
      stderr: invocation.plugins.map((p) => p.stderr).join(''),
      stdoutUrl: undefined,
      stderrUrl: undefined,
    };
    return {
      CommandId: command.commandId,
      InstanceId: invocation.instanceId,
      Comment: command.comment ?? '',
      DocumentName: command.document.name,
      DocumentVersion: '$DEFAULT',
      PluginName: plugin?.name ?? '',
      ResponseCode: view.responseCode,
      ExecutionStartDateTime: view.startedAt === undefined ? '' : new Date(view.startedAt).toISOString(),
      ExecutionElapsedTime:
        view.startedAt === undefined
          ? ''
          : `PT${(((view.endedAt ?? this.now()) - view.startedAt) / 1000).toFixed(3)}S`,
      ExecutionEndDateTime: view.endedAt === undefined ? '' : new Date(view.endedAt).toISOString(),
      Status: view.status,
      StatusDetails: view.statusDetails,
      StandardOutputContent: view.stdout.slice(0, OUTPUT_CONTENT_LIMIT),
      StandardOutputUrl: view.stdoutUrl ?? '',
      StandardErrorContent: view.stderr.slice(0, OUTPUT_CONTENT_LIMIT),
      StandardErrorUrl: view.stderrUrl ?? '',
      CloudWatchOutputConfig: {
        CloudWatchLogGroupName: command.cloudWatch?.logGroupName ?? '',
        CloudWatchOutputEnabled: command.cloudWatch?.enabled ?? false,
      },
    };
  }

  private listCommandInvocations(input: Record<string, unknown>): Record<string, unknown> {
    const commandId = str(input.CommandId);
    const instanceId = str(input.InstanceId);
    const details = input.Details === true;
    const maxResults = typeof input.MaxResults === 'number' ? input.MaxResults : 50;
    const all = [...this.commands.values()]
      .filter((c) => commandId === undefined || c.commandId === commandId)
      .flatMap((c) => [...c.invocations.values()])
      .filter((i) => instanceId === undefined || i.instanceId === instanceId);
    const scope = `${commandId}|${instanceId}|${maxResults}`;
    const start = decodePageToken(str(input.NextToken), scope, 'InvalidNextToken');
    const page = all.slice(start, start + maxResults);
    const next = start + page.length < all.length ? encodePageToken(start + page.length, scope) : undefined;
    return {
      CommandInvocations: page.map((i) => ({
        CommandId: i.command.commandId,
        InstanceId: i.instanceId,
        Comment: i.command.comment ?? '',
        DocumentName: i.command.document.name,
        DocumentVersion: '$DEFAULT',
        RequestedDateTime: epochSeconds(i.command.requestedAt),
        Status: i.status,
        StatusDetails: i.statusDetails,
        StandardOutputUrl: '',
        StandardErrorUrl: '',
        CommandPlugins: details
          ? i.plugins.map((p) => ({
              Name: p.name,
              Status: p.status,
              StatusDetails: p.statusDetails,
              ResponseCode: p.responseCode,
              ResponseStartDateTime: p.startedAt === undefined ? undefined : epochSeconds(p.startedAt),
              ResponseFinishDateTime: p.endedAt === undefined ? undefined : epochSeconds(p.endedAt),
              Output: pluginOutput(p),
              StandardOutputUrl: p.stdoutUrl ?? '',
              StandardErrorUrl: p.stderrUrl ?? '',
              OutputS3BucketName: i.command.outputS3BucketName ?? '',
              OutputS3KeyPrefix: i.command.outputS3KeyPrefix ?? '',
            }))
          : [],
        CloudWatchOutputConfig: {
          CloudWatchLogGroupName: i.command.cloudWatch?.logGroupName ?? '',
          CloudWatchOutputEnabled: i.command.cloudWatch?.enabled ?? false,
        },
      })),
      ...(next ? { NextToken: next } : {}),
    };
  }

  /**
   * ListCommands as the API reference documents it (ListCommands, AWS Systems Manager API Reference,
   * https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_ListCommands.html): CommandId or
   * InstanceId, Filters on InvokedAfter / InvokedBefore / Status / DocumentName (`key`/`value`, 1 to 5),
   * MaxResults 1–50 (default 50), newest first, each Command with its Comment.
   */
  private listCommandsApi(input: Record<string, unknown>): Record<string, unknown> {
    const commandId = str(input.CommandId);
    const instanceId = str(input.InstanceId);
    const maxResults = typeof input.MaxResults === 'number' ? input.MaxResults : 50;
    if (maxResults < 1 || maxResults > 50) {
      throw new ServiceError(
        'ValidationException',
        `1 validation error detected: Value '${maxResults}' at 'maxResults' failed to satisfy constraint: Member must have value between 1 and 50`,
      );
    }
    const filters = (Array.isArray(input.Filters) ? input.Filters : []).map((f) => {
      const filter = f as { key?: unknown; value?: unknown };
      return { key: str(filter.key) ?? '', value: str(filter.value) ?? '' };
    });
    if (Array.isArray(input.Filters) && (filters.length < 1 || filters.length > 5)) {
      throw new ServiceError('ValidationException', 'Filters must hold 1 to 5 filters.');
    }
    const tests = filters.map(({ key, value }): ((c: CommandRecord) => boolean) => {
      switch (key) {
        case 'InvokedAfter':
        case 'InvokedBefore': {
          const at = Date.parse(value);
          if (Number.isNaN(at))
            throw new ServiceError('InvalidFilterValue', `${key} needs a timestamp, got ${value}.`);
          return key === 'InvokedAfter' ? (c) => c.requestedAt >= at : (c) => c.requestedAt <= at;
        }
        case 'Status':
          return (c) => this.commandStatus(c) === value;
        case 'DocumentName':
          return (c) => c.document.name === value;
        default:
          throw new ServiceError(
            'InvalidFilterKey',
            `The local SSM does not support the ListCommands filter ${key}.`,
          );
      }
    });
    const all = [...this.commands.values()]
      .filter((c) => commandId === undefined || c.commandId === commandId)
      .filter((c) => instanceId === undefined || c.instanceIds.includes(instanceId))
      .filter((c) => tests.every((t) => t(c)))
      .reverse();
    const scope = JSON.stringify({ commandId, instanceId, filters, maxResults });
    const start = decodePageToken(str(input.NextToken), scope, 'InvalidNextToken');
    const page = all.slice(start, start + maxResults);
    const next = start + page.length < all.length ? encodePageToken(start + page.length, scope) : undefined;
    return { Commands: page.map((c) => this.commandShape(c)), ...(next ? { NextToken: next } : {}) };
  }

  /** A command's status: its invocations' when they agree (one target), else InProgress until all ended. */
  private commandStatus(command: CommandRecord): InvocationStatus {
    const statuses = [...command.invocations.values()].map((i) => i.status);
    if (statuses.length > 0 && statuses.every((s) => s === statuses[0]))
      return statuses[0] as InvocationStatus;
    return statuses.every((s) => TERMINAL_STATUSES.has(s)) ? 'Failed' : 'InProgress';
  }

  private cancelCommand(input: Record<string, unknown>): void {
    const commandId = str(input.CommandId) ?? '';
    const command = this.commands.get(commandId);
    if (!command) throw new ServiceError('InvalidCommandId', "The specified command ID isn't valid.");
    const only = strList(input.InstanceIds);
    for (const invocation of command.invocations.values()) {
      if (only.length > 0 && !only.includes(invocation.instanceId)) continue;
      if (!TERMINAL_STATUSES.has(invocation.status)) this.options.runner.cancel(invocation);
    }
  }

  private commandShape(command: CommandRecord): Record<string, unknown> {
    return {
      CommandId: command.commandId,
      DocumentName: command.document.name,
      DocumentVersion: '$DEFAULT',
      Comment: command.comment ?? '',
      ExpiresAfter: epochSeconds(command.requestedAt + command.deliveryTimeoutSeconds * 1000),
      Parameters: command.requestParameters,
      InstanceIds: command.instanceIds,
      Targets: [],
      RequestedDateTime: epochSeconds(command.requestedAt),
      Status: this.commandStatus(command),
      StatusDetails: this.commandStatus(command),
      OutputS3Region: this.region,
      OutputS3BucketName: command.outputS3BucketName ?? '',
      OutputS3KeyPrefix: command.outputS3KeyPrefix ?? '',
      MaxConcurrency: '50',
      MaxErrors: '0',
      TargetCount: command.instanceIds.length,
      CompletedCount: 0,
      ErrorCount: 0,
      DeliveryTimedOutCount: 0,
      ServiceRole: '',
      NotificationConfig: { NotificationArn: '', NotificationEvents: [], NotificationType: '' },
      CloudWatchOutputConfig: {
        CloudWatchLogGroupName: command.cloudWatch?.logGroupName ?? '',
        CloudWatchOutputEnabled: command.cloudWatch?.enabled ?? false,
      },
      TimeoutSeconds: command.deliveryTimeoutSeconds,
    };
  }
}

/** SSM's CommandPlugin.Output: stdout then stderr, capped. */
export function pluginOutput(p: PluginRecord): string {
  const combined = p.stderr ? `${p.stdout}\n----------ERROR-------\n${p.stderr}` : p.stdout;
  return combined.length > PLUGIN_OUTPUT_LIMIT ? combined.slice(0, PLUGIN_OUTPUT_LIMIT) : combined;
}
