// CloudFormation emulator (Query protocol, XML): DescribeStacks for the one stack of the assembly, with its
// Outputs resolved the way the rest of local mode resolves the template — so `autoprov --stack <name>`
// finds the table, state machine, queue and policy exactly as it does against a deployed stack.
// A stack that does not exist is a ValidationError, as the API reference says
// (https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DescribeStacks.html).
import {
  type AwsRequest,
  type AwsResponse,
  parseQueryBody,
  type ServiceEmulator,
  ServiceError,
  xmlElement,
  xmlResponse,
} from '../protocol.js';

export interface StackOutput {
  readonly key: string;
  readonly value: string;
  readonly description?: string;
}

const NS = 'http://cloudformation.amazonaws.com/doc/2010-05-15/';

export class CloudFormationEmulator implements ServiceEmulator {
  readonly service = 'CloudFormation' as const;
  private readonly createdAt = new Date().toISOString();

  constructor(
    private readonly stack: {
      readonly name: string;
      readonly region: string;
      readonly account: string;
      readonly outputs: readonly StackOutput[];
    },
  ) {}

  get stackId(): string {
    const { region, account, name } = this.stack;
    return `arn:aws:cloudformation:${region}:${account}:stack/${name}/00000000-0000-4000-8000-000000000000`;
  }

  handle(operation: string, request: AwsRequest): AwsResponse {
    if (operation !== 'DescribeStacks') {
      throw new ServiceError('InvalidAction', `The local CloudFormation does not implement ${operation}`);
    }
    const requested = parseQueryBody(request).get('StackName');
    if (requested !== null && requested !== this.stack.name && requested !== this.stackId) {
      throw new ServiceError('ValidationError', `Stack with id ${requested} does not exist`);
    }
    const outputs = this.stack.outputs
      .map(
        (o) =>
          `<member>${xmlElement('OutputKey', o.key)}${xmlElement('OutputValue', o.value)}${xmlElement('Description', o.description)}</member>`,
      )
      .join('');
    return xmlResponse(
      `<DescribeStacksResponse xmlns="${NS}"><DescribeStacksResult><Stacks><member>` +
        `${xmlElement('StackId', this.stackId)}${xmlElement('StackName', this.stack.name)}` +
        `${xmlElement('CreationTime', this.createdAt)}${xmlElement('StackStatus', 'CREATE_COMPLETE')}` +
        `<Outputs>${outputs}</Outputs></member></Stacks></DescribeStacksResult>` +
        `<ResponseMetadata>${xmlElement('RequestId', request.requestId)}</ResponseMetadata></DescribeStacksResponse>`,
    );
  }
}
