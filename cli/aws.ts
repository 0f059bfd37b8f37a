// SDK clients for one CLI run, built on first use with the region of --region / AWS_REGION. Endpoints
// follow AWS_ENDPOINT_URL_<SERVICE> (the SDK reads them), which is how the CLI is pointed at local mode.
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EC2Client } from '@aws-sdk/client-ec2';
import { IAMClient } from '@aws-sdk/client-iam';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SQSClient } from '@aws-sdk/client-sqs';
import { SSMClient } from '@aws-sdk/client-ssm';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

export interface AwsClients {
  readonly region: string | undefined;
  cloudFormation(): CloudFormationClient;
  dynamo(): DynamoDBDocumentClient;
  ec2(): EC2Client;
  ssm(): SSMClient;
  sfn(): SFNClient;
  iam(): IAMClient;
  sqs(): SQSClient;
  logs(): CloudWatchLogsClient;
}

function lazy<T>(build: () => T): () => T {
  let value: T | undefined;
  return () => {
    value ??= build();
    return value;
  };
}

export function createClients(region: string | undefined): AwsClients {
  // Interactive: a few quick retries, not the Lambdas' long adaptive backoff.
  const common = { maxAttempts: 3, ...(region ? { region } : {}) };
  return {
    region,
    cloudFormation: lazy(() => new CloudFormationClient(common)),
    dynamo: lazy(() =>
      DynamoDBDocumentClient.from(new DynamoDBClient(common), {
        marshallOptions: { removeUndefinedValues: true },
      }),
    ),
    ec2: lazy(() => new EC2Client(common)),
    ssm: lazy(() => new SSMClient(common)),
    sfn: lazy(() => new SFNClient(common)),
    iam: lazy(() => new IAMClient(common)),
    // By default the SQS client sends each call to the host in the QueueUrl, which would bypass a
    // configured endpoint; the regional endpoint serves every queue of the stack's region anyway.
    sqs: lazy(() => new SQSClient({ ...common, useQueueUrlAsEndpoint: false })),
    logs: lazy(() => new CloudWatchLogsClient(common)),
  };
}

/** An SDK error's name and message as one line, e.g. `AccessDeniedException: User … is not authorized`. */
export function describeAwsError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const message = error.message && error.message !== error.name ? error.message : 'no message';
  if (/Region is missing/i.test(message)) return 'no AWS region configured: set AWS_REGION or pass --region';
  if (/Could not load credentials/i.test(message)) {
    return 'no AWS credentials found: configure a profile (AWS_PROFILE) or set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY';
  }
  const hint =
    error.name === 'ResourceNotFoundException' && /table/i.test(message)
      ? ' (check --table and --region)'
      : '';
  return `${error.name}: ${message.split('\n')[0]}${hint}`;
}
