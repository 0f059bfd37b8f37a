// The sweep's EC2 source: every opted-in instance that still exists, in pages of 1,000 (the
// DescribeInstances maximum), so 10,000 instances cost 10 calls (docs/architecture.md "Budgets").
import {
  DescribeInstancesCommand,
  type DescribeInstancesCommandInput,
  type EC2Client,
  type Instance,
} from '@aws-sdk/client-ec2';
import { LIVE_EC2_STATES } from '../core/reconcile.js';
import type { TagSelector } from '../core/types.js';

export async function listOptedInInstances(
  ec2: Pick<EC2Client, 'send'>,
  optIn: TagSelector,
): Promise<{ instances: Instance[]; pages: number }> {
  return describeAll(ec2, [
    { Name: `tag:${optIn.tagKey}`, Values: [optIn.tagValue] },
    // Stopped instances still exist: they must not be taken for vanished.
    { Name: 'instance-state-name', Values: [...LIVE_EC2_STATES] },
  ]);
}

/** EC2's answer for ids the sweep no longer sees among opted-in instances (filter: a missing id is no error). */
export async function describeByIds(
  ec2: Pick<EC2Client, 'send'>,
  instanceIds: readonly string[],
): Promise<Map<string, Instance>> {
  const found = new Map<string, Instance>();
  // A filter takes at most 200 values.
  for (let start = 0; start < instanceIds.length; start += 200) {
    const { instances } = await describeAll(ec2, [
      { Name: 'instance-id', Values: instanceIds.slice(start, start + 200) },
    ]);
    for (const instance of instances) if (instance.InstanceId) found.set(instance.InstanceId, instance);
  }
  return found;
}

/** Every page of DescribeInstances with these filters (1,000 instances a page). */
async function describeAll(
  ec2: Pick<EC2Client, 'send'>,
  filters: NonNullable<DescribeInstancesCommandInput['Filters']>,
): Promise<{ instances: Instance[]; pages: number }> {
  const instances: Instance[] = [];
  let pages = 0;
  let nextToken: string | undefined;
  do {
    const page = await ec2.send(
      new DescribeInstancesCommand({ Filters: filters, MaxResults: 1000, NextToken: nextToken }),
    );
    pages += 1;
    for (const reservation of page.Reservations ?? []) instances.push(...(reservation.Instances ?? []));
    nextToken = page.NextToken || undefined;
  } while (nextToken);
  return { instances, pages };
}
