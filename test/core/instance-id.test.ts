// One instance-id schema (core/instance-id.ts): AWS's own forms for ids from outside, the id shape for
// ids our own components pass on.
import { describe, expect, it } from 'vitest';
import {
  EC2_INSTANCE_ID,
  hasInstanceIdShape,
  instanceIdInput,
  isInstanceId,
  unanchored,
} from '../../functions/core/instance-id.js';

describe('instance ids', () => {
  it("accepts AWS's forms from outside and only those", () => {
    expect(isInstanceId('i-0123abcd')).toBe(true);
    expect(isInstanceId('i-0123456789abcdef0')).toBe(true);
    expect(isInstanceId('mi-0123456789abcdef0')).toBe(true);
    expect(isInstanceId('i-0abc')).toBe(false);
    expect(isInstanceId('mi-0abc')).toBe(false);
    expect(isInstanceId('I-0123ABCD')).toBe(false);
  });

  it('checks only the shape of ids passed between components, and every AWS form has that shape', () => {
    for (const id of ['i-0abc', 'mi-1', 'i-0123456789abcdef0', 'mi-0123456789abcdef0'])
      expect(hasInstanceIdShape(id)).toBe(true);
    for (const id of ['i-', 'xi-1', 'i-0abc;rm', 'web-01', 'i-0ABC'])
      expect(hasInstanceIdShape(id)).toBe(false);
    expect(instanceIdInput.safeParse('i-0abc').success).toBe(true);
    const bad = instanceIdInput.safeParse('i-0abc"');
    expect(bad.success).toBe(false);
    expect(bad.error?.issues[0]?.message).toBe('expected an EC2 instance id (i-…) or managed node id (mi-…)');
  });

  it('gives the EC2 pattern for use inside an ARN pattern', () => {
    const arn = new RegExp(`^arn:aws:ec2:eu-west-1:123456789012:instance/(${unanchored(EC2_INSTANCE_ID)})$`);
    expect(arn.exec('arn:aws:ec2:eu-west-1:123456789012:instance/i-0123456789abcdef0')?.[1]).toBe(
      'i-0123456789abcdef0',
    );
    expect(arn.test('arn:aws:ec2:eu-west-1:123456789012:instance/i-0abc')).toBe(false);
  });
});
