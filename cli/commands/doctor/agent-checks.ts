// The host's SSM agent: registered with Systems Manager and Online, or why Run Command cannot reach it
// (with the fix for an EC2 instance, a stopped one, or a hybrid node).
import {
  DescribeInstanceInformationCommand,
  type InstanceInformation,
  type SSMClient,
} from '@aws-sdk/client-ssm';
import { formatTime } from '../../output.js';
import { type Check, check, couldNotCheck, type Send } from './check.js';
import { isGone } from './host-checks.js';

export function agentCheck(info: InstanceInformation | undefined, hybrid: boolean, ec2State?: string): Check {
  const title = 'SSM agent';
  if (isGone(ec2State)) {
    return check(
      'instance',
      'warn',
      title,
      `${info?.PingStatus ?? 'not registered'}: irrelevant, the instance is ${ec2State}`,
    );
  }
  if (!info) {
    return check(
      'instance',
      'fail',
      title,
      'not registered with Systems Manager: Run Command cannot reach it',
      hybrid
        ? 'register the node with an SSM hybrid activation (amazon-ssm-agent -register) and start the agent'
        : 'the SSM agent must run on the instance and its instance profile needs AmazonSSMManagedInstanceCore; check outbound HTTPS to ssm/ssmmessages/ec2messages',
    );
  }
  if (info.PingStatus === 'Online') {
    return check(
      'instance',
      'ok',
      title,
      `Online (agent ${info.AgentVersion ?? '?'}, ${info.PlatformName ?? info.PlatformType ?? 'unknown platform'})`,
    );
  }
  const last = info.LastPingDateTime ? ` since ${formatTime(info.LastPingDateTime.toISOString())}` : '';
  return check(
    'instance',
    'fail',
    title,
    `${info.PingStatus ?? 'unknown'}${last}: commands cannot be delivered`,
    hybrid
      ? 'make sure the node is up and its agent runs (sudo systemctl status amazon-ssm-agent) with network access to SSM; if its activation expired or was deleted, register it again'
      : ec2State === 'stopped' || ec2State === 'stopping'
        ? `start the instance (aws ec2 start-instances --instance-ids ${info.InstanceId ?? '<id>'}); the agent reconnects when it runs`
        : 'make sure the instance is running and the agent is up (sudo systemctl status amazon-ssm-agent) with network access to SSM',
  );
}

export async function checkAgent(
  ssm: Send<SSMClient>,
  instanceId: string,
  hybrid: boolean,
  ec2State?: string,
): Promise<Check> {
  try {
    const { InstanceInformationList } = await ssm.send(
      new DescribeInstanceInformationCommand({
        Filters: [{ Key: 'InstanceIds', Values: [instanceId] }],
        MaxResults: 5,
      }),
    );
    return agentCheck(InstanceInformationList?.[0], hybrid, ec2State);
  } catch (error) {
    return couldNotCheck('instance', 'SSM agent', error, 'ssm:DescribeInstanceInformation');
  }
}
