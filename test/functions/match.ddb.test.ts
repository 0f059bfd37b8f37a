// The match handler on a real table in DynamoDB Local (integration tier); its logic with the in-memory
// store is tested in match.test.ts (unit tier).
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, inject, it, vi } from 'vitest';
import { createTestTable } from '../helpers/ddb.js';
import { matchBundle as bundle, INSTANCE, NOW, webFacts } from './handler-fixtures.js';

describe('match handler (DynamoDB Local)', () => {
  it('matches a claimed instance, then refuses the old generation once it is reclaimed', async () => {
    // Prepare: a real table, a bundle file and the function's environment, then load the handler.
    const { tableName, store } = await createTestTable();
    const dir = mkdtempSync(join(tmpdir(), 'autoprov-match-'));
    writeFileSync(join(dir, 'rules.json'), JSON.stringify(bundle));
    vi.stubEnv('TABLE_NAME', tableName);
    vi.stubEnv('AWS_ENDPOINT_URL_DYNAMODB', inject('dynamoDbEndpoint'));
    vi.stubEnv('RULES_BUNDLE_PATH', join(dir, 'rules.json'));
    vi.stubEnv('AGENT_CHECK_INTERVAL_SECONDS', '30');
    vi.stubEnv('TASK_TIMEOUT_MARGIN_SECONDS', '300');
    const { handler } = await import('../../functions/match/handler.js');
    await store.upsertDetection(webFacts, { held: false, actor: 'test', now: NOW });
    const claim = await store.claim(INSTANCE, { reason: 'new', leaseSeconds: 60, actor: 'test', now: NOW });
    expect(claim.won).toBe(true);

    // Act
    const output = await handler({ instanceId: INSTANCE, generation: 1 });

    // Assess
    expect(output).toMatchObject({
      matched: true,
      agentChecksLeft: 20,
      playbooks: [
        { index: 0, file: 'baseline.yml', taskTimeoutSeconds: 2100 },
        { index: 1, file: 'nginx.yml', taskTimeoutSeconds: 1200 },
      ],
    });
    const record = await store.getInstance(INSTANCE);
    expect(record?.playbooks?.map((p) => [p.file, p.status])).toEqual([
      ['baseline.yml', 'Pending'],
      ['nginx.yml', 'Pending'],
    ]);
    const history = await store.listHistory(INSTANCE);
    expect(history.filter((event) => event.type === 'MATCHED')).toHaveLength(1);

    // A newer claim takes over after the lease expired: generation 1 may no longer write.
    const later = new Date(NOW.getTime() + 3600_000);
    const reclaim = await store.claim(INSTANCE, {
      reason: 'lease-expired',
      leaseSeconds: 60,
      actor: 'test',
      now: later,
    });
    expect(reclaim).toMatchObject({ won: true, generation: 2 });
    await expect(handler({ instanceId: INSTANCE, generation: 1 })).rejects.toMatchObject({
      name: 'StaleGeneration',
    });
    expect((await store.getInstance(INSTANCE))?.playbooks).toBeUndefined();

    await expect(handler({ instanceId: INSTANCE })).rejects.toMatchObject({ name: 'InvalidInputError' });
  });
});
