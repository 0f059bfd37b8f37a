// What the handler suites share between their unit tier (in-memory store: match.test.ts, run-command.test.ts)
// and their integration tier (DynamoDB Local: match.ddb.test.ts, run-command.ddb.test.ts).
import type { HostFacts, RulesBundle } from '../../functions/core/types.js';
import { rule, rulesBundle } from '../helpers/rules-bundle.js';

export const INSTANCE = 'i-0123456789abcdef0';
export const NOW = new Date('2025-01-02T03:04:05.000Z');

/** match: a rule every host matches, one this web host matches with overrides, one it does not. */
export const matchBundle: RulesBundle = rulesBundle({
  rules: [
    rule('baseline', ['baseline.yml']),
    rule(
      'web',
      [{ file: 'nginx.yml', extraVars: { http_port: '8080' }, timeoutSeconds: 900 }],
      { groups: ['webservers'], vars: { environment: ['production', 'staging'] } },
      { maxAttempts: 5 },
    ),
    rule('db', ['postgres.yml'], { groups: ['databases'] }),
  ],
});

export const webFacts: HostFacts = {
  instanceId: INSTANCE,
  source: 'ec2',
  name: 'web-01',
  state: 'running',
  tags: { Name: 'web-01', 'autoprov:enabled': 'true', 'autoprov:groups': 'webservers' },
  groups: ['all', 'webservers'],
  vars: { environment: 'production', ec2_instance_type: 't3.micro', tag_Name: 'web-01' },
};

/** run-command: two playbooks, the second one in check mode. */
export const runBundle: RulesBundle = rulesBundle({
  rules: [
    rule('baseline', ['baseline.yml']),
    rule(
      'web',
      [{ file: 'roles/web/nginx.yml', extraVars: { http_port: '8080' }, timeoutSeconds: 900 }],
      { groups: ['webservers'] },
      { check: true },
    ),
  ],
  bundleHash: 'b'.repeat(64),
});

export const runFacts: HostFacts = {
  instanceId: INSTANCE,
  source: 'ec2',
  name: 'web-01',
  state: 'running',
  tags: { Name: 'web-01' },
  groups: ['all', 'webservers'],
  vars: { ec2_instance_type: 't3.micro', tag_Name: 'web-01' },
};
