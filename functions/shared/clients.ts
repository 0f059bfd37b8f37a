// SDK clients, created once per cold start (module scope) and shared by helpers in the same function.
// Endpoints follow AWS_ENDPOINT_URL_<SERVICE>, which is how local mode points bundled code at local services.
// Adaptive retry mode: backoff with jitter and client-side rate limiting under throttling.
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EC2Client } from '@aws-sdk/client-ec2';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SNSClient } from '@aws-sdk/client-sns';
import { SSMClient } from '@aws-sdk/client-ssm';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

const common = { retryMode: 'adaptive', maxAttempts: 6 } as const;

let ddb: DynamoDBDocumentClient | undefined;
let ec2: EC2Client | undefined;
let ssm: SSMClient | undefined;
let sfn: SFNClient | undefined;
let sns: SNSClient | undefined;
let secrets: SecretsManagerClient | undefined;
let lambda: LambdaClient | undefined;
let s3: S3Client | undefined;

// Lazily built so a function only pays for the clients it uses; each is built once per container.
export const clients = {
  dynamo: () =>
    (ddb ??= DynamoDBDocumentClient.from(new DynamoDBClient(common), {
      marshallOptions: { removeUndefinedValues: true },
    })),
  ec2: () => (ec2 ??= new EC2Client(common)),
  ssm: () => (ssm ??= new SSMClient(common)),
  sfn: () => (sfn ??= new SFNClient(common)),
  sns: () => (sns ??= new SNSClient(common)),
  secrets: () => (secrets ??= new SecretsManagerClient(common)),
  lambda: () => (lambda ??= new LambdaClient(common)),
  s3: () => (s3 ??= new S3Client(common)),
};
