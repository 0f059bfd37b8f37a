// The run-command handler on a real table in DynamoDB Local (integration tier); its logic with the in-memory
// store is tested in run-command.test.ts (unit tier).
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SendCommandCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, inject, it, vi } from 'vitest';
import { createTestTable } from '../helpers/ddb.js';
import { runBundle as bundle, runFacts as facts, INSTANCE, NOW } from './handler-fixtures.js';

const TOKEN = 'token-attempt-1';
const COMMAND_ID = '11111111-2222-3333-4444-555555555555';
const BUNDLE_URL = 'https://autoprov-assets.s3.us-east-1.amazonaws.com/playbooks/bundle.zip';

const ssmMock = mockClient(SSMClient);

beforeEach(() => {
  ssmMock.reset();
});

describe('run-command handler (DynamoDB Local)', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it('stores token and command id on the real table, and refuses a generation that was superseded', async () => {
    // Prepare
    const { tableName, store } = await createTestTable();
    const dir = mkdtempSync(join(tmpdir(), 'autoprov-run-'));
    writeFileSync(join(dir, 'rules.json'), JSON.stringify(bundle));
    vi.stubEnv('TABLE_NAME', tableName);
    vi.stubEnv('AWS_ENDPOINT_URL_DYNAMODB', inject('dynamoDbEndpoint'));
    vi.stubEnv('RULES_BUNDLE_PATH', join(dir, 'rules.json'));
    vi.stubEnv('BUNDLE_URL', BUNDLE_URL);
    vi.stubEnv('APPLY_DOCUMENT', 'AWS-ApplyAnsiblePlaybooks');
    vi.stubEnv('ANSIBLE_INSTALL_DOCUMENT', 'autoprov-EnsureAnsible');
    vi.stubEnv('INSTALL_DEPENDENCIES', 'False');
    vi.stubEnv('OUTPUT_LOG_GROUP', '/autoprov/commands');
    vi.stubEnv('OUTPUT_BUCKET', 'autoprov-output');
    const { handler } = await import('../../functions/run-command/handler.js');
    await store.upsertDetection(facts, { held: false, actor: 'test', now: NOW });
    await store.claim(INSTANCE, { reason: 'new', leaseSeconds: 60, actor: 'test', now: NOW });
    const plan = bundle.config.rules
      .flatMap((rule) => rule.playbooks)
      .map((playbook) => ({
        file: playbook.file,
        extraVars: playbook.extraVars,
        timeoutSeconds: 900,
        maxAttempts: 3,
        backoffSeconds: 60,
        check: false,
        rule: 'r',
      }));
    await store.recordMatch(
      INSTANCE,
      1,
      { playbooks: plan, matchedRules: ['baseline', 'web'], fingerprint: 'f' },
      NOW,
    );
    ssmMock.on(SendCommandCommand).resolves({ Command: { CommandId: COMMAND_ID } });

    // Act
    await handler({
      instanceId: INSTANCE,
      generation: 1,
      taskToken: TOKEN,
      kind: 'playbook',
      playbookIndex: 0,
      attempt: 1,
    });

    // Assess
    expect((await store.getInstance(INSTANCE))?.activeCommand).toMatchObject({
      kind: 'playbook',
      playbookIndex: 0,
      attempt: 1,
      taskToken: TOKEN,
      commandId: COMMAND_ID,
    });
    expect(ssmMock).toHaveReceivedCommandWith(SendCommandCommand, {
      DocumentName: 'AWS-ApplyAnsiblePlaybooks',
      Parameters: expect.objectContaining({ PlaybookFile: ['baseline.yml'] }),
    });
    const types = (await store.listHistory(INSTANCE)).map((event) => event.type);
    expect(types).toContain('COMMAND_SENT');

    // A reclaim bumps the generation: g1 may not store a token nor send anything.
    await store.claim(INSTANCE, {
      reason: 'lease-expired',
      leaseSeconds: 60,
      actor: 'test',
      now: new Date(NOW.getTime() + 120_000),
    });
    ssmMock.resetHistory();
    await expect(
      handler({
        instanceId: INSTANCE,
        generation: 1,
        taskToken: 'token-2',
        kind: 'ensure-ansible',
        attempt: 1,
      }),
    ).rejects.toMatchObject({ name: 'StaleGeneration' });
    expect(ssmMock).not.toHaveReceivedCommand(SendCommandCommand);

    await expect(
      handler({ instanceId: INSTANCE, generation: 2, taskToken: 't', kind: 'playbook', attempt: 1 }),
    ).rejects.toMatchObject({
      name: 'InvalidInputError',
      message: expect.stringContaining('playbookIndex is required'),
    });
  });
});
