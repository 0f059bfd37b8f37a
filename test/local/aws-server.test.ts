import { DescribeInstancesCommand, EC2Client, paginateDescribeInstances } from '@aws-sdk/client-ec2';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AwsServer, startAwsServer } from '../../scripts/local/aws-server.js';
import { Fleet } from '../../scripts/local/fleet.js';
import { Ec2Emulator } from '../../scripts/local/services/ec2.js';
import { type FunctionInvoker, LambdaEmulator } from '../../scripts/local/services/lambda.js';
import { S3Emulator, S3Store } from '../../scripts/local/services/s3.js';
import { SecretsManagerEmulator } from '../../scripts/local/services/secrets-manager.js';
import { SnsEmulator } from '../../scripts/local/services/sns.js';

const credentials = { accessKeyId: 'test', secretAccessKey: 'test' };

/** A retry strategy with tiny delays that records how the SDK classified each failure. */
function recordingRetry(seen: string[]) {
  const token = (count: number) => ({ getRetryCount: () => count, getRetryDelay: () => 2 });
  return {
    acquireInitialRetryToken: async () => token(0),
    refreshRetryTokenForRetry: async (previous: { getRetryCount(): number }, info: { errorType: string }) => {
      seen.push(info.errorType);
      if (info.errorType === 'CLIENT_ERROR' || previous.getRetryCount() >= 12)
        throw new Error('no more retries');
      return token(previous.getRetryCount() + 1);
    },
    recordSuccess: () => {},
  };
}

describe('local AWS server', () => {
  let server: AwsServer;
  const fleet = new Fleet({ emit: () => {}, seed: 5 });
  const store = new S3Store();
  const sns = new SnsEmulator();
  const secrets = new SecretsManagerEmulator();
  const invoked: { name: string; payload: unknown }[] = [];
  const invoker: FunctionInvoker = {
    has: (name) => name === 'notifier' || name === 'broken',
    invoke: async (name, payload) => {
      invoked.push({ name, payload });
      if (name === 'broken')
        return {
          functionError: 'Unhandled',
          payload: { errorType: 'TypeError', errorMessage: 'x is undefined' },
        };
      return { payload: { ok: true, echo: payload } };
    },
  };
  const lambda = new LambdaEmulator(invoker);

  beforeAll(async () => {
    for (let i = 1; i <= 12; i++) {
      fleet.launch({
        name: `web-${i}`,
        tags: {
          'autoprov:enabled': i <= 8 ? 'true' : 'false',
          environment: i % 2 ? 'production' : 'staging',
        },
        instanceType: i === 1 ? 'm5.large' : 't3.micro',
        az: 'us-east-1b',
        platform: i === 2 ? 'windows' : 'linux',
      });
    }
    fleet.stop('web-3');
    server = await startAwsServer({
      emulators: [new Ec2Emulator(fleet), new S3Emulator(store), sns, secrets, lambda],
      seed: 9,
    });
  });
  afterAll(async () => {
    await server.stop();
  });

  const ec2 = () =>
    new EC2Client({ endpoint: server.endpoint, region: 'us-east-1', credentials, maxAttempts: 1 });

  describe('EC2 DescribeInstances', () => {
    it('returns instances the SDK parses into Tags, Placement, State, platform and IPs', async () => {
      // Act
      const { Reservations } = await ec2().send(
        new DescribeInstancesCommand({ InstanceIds: [fleet.resolve('web-2').instanceId] }),
      );
      // Assess
      const instance = Reservations?.[0]?.Instances?.[0];
      expect(Reservations).toHaveLength(1);
      expect(instance).toMatchObject({
        InstanceId: fleet.resolve('web-2').instanceId,
        InstanceType: 't3.micro',
        ImageId: 'ami-0abcdef1234567890',
        Platform: 'windows',
        PlatformDetails: 'Windows',
        Placement: { AvailabilityZone: 'us-east-1b' },
        State: { Code: 16, Name: 'running' },
        VpcId: 'vpc-0a1b2c3d4e5f60718',
        PrivateIpAddress: fleet.resolve('web-2').privateIp,
      });
      expect(instance?.Tags).toEqual(
        expect.arrayContaining([
          { Key: 'Name', Value: 'web-2' },
          { Key: 'autoprov:enabled', Value: 'true' },
          { Key: 'environment', Value: 'staging' },
        ]),
      );
      expect(instance?.LaunchTime).toBeInstanceOf(Date);
    });

    it('filters by tag, tag-key, state and instance-id, with wildcards', async () => {
      const names = async (filters: { Name: string; Values: string[] }[]) => {
        const { Reservations = [] } = await ec2().send(new DescribeInstancesCommand({ Filters: filters }));
        return Reservations.flatMap((r) => r.Instances ?? []).map(
          (i) => i.Tags?.find((t) => t.Key === 'Name')?.Value,
        );
      };
      expect(
        await names([
          { Name: 'tag:autoprov:enabled', Values: ['true'] },
          { Name: 'instance-state-name', Values: ['running'] },
        ]),
      ).toEqual(['web-1', 'web-2', 'web-4', 'web-5', 'web-6', 'web-7', 'web-8']);
      expect(await names([{ Name: 'instance-state-name', Values: ['stopped'] }])).toEqual(['web-3']);
      expect(await names([{ Name: 'tag:Name', Values: ['web-1?'] }])).toEqual(['web-10', 'web-11', 'web-12']);
      expect(await names([{ Name: 'tag-key', Values: ['environ*'] }])).toHaveLength(12);
      expect(await names([{ Name: 'instance-id', Values: [fleet.resolve('web-4').instanceId] }])).toEqual([
        'web-4',
      ]);
      expect(await names([{ Name: 'instance-type', Values: ['m5.*'] }])).toEqual(['web-1']);
    });

    it('paginates with MaxResults and NextToken (the SDK paginator walks every page)', async () => {
      const pages: number[] = [];
      for await (const page of paginateDescribeInstances({ client: ec2(), pageSize: 5 }, {})) {
        pages.push(page.Reservations?.length ?? 0);
      }
      expect(pages).toEqual([5, 5, 2]);
    });

    it('answers the real error codes', async () => {
      await expect(
        ec2().send(new DescribeInstancesCommand({ InstanceIds: ['i-0123456789abcdef0'] })),
      ).rejects.toMatchObject({
        name: 'InvalidInstanceID.NotFound',
        message: "The instance ID 'i-0123456789abcdef0' does not exist",
      });
      await expect(
        ec2().send(new DescribeInstancesCommand({ InstanceIds: ['bogus'] })),
      ).rejects.toMatchObject({
        name: 'InvalidInstanceID.Malformed',
      });
      await expect(ec2().send(new DescribeInstancesCommand({ MaxResults: 3 }))).rejects.toMatchObject({
        name: 'InvalidParameterValue',
      });
      await expect(
        ec2().send(new DescribeInstancesCommand({ Filters: [{ Name: 'owner-alias', Values: ['x'] }] })),
      ).rejects.toMatchObject({
        name: 'InvalidParameterValue',
        message: "The filter 'owner-alias' is invalid",
      });
    });
  });

  describe('throttling', () => {
    it('answers RequestLimitExceeded for a seeded fraction; the SDK classifies it as throttling and retries', async () => {
      // Prepare
      server.resetCounters();
      server.setThrottle({ EC2: 0.5 });
      const seen: string[] = [];
      const client = new EC2Client({
        endpoint: server.endpoint,
        region: 'us-east-1',
        credentials,
        retryStrategy: recordingRetry(seen) as never,
      });
      // Act
      for (let i = 0; i < 10; i++) {
        const { Reservations } = await client.send(new DescribeInstancesCommand({ MaxResults: 5 }));
        expect(Reservations).toHaveLength(5);
      }
      server.setThrottle({});
      // Assess
      const counter = server.counters()['EC2.DescribeInstances'];
      expect(counter?.throttled).toBeGreaterThan(0);
      expect(counter?.calls).toBe(10 + (counter?.throttled ?? 0));
      expect(seen).toEqual(Array(counter?.throttled).fill('THROTTLING'));
      expect(server.totalCalls({ excludeThrottled: true })).toBe(10);
    });

    it('throttles one operation only when configured per operation, with the JSON ThrottlingException shape', async () => {
      server.resetCounters();
      server.setThrottle({ 'SecretsManager.GetSecretValue': 1 });
      secrets.put('slack', '{"webhook":"https://hooks.example/x"}');
      const client = new SecretsManagerClient({
        endpoint: server.endpoint,
        region: 'us-east-1',
        credentials,
        maxAttempts: 1,
      });
      await expect(client.send(new GetSecretValueCommand({ SecretId: 'slack' }))).rejects.toMatchObject({
        name: 'ThrottlingException',
        $metadata: { httpStatusCode: 400 },
      });
      await ec2().send(new DescribeInstancesCommand({ MaxResults: 5 }));
      server.setThrottle({});
      expect(server.counters()).toEqual({
        'SecretsManager.GetSecretValue': { calls: 1, throttled: 1, errors: 0 },
        'EC2.DescribeInstances': { calls: 1, throttled: 0, errors: 0 },
      });
    });

    it('is retried by a client configured like functions/shared/clients.ts (adaptive, 6 attempts)', async () => {
      server.resetCounters();
      server.setThrottle({ SNS: 0.4 });
      sns.createTopic('alerts');
      const client = new SNSClient({
        endpoint: server.endpoint,
        region: 'us-east-1',
        credentials,
        retryMode: 'adaptive',
        maxAttempts: 6,
      });
      for (let i = 0; i < 4; i++) {
        await client.send(
          new PublishCommand({ TopicArn: 'arn:aws:sns:us-east-1:123456789012:alerts', Message: `m${i}` }),
        );
      }
      server.setThrottle({});
      const counter = server.counters()['SNS.Publish'];
      expect(counter?.calls).toBe(4 + (counter?.throttled ?? 0));
      expect(counter?.throttled).toBeGreaterThan(0);
      expect(sns.messages.slice(-4).map((m) => m.message)).toEqual(['m0', 'm1', 'm2', 'm3']);
    });
  });

  describe('SNS, Secrets Manager, S3 and Lambda', () => {
    it('records SNS messages and refuses unknown topics', async () => {
      const topicArn = sns.createTopic('provisioning');
      const client = new SNSClient({
        endpoint: server.endpoint,
        region: 'us-east-1',
        credentials,
        maxAttempts: 1,
      });
      const { MessageId } = await client.send(
        new PublishCommand({ TopicArn: topicArn, Subject: 'i-1 FAILED', Message: 'body & <details>' }),
      );
      expect(sns.messages.at(-1)).toMatchObject({
        messageId: MessageId,
        topicArn,
        subject: 'i-1 FAILED',
        message: 'body & <details>',
      });
      await expect(
        client.send(new PublishCommand({ TopicArn: `${topicArn}-nope`, Message: 'x' })),
      ).rejects.toMatchObject({
        name: 'NotFoundException',
      });
    });

    it('returns secrets by name or ARN and ResourceNotFoundException otherwise', async () => {
      const arn = secrets.put('telegram', '{"token":"t","chatId":"1"}');
      const client = new SecretsManagerClient({
        endpoint: server.endpoint,
        region: 'us-east-1',
        credentials,
        maxAttempts: 1,
      });
      expect((await client.send(new GetSecretValueCommand({ SecretId: 'telegram' }))).SecretString).toBe(
        '{"token":"t","chatId":"1"}',
      );
      expect((await client.send(new GetSecretValueCommand({ SecretId: arn }))).Name).toBe('telegram');
      await expect(client.send(new GetSecretValueCommand({ SecretId: 'nope' }))).rejects.toMatchObject({
        name: 'ResourceNotFoundException',
      });
    });

    it('stores and serves S3 objects path-style (what the SDK uses for an IP endpoint)', async () => {
      store.createBucket('bundle-bucket');
      const client = new S3Client({
        endpoint: server.endpoint,
        region: 'us-east-1',
        credentials,
        maxAttempts: 1,
      });
      await client.send(
        new PutObjectCommand({
          Bucket: 'bundle-bucket',
          Key: 'assets/a b.zip',
          Body: Buffer.from([1, 2, 3, 250]),
        }),
      );
      expect([...(store.get('bundle-bucket', 'assets/a b.zip')?.body ?? [])]).toEqual([1, 2, 3, 250]);
      const object = await client.send(
        new GetObjectCommand({ Bucket: 'bundle-bucket', Key: 'assets/a b.zip' }),
      );
      expect([...((await object.Body?.transformToByteArray()) ?? [])]).toEqual([1, 2, 3, 250]);
      expect(
        (await client.send(new HeadObjectCommand({ Bucket: 'bundle-bucket', Key: 'assets/a b.zip' })))
          .ContentLength,
      ).toBe(4);
      await expect(
        client.send(new GetObjectCommand({ Bucket: 'bundle-bucket', Key: 'missing' })),
      ).rejects.toMatchObject({
        name: 'NoSuchKey',
      });
      await expect(
        client.send(new HeadObjectCommand({ Bucket: 'bundle-bucket', Key: 'missing' })),
      ).rejects.toMatchObject({
        name: 'NotFound',
      });
      await expect(
        client.send(new GetObjectCommand({ Bucket: 'no-bucket', Key: 'k' })),
      ).rejects.toMatchObject({
        name: 'NoSuchBucket',
      });
    });

    it('decodes streaming (aws-chunked) uploads', async () => {
      store.createBucket('logs');
      const client = new S3Client({
        endpoint: server.endpoint,
        region: 'us-east-1',
        credentials,
        maxAttempts: 1,
      });
      const { Readable } = await import('node:stream');
      const body = 'x'.repeat(70_000);
      await client.send(
        new PutObjectCommand({
          Bucket: 'logs',
          Key: 'stream.txt',
          Body: Readable.from([body]),
          ContentLength: body.length,
        }),
      );
      expect(store.get('logs', 'stream.txt')?.body.toString()).toBe(body);
    });

    it('invokes functions synchronously and asynchronously (Event) like Lambda', async () => {
      const client = new LambdaClient({
        endpoint: server.endpoint,
        region: 'us-east-1',
        credentials,
        maxAttempts: 1,
      });
      const sync = await client.send(
        new InvokeCommand({
          FunctionName: 'arn:aws:lambda:us-east-1:123456789012:function:notifier',
          Payload: JSON.stringify({ a: 1 }),
        }),
      );
      expect(sync.StatusCode).toBe(200);
      expect(JSON.parse(Buffer.from(sync.Payload ?? []).toString())).toEqual({ ok: true, echo: { a: 1 } });
      const failed = await client.send(new InvokeCommand({ FunctionName: 'broken', Payload: '{}' }));
      expect(failed.FunctionError).toBe('Unhandled');
      expect(JSON.parse(Buffer.from(failed.Payload ?? []).toString())).toMatchObject({
        errorType: 'TypeError',
      });
      const event = await client.send(
        new InvokeCommand({
          FunctionName: 'notifier',
          InvocationType: 'Event',
          Payload: JSON.stringify({ b: 2 }),
        }),
      );
      expect(event.StatusCode).toBe(202);
      await lambda.drain();
      expect(invoked.at(-1)).toEqual({ name: 'notifier', payload: { b: 2 } });
      await expect(
        client.send(new InvokeCommand({ FunctionName: 'nope', Payload: '{}' })),
      ).rejects.toMatchObject({
        name: 'ResourceNotFoundException',
      });
    });

    it('refuses what it cannot route or has no emulator for, instead of pretending', async () => {
      const { SSMClient, GetCommandInvocationCommand } = await import('@aws-sdk/client-ssm');
      const client = new SSMClient({
        endpoint: server.endpoint,
        region: 'us-east-1',
        credentials,
        maxAttempts: 1,
      });
      await expect(
        client.send(new GetCommandInvocationCommand({ CommandId: 'c', InstanceId: 'i-1' })),
      ).rejects.toThrow(/no SSM emulator configured/);
    });

    it('records webhook calls (Slack/Telegram stand-ins) without counting them as AWS calls', async () => {
      server.resetCounters();
      const response = await fetch(`${server.endpoint}/_local/webhooks/slack/T000`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ text: 'i-1 FAILED' }),
      });
      expect(response.status).toBe(200);
      expect(server.webhooks.at(-1)).toMatchObject({
        path: '/_local/webhooks/slack/T000',
        contentType: 'application/json',
        body: '{"text":"i-1 FAILED"}',
      });
      expect(server.counters()).toEqual({});
    });

    it('gives bundled code the endpoint variables, including the catch-all', () => {
      const env = server.endpointEnv('http://127.0.0.1:8000');
      expect(env).toMatchObject({
        AWS_ENDPOINT_URL: server.endpoint,
        AWS_ENDPOINT_URL_SSM: server.endpoint,
        AWS_ENDPOINT_URL_SECRETS_MANAGER: server.endpoint,
        AWS_ENDPOINT_URL_DYNAMODB: 'http://127.0.0.1:8000',
      });
    });
  });
});
