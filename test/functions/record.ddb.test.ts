// The record handler on a real table in DynamoDB Local (integration tier); its logic with the in-memory
// store is tested in record.test.ts (unit tier).
import { afterEach, describe, expect, inject, it, vi } from 'vitest';
import type { HostFacts } from '../../functions/core/types.js';
import type { PlaybookRecord } from '../../functions/shared/state-store-api.js';
import { createTestTable } from '../helpers/ddb.js';

const INSTANCE = 'i-0aaaaaaaaaaaaaaa1';
const NOW = new Date('2025-01-02T03:04:05.000Z');
const FINGERPRINT = 'f'.repeat(64);

const facts: HostFacts = {
  instanceId: INSTANCE,
  source: 'ec2',
  name: 'db-01',
  tags: {},
  groups: ['all'],
  vars: {},
};

const ok = (file: string): PlaybookRecord => ({
  file,
  status: 'Success',
  attempts: 1,
  commandId: `c-${file}`,
});

describe('record handler (DynamoDB Local)', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it('records the outcome fenced on the generation, sets the last success fingerprint, and refuses a stale run', async () => {
    // Prepare
    const { tableName, store } = await createTestTable();
    vi.stubEnv('TABLE_NAME', tableName);
    vi.stubEnv('AWS_ENDPOINT_URL_DYNAMODB', inject('dynamoDbEndpoint'));
    const { handler } = await import('../../functions/record/handler.js');
    const plan = {
      extraVars: {},
      timeoutSeconds: 60,
      maxAttempts: 1,
      backoffSeconds: 1,
      check: false,
      rule: 'r',
    };
    const claimAndRun = async (at: Date, generation: number) => {
      await store.claim(INSTANCE, {
        reason: generation === 1 ? 'new' : 'operator-retry',
        leaseSeconds: 60,
        actor: 'test',
        now: at,
      });
      await store.recordMatch(
        INSTANCE,
        generation,
        { playbooks: [{ ...plan, file: 'a.yml' }], matchedRules: ['r'], fingerprint: FINGERPRINT },
        at,
      );
      await store.recordPlaybookResult(INSTANCE, generation, 0, ok('a.yml'), at);
    };
    await store.upsertDetection(facts, { held: false, actor: 'test', now: NOW });
    await claimAndRun(NOW, 1);

    // Act
    const output = await handler({ instanceId: INSTANCE, generation: 1 });

    // Assess
    expect(output).toEqual({ instanceId: INSTANCE, generation: 1, status: 'SUCCESS', notify: true });
    expect(await store.getInstance(INSTANCE)).toMatchObject({
      status: 'SUCCESS',
      lastSuccessFingerprint: FINGERPRINT,
    });
    expect(await handler({ instanceId: INSTANCE, generation: 1 })).toEqual(output);

    // Generation 2 runs; a late record call from generation 1 must not overwrite it.
    await claimAndRun(new Date(NOW.getTime() + 60_000), 2);
    await expect(
      handler({ instanceId: INSTANCE, generation: 1, status: 'FAILED', reason: 'late' }),
    ).rejects.toMatchObject({
      name: 'StaleGeneration',
    });
    expect(await store.getInstance(INSTANCE)).toMatchObject({ status: 'RUNNING', generation: 2 });
    const recorded = (await store.listHistory(INSTANCE)).filter((event) => event.type === 'RECORDED');
    expect(recorded).toHaveLength(1);
    await expect(handler({ instanceId: INSTANCE, generation: 2, status: 'SUCCESS' })).rejects.toMatchObject({
      name: 'InvalidInputError',
    });
  });
});
