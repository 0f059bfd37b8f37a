// `npm run bench` at a small size (a burst of 8, a fault-free run of 4: the per-instance figures do not
// depend on the count): it runs all three runs on the local stack and prints the docs/architecture.md "Budgets"
// figures as one JSON object with the keys the benchmark issue lists. The figures themselves are checked
// against the budgets (the full-size numbers are in docs/benchmarks.md; they come from running it).
import { describe, expect, it } from 'vitest';
import { assertJava } from '../../scripts/local/dynamodb-local.js';
import { runScript } from '../helpers/run-process.js';
import { FUNCTION_ROLES } from './support.js';

interface BenchJson {
  instances: number;
  happyPathInstances: number;
  transitionsPerInstance: { happyPath: number; burst: number };
  transitionsPerExecutionMax: { happyPath: number; burst: number };
  apiCallsPerInstance: { happyPath: { excludingDynamoDb: number; includingDynamoDb: number } };
  apiCalls: { happyPath: Record<string, { calls: number }>; burst: Record<string, { calls: number }> };
  ddbWritesPerInstance: { happyPath: number; burst: number };
  executionsPerInstance: { happyPath: number; burst: number };
  sendCommandsPerPlaybook: {
    burst: Record<string, { perGeneration: number; max: number; generations: number }>;
  };
  duplicates: number;
  lost: number;
  sweepSteadyState: { instances: number; apiCalls: number; ddbWrites: number };
  bundleBytes: Record<string, number>;
  budgets: { figure: string; ok: boolean; informational?: boolean }[];
  ok: boolean;
  wallSeconds: number;
}

describe('npm run bench -- --json', () => {
  it('measures a small burst and sweep and prints every figure as one JSON object', async () => {
    // Arrange
    assertJava();

    // Act
    const run = await runScript('scripts/bench.ts', [
      '--instances',
      '8',
      '--happy-instances',
      '4',
      '--sweep-instances',
      '400',
      '--json',
    ]);

    // Assess: stdout is exactly one JSON object; progress went to stderr
    expect(run.code, run.stderr.slice(-3000)).toBe(0);
    const report = JSON.parse(run.stdout) as BenchJson;
    expect(run.stderr).toMatch(/burst: \d+\/8 instances provisioned/);
    expect(report.instances).toBe(8);
    expect(report.happyPathInstances).toBe(4);
    expect(report.ok).toBe(true);
    expect(report.budgets.filter((b) => !b.ok && !b.informational)).toEqual([]);
    // The DynamoDB-inclusive count is reported (ADR 0007), and it is the larger of the two.
    expect(report.budgets.filter((b) => b.informational).map((b) => b.figure)).toEqual([
      expect.stringContaining('DynamoDB included'),
    ]);
    const calls = report.apiCallsPerInstance.happyPath;
    expect(calls.excludingDynamoDb).toBeLessThanOrEqual(12);
    expect(calls.includingDynamoDb).toBeGreaterThan(calls.excludingDynamoDb);

    // The workflow: transitions within budget, one execution and one SendCommand per playbook per generation
    expect(report.transitionsPerExecutionMax.happyPath).toBeLessThanOrEqual(16);
    expect(report.transitionsPerInstance.burst).toBeGreaterThanOrEqual(
      report.transitionsPerInstance.happyPath,
    );
    expect(report.executionsPerInstance).toEqual({ happyPath: 1, burst: 1 });
    for (const playbook of ['baseline.yml', 'webserver.yml']) {
      expect(report.sendCommandsPerPlaybook.burst[playbook]).toMatchObject({
        perGeneration: 1,
        max: 1,
        generations: 8,
      });
    }
    expect(report.duplicates).toBe(0);
    expect(report.lost).toBe(0);

    // Calls by Service.Operation: the happy path's are exact, the burst's include throttled requests
    expect(report.apiCalls.happyPath['SSM.SendCommand']?.calls).toBe(3 * 4);
    expect(report.apiCalls.happyPath['SFN.StartExecution']?.calls).toBe(4);
    expect(report.apiCalls.happyPath['SNS.Publish']?.calls).toBe(4);
    expect(report.apiCalls.burst['SSM.SendCommand']?.calls).toBeGreaterThanOrEqual(3 * 8);
    expect(report.ddbWritesPerInstance.happyPath).toBeGreaterThan(0);

    // Steady-state sweep: one DescribeInstances page and one Query page for 400 instances, no write
    expect(report.sweepSteadyState).toMatchObject({ instances: 400, apiCalls: 2, ddbWrites: 0 });

    // Every function's bundle, each under the 500 KB budget
    expect(Object.keys(report.bundleBytes).sort()).toEqual([...FUNCTION_ROLES]);
    for (const bytes of Object.values(report.bundleBytes)) expect(bytes).toBeLessThanOrEqual(500_000);
    expect(report.wallSeconds).toBeGreaterThan(0);
  }, 600_000);
});
