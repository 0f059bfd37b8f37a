// The notifier handler on a real table in DynamoDB Local (integration tier); its logic with the in-memory
// store is tested in notifier.test.ts (unit tier).
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, inject, it, vi } from 'vitest';
import type { HostFacts } from '../../functions/core/types.js';
import { createTestTable } from '../helpers/ddb.js';

const INSTANCE = 'i-0bbbbbbbbbbbbbbb2';
const NOW = new Date('2025-01-02T03:04:05.000Z');
const TOPIC = 'arn:aws:sns:eu-west-1:123456789012:autoprov-alerts';
const STATE_MACHINE = 'arn:aws:states:eu-west-1:123456789012:stateMachine:autoprov-provisioning';
const SLACK_SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:autoprov/slack-AbCdEf';
const TELEGRAM_SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:autoprov/telegram-GhIjKl';
const BOT_TOKEN = '123456:SECRET-bot-token-value';
const WEBHOOK_PATH = '/services/T000/B000/SECRETwebhookPATH';

const facts: HostFacts = {
  instanceId: INSTANCE,
  source: 'ec2',
  name: 'web-01',
  tags: {},
  groups: ['all'],
  vars: {},
};

// ---------------------------------------------------------------------------------------------
// A local chat API: records each request and answers as the test says (ok, HTTP 500, or never).

interface ChatRequest {
  readonly url: string;
  readonly body: Record<string, unknown>;
}
type Behaviour = 'ok' | 500 | 'hang';

interface ChatServer {
  readonly base: string;
  readonly requests: ChatRequest[];
  behaviour: Behaviour;
  close(): Promise<void>;
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function startChatServer(): Promise<ChatServer> {
  const state: { behaviour: Behaviour } = { behaviour: 'ok' };
  const requests: ChatRequest[] = [];
  const server: Server = createServer(async (request, response) => {
    const body = JSON.parse(await readBody(request)) as Record<string, unknown>;
    requests.push({ url: request.url ?? '', body });
    if (state.behaviour === 'hang') return;
    response.writeHead(state.behaviour === 'ok' ? 200 : 500, { 'content-type': 'application/json' });
    response.end(state.behaviour === 'ok' ? '{"ok":true}' : `{"error":"echo ${request.url}"}`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    base: `http://127.0.0.1:${port}`,
    requests,
    get behaviour() {
      return state.behaviour;
    },
    set behaviour(value) {
      state.behaviour = value;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

// ---------------------------------------------------------------------------------------------

const snsMock = mockClient(SNSClient);
const secretsMock = mockClient(SecretsManagerClient);
let slack: ChatServer;
let telegram: ChatServer;

beforeEach(async () => {
  snsMock.reset();
  secretsMock.reset();
  snsMock.on(PublishCommand).resolves({ MessageId: 'm-1' });
  slack = await startChatServer();
  telegram = await startChatServer();
  secretsMock
    .on(GetSecretValueCommand, { SecretId: SLACK_SECRET })
    .resolves({ SecretString: `${slack.base}${WEBHOOK_PATH}` });
  secretsMock
    .on(GetSecretValueCommand, { SecretId: TELEGRAM_SECRET })
    .resolves({ SecretString: JSON.stringify({ botToken: BOT_TOKEN, chatId: '-100200300' }) });
});

afterEach(async () => {
  await slack.close();
  await telegram.close();
  vi.unstubAllEnvs();
});

describe('notifier handler (DynamoDB Local)', () => {
  it('claims the notification on the real table: one alert, then nothing; Slack failing never blocks SNS', async () => {
    // Prepare
    const { tableName, store } = await createTestTable();
    vi.stubEnv('TABLE_NAME', tableName);
    vi.stubEnv('AWS_ENDPOINT_URL_DYNAMODB', inject('dynamoDbEndpoint'));
    vi.stubEnv('TOPIC_ARN', TOPIC);
    vi.stubEnv('STATE_MACHINE_ARN', STATE_MACHINE);
    vi.stubEnv('SLACK_SECRET_ARN', SLACK_SECRET);
    vi.stubEnv('TELEGRAM_SECRET_ARN', TELEGRAM_SECRET);
    vi.stubEnv('TELEGRAM_API_BASE', telegram.base);
    const { handler } = await import('../../functions/notifier/handler.js');
    await store.upsertDetection(facts, { held: false, actor: 'test', now: NOW });
    await store.claim(INSTANCE, { reason: 'new', leaseSeconds: 60, actor: 'test', now: NOW });
    await store.recordMatch(INSTANCE, 1, { playbooks: [], matchedRules: [], fingerprint: 'f' }, NOW);
    await store.recordOutcome(INSTANCE, 1, { status: 'FAILED', reason: 'SSM agent not Online' }, NOW);
    slack.behaviour = 500;
    const written: string[] = [];
    const capture = (chunk: unknown) => {
      written.push(String(chunk));
      return true;
    };
    const stdout = vi.spyOn(process.stdout, 'write').mockImplementation(capture);
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(capture);

    // Act
    let first: Awaited<ReturnType<typeof handler>>;
    let second: Awaited<ReturnType<typeof handler>>;
    try {
      first = await handler({ instanceId: INSTANCE, generation: 1, status: 'FAILED', notify: true });
      second = await handler({ instanceId: INSTANCE, generation: 1, status: 'FAILED', notify: true });
    } finally {
      stdout.mockRestore();
      stderr.mockRestore();
    }

    // Assess
    expect(first).toEqual({ sent: true, channels: ['sns', 'telegram'], failed: ['slack'] });
    expect(second).toEqual({ sent: false, channels: [] });
    expect(snsMock).toHaveReceivedCommandExactlyOnceWith(PublishCommand, {
      TopicArn: TOPIC,
      Subject: `[autoprov] FAILED: ${INSTANCE} (web-01)`,
      Message: expect.stringContaining('Reason: SSM agent not Online'),
    });
    expect(telegram.requests).toHaveLength(1);
    expect((await store.getInstance(INSTANCE))?.notifiedKey).toBe('1#FAILED');
    const notified = (await store.listHistory(INSTANCE)).filter((event) => event.type === 'NOTIFIED');
    expect(notified).toEqual([
      expect.objectContaining({
        details: { status: 'FAILED', channels: ['sns', 'telegram'], failed: ['slack'] },
      }),
    ]);
    expect(written.join('')).not.toContain(BOT_TOKEN);
    expect(written.join('')).not.toContain('SECRETwebhookPATH');
    await expect(handler({ instanceId: INSTANCE, generation: 1, status: 'DONE' })).rejects.toMatchObject({
      name: 'InvalidInputError',
    });
  });
});
