// cdk-nag AwsSolutions on the stack: no unacknowledged finding, and every acknowledgment is on one
// CloudFormation resource with a real reason (no stack-wide blanket).
import { CfnResource, Stack, Validations } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import type { IConstruct } from 'constructs';
import { beforeAll, describe, expect, it } from 'vitest';
import { formatFindings } from '../../infra/nag.js';
import { type SynthResult, synthApp } from '../../infra/synth.js';

let synth: SynthResult;
beforeAll(() => {
  synth = synthApp({ nag: true, context: { demo: 'true' } });
});

function* walk(root: IConstruct): Generator<IConstruct> {
  yield root;
  for (const child of root.node.children) yield* walk(child);
}

describe('cdk-nag AwsSolutions', () => {
  it('reports no unacknowledged error or warning (demo instance included)', () => {
    expect(formatFindings(synth.nag.findings)).toBe('');
    expect(synth.nag.findings).toEqual([]);
  });

  it('records every acknowledgment on a single CloudFormation resource, with a reason', () => {
    const acknowledged: { path: string; id: string; reason: string }[] = [];
    for (const construct of walk(synth.stack.node.root)) {
      for (const entry of construct.node.metadata) {
        if (entry.type !== Validations.ACKNOWLEDGED_RULES_METADATA_KEY) continue;
        const where = construct.node.path;
        // Only cdk-nag's: aws-cdk-lib acknowledges some of its own CloudFormation-Validate rules (Vpc).
        const ours = Object.entries(entry.data as Record<string, string>).filter(([id]) =>
          id.startsWith('AwsSolutions'),
        );
        if (ours.length === 0) continue;
        expect(
          CfnResource.isCfnResource(construct),
          `acknowledgment on ${where} is not on one resource`,
        ).toBe(true);
        expect(Stack.isStack(construct), where).toBe(false);
        for (const [id, reason] of ours) acknowledged.push({ path: where, id, reason });
      }
    }
    expect(acknowledged.length).toBeGreaterThan(10);
    for (const a of acknowledged) {
      expect(a.id, a.path).toMatch(/^AwsSolutions::AwsSolutions-[A-Z]+\d+(\[.+\])?$/);
      expect(a.reason.length, `${a.id} at ${a.path}`).toBeGreaterThanOrEqual(20);
    }
    // Broad IAM5 wildcards are acknowledged finding by finding, never for a whole rule.
    expect(acknowledged.filter((a) => a.id === 'AwsSolutions::AwsSolutions-IAM5')).toEqual([]);
  });

  it('is live: an unhardened bucket added to the stack is reported', () => {
    const withBadBucket = synthApp({
      nag: true,
      extend: (stack) => {
        new s3.Bucket(stack, 'Careless');
      },
    });
    const rules = withBadBucket.nag.findings
      .filter((f) => f.paths.some((p) => p.includes('/Careless/')))
      .map((f) => f.rule)
      .sort();
    expect(rules).toEqual(expect.arrayContaining(['AwsSolutions-S1', 'AwsSolutions-S10']));
  });
});
