// `npm start --json`: the local-mode demo (scripts/local/fleets/demo.yaml) on the deployable artifacts in
// cdk.out, with real Ansible, played to its expected end states. (The stack's own run from cdk.out — bundled
// functions, workflow, stop — is asserted in real-ansible.test.ts, on the stack that suite starts.)
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runProcess } from '../helpers/run-process.js';

describe('npm start --json', () => {
  it('plays the demo to its expected end states and exits 0', async () => {
    // Act
    const run = await runProcess('npm', ['start', '--json']);

    // Assess
    expect(run.code, run.stderr.slice(-3000)).toBe(0);
    const report = JSON.parse(run.stdout.slice(run.stdout.indexOf('{'))) as {
      ok: boolean;
      instances: { name?: string; status: string; playbooks: { file: string; attempts: number }[] }[];
      expectations: { instance: string; ok: boolean }[];
      deadLetters: number;
      stateDir: string;
      stateKept: boolean;
      finalSweep?: { dynamoDbWrites: number };
    };
    expect(report.ok).toBe(true);
    const byName = new Map(report.instances.map((i) => [i.name, i]));
    expect(byName.get('web-1')?.status).toBe('SUCCESS');
    expect(byName.get('web-2')?.status).toBe('SUCCESS');
    expect(byName.get('web-2')?.playbooks.map((p) => [p.file, p.attempts])).toEqual([
      ['baseline.yml', 1],
      ['webserver.yml', 2],
    ]);
    expect(byName.get('app-1')?.status).toBe('ORPHANED');
    expect(byName.get('win-1')?.status).toBe('SKIPPED');
    expect(byName.get('batch-1')?.status).toBe('SUCCESS');
    expect(byName.get('onprem-db-1')?.status).toBe('SUCCESS');
    expect(report.expectations.length).toBeGreaterThanOrEqual(8);
    expect(report.expectations.every((e) => e.ok)).toBe(true);
    expect(report.deadLetters).toBe(0);
    expect(report.finalSweep?.dynamoDbWrites).toBe(0);
    expect(report.stateKept).toBe(false);
    expect(existsSync(report.stateDir)).toBe(false);
  }, 600_000);
});
