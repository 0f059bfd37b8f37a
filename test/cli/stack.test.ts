import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CliError, parseCommandArgs } from '../../cli/args.js';
import {
  DEFAULT_STACK_NAME,
  infoFromOutputs,
  resolveStack,
  type StackRequest,
  stackRequestFrom,
} from '../../cli/stack.js';

const SM = 'arn:aws:states:us-east-1:123456789012:stateMachine:Wf';
const DLQ = 'https://sqs.us-east-1.amazonaws.com/123456789012/FailedEvents';

describe('stackRequestFrom', () => {
  const options = { dlq: { type: 'string', multiple: true, description: '' } } as const;

  it('takes flags over environment variables, and the default stack otherwise', () => {
    const args = parseCommandArgs(['--table', 'T1', '--dlq', 'u1'], options);
    const request = stackRequestFrom(args, {
      AUTOPROV_TABLE: 'T2',
      AUTOPROV_STATE_MACHINE_ARN: SM,
      AWS_REGION: 'eu-west-1',
      AUTOPROV_DLQ_URLS: 'u2, u3',
    });
    expect(request).toEqual({
      stackName: DEFAULT_STACK_NAME,
      stackExplicit: false,
      region: 'eu-west-1',
      tableName: 'T1',
      stateMachineArn: SM,
      dlqUrls: ['u1', 'u2', 'u3'],
    });
    expect(
      stackRequestFrom(parseCommandArgs(['--stack', 'S', '--region', 'ap-south-1'], {}), { AWS_REGION: 'x' }),
    ).toMatchObject({
      stackName: 'S',
      stackExplicit: true,
      region: 'ap-south-1',
    });
  });
});

describe('infoFromOutputs', () => {
  it('maps the stack outputs and picks up queue URLs as DLQs', () => {
    expect(
      infoFromOutputs([
        { OutputKey: 'TableName', OutputValue: 'T' },
        { OutputKey: 'StateMachineArn', OutputValue: SM },
        { OutputKey: 'TopicArn', OutputValue: 'arn:aws:sns:us-east-1:1:t' },
        { OutputKey: 'InstancePolicyArn', OutputValue: 'arn:aws:iam::1:policy/p' },
        { OutputKey: 'SomethingElse', OutputValue: DLQ },
        { OutputKey: 'StateMachineConsoleUrl', OutputValue: 'https://console' },
      ]),
    ).toEqual({
      tableName: 'T',
      stateMachineArn: SM,
      topicArn: 'arn:aws:sns:us-east-1:1:t',
      instancePolicyArn: 'arn:aws:iam::1:policy/p',
      dlqUrls: [DLQ],
    });
  });
});

describe('resolveStack', () => {
  const mockCfn = () => mockClient(CloudFormationClient);
  let cfn: ReturnType<typeof mockCfn>;
  beforeAll(() => {
    cfn = mockCfn();
  });
  afterEach(() => cfn.reset());
  afterAll(() => cfn.restore());
  const client = () => new CloudFormationClient({});
  const request = (overrides: Partial<StackRequest> = {}): StackRequest => ({
    stackName: DEFAULT_STACK_NAME,
    stackExplicit: false,
    dlqUrls: [],
    ...overrides,
  });
  const outputs = () =>
    cfn.on(DescribeStacksCommand).resolves({
      Stacks: [
        {
          StackName: 'S',
          CreationTime: new Date(),
          StackStatus: 'UPDATE_COMPLETE',
          Outputs: [
            { OutputKey: 'TableName', OutputValue: 'FromStack' },
            { OutputKey: 'StateMachineArn', OutputValue: SM },
            { OutputKey: 'FailedEventsQueueUrl', OutputValue: DLQ },
          ],
        },
      ],
    });

  it('never calls CloudFormation when names are explicit and no --stack was given', async () => {
    const info = await resolveStack(request({ tableName: 'T', stateMachineArn: SM }), client, {
      table: true,
      stateMachine: true,
      outputs: true,
    });
    expect(info).toMatchObject({ tableName: 'T', stateMachineArn: SM, outputsRead: false });
    expect(cfn).not.toHaveReceivedAnyCommand();
  });

  it('reads the default stack when nothing is explicit', async () => {
    outputs();
    const info = await resolveStack(request(), client, { table: true });
    expect(info).toMatchObject({
      tableName: 'FromStack',
      stateMachineArn: SM,
      dlqUrls: [DLQ],
      outputsRead: true,
    });
    expect(cfn).toHaveReceivedCommandWith(DescribeStacksCommand, { StackName: DEFAULT_STACK_NAME });
  });

  it('lets explicit names win over an explicit stack, and merges DLQs', async () => {
    outputs();
    const info = await resolveStack(
      request({ stackName: 'S', stackExplicit: true, tableName: 'Mine', dlqUrls: ['u1'] }),
      client,
      {},
    );
    expect(info).toMatchObject({ tableName: 'Mine', stateMachineArn: SM, dlqUrls: ['u1', DLQ] });
  });

  it('explains a missing stack with what to do', async () => {
    cfn.on(DescribeStacksCommand).rejects(
      Object.assign(new Error('Stack with id AnsibleAutoProvisioner does not exist'), {
        name: 'ValidationError',
      }),
    );
    const failure = resolveStack(request(), client, { table: true });
    await expect(failure).rejects.toThrow(CliError);
    await expect(failure).rejects.toThrow(
      'cannot find the table: the outputs of stack AnsibleAutoProvisioner could not be read (stack AnsibleAutoProvisioner does not exist in this account and region). Deploy the stack (npx cdk deploy), pass --stack <name> and --region, or pass --table <name> (or AUTOPROV_TABLE).',
    );
  });

  it('records why the outputs were not read when they were only nice to have', async () => {
    cfn.on(DescribeStacksCommand).rejects(Object.assign(new Error('denied'), { name: 'AccessDenied' }));
    const info = await resolveStack(request(), client, { outputs: true });
    expect(info).toMatchObject({ outputsRead: false, outputsError: 'AccessDenied: denied' });
  });

  it('asks for --state-machine when only a table was given', async () => {
    await expect(
      resolveStack(request({ tableName: 'T' }), client, { table: true, stateMachine: true }),
    ).rejects.toThrow(
      'no state machine given: pass --state-machine <arn> (or AUTOPROV_STATE_MACHINE_ARN), or --stack <name> to read it from the stack outputs.',
    );
  });
});
