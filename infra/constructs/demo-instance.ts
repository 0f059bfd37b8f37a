// Optional (context demo=true): one small Amazon Linux 2023 instance that opts in, so a first deployment can
// be watched end to end. It has no inbound access at all: SSM reaches it through the agent's outbound calls.
import { Tags } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { TagSelector } from '../../functions/core/types.js';
import { acknowledge } from '../nag.js';

export interface DemoInstanceProps {
  /** The bundle/output policy from the provisioner. */
  readonly instancePolicy: iam.IManagedPolicy;
  readonly optIn: TagSelector;
  /**
   * @default t4g.micro
   */
  readonly instanceType?: ec2.InstanceType;
}

export class DemoInstance extends Construct {
  public readonly vpc: ec2.Vpc;
  public readonly role: iam.Role;
  public readonly instance: ec2.Instance;

  constructor(scope: Construct, id: string, props: DemoInstanceProps) {
    super(scope, id);
    // One public subnet and no NAT gateway: the cheapest network from which the agent reaches SSM.
    this.vpc = new ec2.Vpc(this, 'Vpc', {
      maxAzs: 1,
      natGateways: 0,
      subnetConfiguration: [{ name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 }],
      flowLogs: {
        rejected: {
          trafficType: ec2.FlowLogTrafficType.REJECT,
          destination: ec2.FlowLogDestination.toCloudWatchLogs(
            new logs.LogGroup(this, 'FlowLogs', { retention: logs.RetentionDays.ONE_WEEK }),
          ),
        },
      },
    });
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com'),
      description: 'Demo instance of the Ansible AutoProvisioner: SSM agent + playbook bundle access',
      managedPolicies: [
        iam.ManagedPolicy.fromAwsManagedPolicyName('AmazonSSMManagedInstanceCore'),
        props.instancePolicy,
      ],
    });
    acknowledge(
      this.role,
      'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/AmazonSSMManagedInstanceCore]',
      'AmazonSSMManagedInstanceCore is the documented minimum for a node Systems Manager manages.',
    );
    const securityGroup = new ec2.SecurityGroup(this, 'NoInbound', {
      vpc: this.vpc,
      description: 'Demo instance: no inbound rules; outbound HTTPS to reach SSM and S3',
      allowAllOutbound: true,
    });
    this.instance = new ec2.Instance(this, 'Instance', {
      vpc: this.vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PUBLIC },
      securityGroup,
      instanceType: props.instanceType ?? ec2.InstanceType.of(ec2.InstanceClass.T4G, ec2.InstanceSize.MICRO),
      machineImage: ec2.MachineImage.latestAmazonLinux2023({ cpuType: ec2.AmazonLinuxCpuType.ARM_64 }),
      role: this.role,
      requireImdsv2: true,
      detailedMonitoring: true,
      blockDevices: [{ deviceName: '/dev/xvda', volume: ec2.BlockDeviceVolume.ebs(8, { encrypted: true }) }],
    });
    Tags.of(this.instance).add(props.optIn.tagKey, props.optIn.tagValue);
    Tags.of(this.instance).add('Name', 'autoprov-demo');
    acknowledge(
      this.instance,
      'AwsSolutions-EC29',
      'A throwaway demo instance: it must go away with `cdk destroy`, so no termination protection or Auto Scaling group.',
    );
  }
}
