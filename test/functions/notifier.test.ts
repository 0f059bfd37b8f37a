import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { HostFacts } from '../../functions/core/types.js';
import { cachedSecretReader, slackChannel, telegramChannel } from '../../functions/notifier/channels.js';
import { buildAlert, executionConsoleUrl } from '../../functions/notifier/message.js';
import { type NotifyDeps, notify } from '../../functions/notifier/notify.js';
import type { DebugLogger } from '../../functions/shared/logger.js';
import { FakeStateStore } from '../helpers/fake-store.js';

const INSTANCE = 'i-0bbbbbbbbbbbbbbb2';
const NOW = new Date('2025-01-02T03:04:05.000Z');
const TOPIC = 'arn:aws:sns:eu-west-1:123456789012:autoprov-alerts';
const STATE_MACHINE = 'arn:aws:states:eu-west-1:123456789012:stateMachine:autoprov-provisioning';
const SLACK_SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:autoprov/slack-AbCdEf';
const TELEGRAM_SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:autoprov/telegram-GhIjKl';
const BOT_TOKEN = '123456:SECRET-bot-token-value';
const WEBHOOK_PATH = '/services/T000/B000/SECRETwebhookPATH';
const LOG_URL =
  'https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#logsV2:log-groups/x';
const EXECUTION_URL =
  'https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/v2/executions/details/' +
  `arn:aws:states:eu-west-1:123456789012:execution:autoprov-provisioning:${INSTANCE}-g5`;

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
let logged: string[];
const recordingLogger: DebugLogger = {
  debug: (...args: unknown[]) => void logged.push(JSON.stringify(args)),
  info: (...args: unknown[]) => void logged.push(JSON.stringify(args)),
  warn: (...args: unknown[]) => void logged.push(JSON.stringify(args)),
  error: (...args: unknown[]) => void logged.push(JSON.stringify(args)),
};

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
  logged = [];
});

afterEach(async () => {
  await slack.close();
  await telegram.close();
  vi.unstubAllEnvs();
});

function seedFailed(store: FakeStateStore, generation = 5) {
  store.seed({
    instanceId: INSTANCE,
    facts,
    status: 'PARTIAL',
    generation,
    executionName: `${INSTANCE}-g${generation}`,
    reason: 'nginx.yml ended Failed after 3 attempts',
    playbooks: [
      {
        file: 'baseline.yml',
        status: 'Success',
        attempts: 1,
        commandId: 'c-1',
        logUrl: 'https://example/log-1',
      },
      {
        file: 'nginx.yml',
        status: 'Failed',
        attempts: 3,
        exitCode: 2,
        commandId: 'c-2',
        outputTail:
          'Running Ansible in /var/lib/amazon/ssm\nTASK [Configure nginx] ****\nfatal: [localhost]: FAILED! => {"changed": false, "msg": "unknown directive \\"lisen\\""}',
        logUrl: LOG_URL,
      },
    ],
  });
}

function deps(store: FakeStateStore, timeoutMs = 1000): NotifyDeps {
  const readSecret = cachedSecretReader(new SecretsManagerClient({}));
  return {
    store,
    sns: new SNSClient({}),
    topicArn: TOPIC,
    stateMachineArn: STATE_MACHINE,
    channels: [
      slackChannel(SLACK_SECRET, readSecret, timeoutMs),
      telegramChannel(TELEGRAM_SECRET, readSecret, telegram.base, timeoutMs),
    ],
    now: () => NOW,
    logger: recordingLogger,
  };
}

const partial = { instanceId: INSTANCE, generation: 5, status: 'PARTIAL' as const, notify: true };

describe('the alert text', () => {
  it('links the execution in the Step Functions console', () => {
    expect(executionConsoleUrl(STATE_MACHINE, `${INSTANCE}-g5`)).toBe(EXECUTION_URL);
    expect(executionConsoleUrl('not-an-arn', 'x')).toBeUndefined();
  });

  it('keeps the SNS subject ASCII and under 100 characters', () => {
    const store = new FakeStateStore();
    store.seed({ instanceId: INSTANCE, facts: { ...facts, name: `Сервер ${'x'.repeat(150)}` } });
    const alert = buildAlert(
      { instanceId: INSTANCE, generation: 1, status: 'FAILED' },
      store.peek(INSTANCE),
      STATE_MACHINE,
    );
    expect(alert.subject).toMatch(/^\[autoprov\] FAILED: i-0bbbbbbbbbbbbbbb2 \(\?{6} x+\.\.\.$/);
    expect(alert.subject.length).toBe(99);
  });
});

describe('older records', () => {
  it('reads a reason holding the old JSON cause as text, never the JSON', () => {
    const store = new FakeStateStore();
    store.seed({
      instanceId: INSTANCE,
      facts,
      status: 'FAILED',
      generation: 2,
      reason:
        'PlaybookFailed: {"commandId":"c-9","status":"Failed","exitCode":2,"outputTail":"Running Ansible in /x\\nArchive: b.zip\\n  inflating: webserver.yml',
    });
    const alert = buildAlert(
      { instanceId: INSTANCE, generation: 2, status: 'FAILED' },
      store.peek(INSTANCE),
      STATE_MACHINE,
    );
    expect(alert.text).toContain('Reason: PlaybookFailed: command c-9 Failed (exit code 2)');
    expect(alert.text).not.toContain('{"commandId"');
  });
});

describe('notify', () => {
  it('sends one alert to SNS, Slack and Telegram with the facts an operator needs', async () => {
    // Prepare
    const store = new FakeStateStore();
    seedFailed(store);

    // Act
    const output = await notify(partial, deps(store));

    // Assess
    expect(output).toEqual({ sent: true, channels: ['sns', 'slack', 'telegram'], failed: [] });
    const text = [
      `Instance: ${INSTANCE} (web-01)`,
      'Status: PARTIAL (generation 5)',
      'Failure: nginx.yml: task "Configure nginx" failed: unknown directive "lisen"',
      'Reason: nginx.yml ended Failed after 3 attempts',
      'Failed playbook: nginx.yml (Failed, exit code 2, 3 attempts)',
      'Playbooks:',
      '  - baseline.yml: Success (1 attempt)',
      '  - nginx.yml: Failed (3 attempts)',
      `Execution: ${EXECUTION_URL}`,
      `Log: ${LOG_URL}`,
      '',
      'Output (last lines of nginx.yml):',
      'Running Ansible in /var/lib/amazon/ssm',
      'TASK [Configure nginx] ****',
      'fatal: [localhost]: FAILED! => {"changed": false, "msg": "unknown directive \\"lisen\\""}',
    ].join('\n');
    expect(snsMock).toHaveReceivedCommandExactlyOnceWith(PublishCommand, {
      TopicArn: TOPIC,
      Subject: `[autoprov] PARTIAL: ${INSTANCE} (web-01)`,
      Message: text,
    });
    expect(slack.requests).toEqual([{ url: WEBHOOK_PATH, body: { text } }]);
    expect(telegram.requests).toEqual([
      {
        url: `/bot${BOT_TOKEN}/sendMessage`,
        body: { chat_id: '-100200300', text, disable_web_page_preview: true },
      },
    ]);
    expect(store.history).toEqual([
      {
        instanceId: INSTANCE,
        type: 'NOTIFIED',
        at: NOW.toISOString(),
        actor: 'notifier',
        generation: 5,
        details: { status: 'PARTIAL', channels: ['sns', 'slack', 'telegram'], failed: [] },
      },
    ]);
  });

  it('sends nothing the second time for the same generation and status', async () => {
    const store = new FakeStateStore();
    seedFailed(store);
    const d = deps(store);

    await notify(partial, d);
    const second = await notify(partial, d);

    expect(second).toEqual({ sent: false, channels: [] });
    expect(snsMock).toHaveReceivedCommandTimes(PublishCommand, 1);
    expect(slack.requests).toHaveLength(1);
    expect(telegram.requests).toHaveLength(1);
  });

  it('still sends SNS and reports the chat channels that failed (HTTP 500), without leaking secrets', async () => {
    const store = new FakeStateStore();
    seedFailed(store);
    slack.behaviour = 500;
    telegram.behaviour = 500;

    // A generous timeout: an HTTP 500 is what fails here, however slow the machine.
    const output = await notify(partial, deps(store, 60_000));

    expect(output).toEqual({ sent: true, channels: ['sns'], failed: ['slack', 'telegram'] });
    expect(snsMock).toHaveReceivedCommandTimes(PublishCommand, 1);
    expect(slack.requests).toHaveLength(1);
    expect(telegram.requests).toHaveLength(1);
    const event = store.history[0];
    expect(event).toMatchObject({
      type: 'NOTIFIED',
      reason: 'slack: HTTP 500; telegram: HTTP 500',
      details: { channels: ['sns'], failed: ['slack', 'telegram'] },
    });
    const everything = JSON.stringify([output, store.history, logged]);
    expect(everything).not.toContain(BOT_TOKEN);
    expect(everything).not.toContain('SECRETwebhookPATH');
    expect(logged.some((line) => line.includes('Some channels failed'))).toBe(true);
  });

  it('gives up on chat channels that never answer, after the timeout, and still sends SNS', async () => {
    const store = new FakeStateStore();
    seedFailed(store);
    // Servers that never answer: the timeout is the only way out, whatever the machine's speed.
    slack.behaviour = 'hang';
    telegram.behaviour = 'hang';

    const output = await notify(partial, deps(store, 200));

    expect(output).toEqual({ sent: true, channels: ['sns'], failed: ['slack', 'telegram'] });
    expect(snsMock).toHaveReceivedCommandTimes(PublishCommand, 1);
    expect(store.history[0]).toMatchObject({
      type: 'NOTIFIED',
      reason: 'slack: no answer within 200 ms; telegram: no answer within 200 ms',
    });
    const everything = JSON.stringify([output, store.history, logged]);
    expect(everything).not.toContain(BOT_TOKEN);
    expect(everything).not.toContain('SECRETwebhookPATH');
  });

  it('reads each secret once per cold start, and retries a read that failed', async () => {
    const store = new FakeStateStore();
    seedFailed(store);
    secretsMock
      .on(GetSecretValueCommand, { SecretId: SLACK_SECRET })
      .rejectsOnce(Object.assign(new Error('denied'), { name: 'AccessDeniedException', $metadata: {} }))
      .resolves({ SecretString: `${slack.base}${WEBHOOK_PATH}` });
    const d = deps(store);

    const first = await notify(partial, d);
    const second = await notify({ ...partial, generation: 6 }, d);
    const third = await notify({ ...partial, generation: 7 }, d);

    expect(first).toMatchObject({ channels: ['sns', 'telegram'], failed: ['slack'] });
    expect(store.history[0]?.reason).toBe('slack: AccessDeniedException');
    expect(second).toMatchObject({ channels: ['sns', 'slack', 'telegram'], failed: [] });
    expect(third).toMatchObject({ channels: ['sns', 'slack', 'telegram'] });
    expect(secretsMock).toHaveReceivedCommandTimes(GetSecretValueCommand, 3);
    expect(secretsMock).toHaveReceivedCommandWith(GetSecretValueCommand, { SecretId: TELEGRAM_SECRET });
    expect(secretsMock.commandCalls(GetSecretValueCommand, { SecretId: TELEGRAM_SECRET })).toHaveLength(1);
  });

  it('reports a malformed Telegram secret without quoting it', async () => {
    const store = new FakeStateStore();
    seedFailed(store);
    secretsMock
      .on(GetSecretValueCommand, { SecretId: TELEGRAM_SECRET })
      .resolves({ SecretString: `{"token":"${BOT_TOKEN}"}` });

    const output = await notify(partial, deps(store));

    expect(output.failed).toEqual(['telegram']);
    expect(store.history[0]?.reason).toContain('must be JSON {"botToken"');
    expect(JSON.stringify([store.history, logged])).not.toContain(BOT_TOKEN);
    expect(telegram.requests).toHaveLength(0);
  });

  it('fails visibly when SNS itself fails, after the chat channels were still tried', async () => {
    const store = new FakeStateStore();
    seedFailed(store);
    snsMock
      .on(PublishCommand)
      .rejects(Object.assign(new Error('boom'), { name: 'InternalErrorException', $metadata: {} }));

    await expect(notify(partial, deps(store))).rejects.toMatchObject({
      name: 'NotificationFailedError',
      message: expect.stringContaining('sns: InternalErrorException'),
    });
    expect(slack.requests).toHaveLength(1);
    expect(store.history[0]).toMatchObject({ details: { channels: ['slack', 'telegram'], failed: ['sns'] } });
  });

  it('does nothing when the record step said not to notify', async () => {
    const store = new FakeStateStore();
    seedFailed(store);

    expect(await notify({ ...partial, status: 'SKIPPED', notify: false }, deps(store))).toEqual({
      sent: false,
      channels: [],
    });
    expect(store.calls).toEqual([]);
    expect(snsMock).not.toHaveReceivedAnyCommand();
  });

  it('alerts ORPHANED with the detector reason and no execution link for a never-claimed instance', async () => {
    const store = new FakeStateStore();
    store.seed({ instanceId: INSTANCE, facts, status: 'ORPHANED', generation: 0, reason: 'terminated' });

    await notify({ instanceId: INSTANCE, generation: 0, status: 'ORPHANED' }, deps(store));

    const message = snsMock.commandCalls(PublishCommand)[0]?.args[0].input.Message ?? '';
    expect(message).toBe(
      [`Instance: ${INSTANCE} (web-01)`, 'Status: ORPHANED (generation 0)', 'Reason: terminated'].join('\n'),
    );
  });
});
