// The deployable stack: the AutoProvisioner construct, configured from cdk.json context, with the outputs an
// operator needs right after `cdk deploy`.
import { Aws, CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { AutoProvisioner, type AutoProvisionerProps } from './constructs/auto-provisioner.js';
import { DemoInstance } from './constructs/demo-instance.js';

export interface AutoProvisionerStackProps extends StackProps {
  readonly provisioner?: AutoProvisionerProps;
  /**
   * Also launch a small AL2023 instance that opts in, to watch a run end to end.
   * @default false
   */
  readonly demo?: boolean;
}

export class AutoProvisionerStack extends Stack {
  public readonly provisioner: AutoProvisioner;
  public readonly demoInstance?: DemoInstance;

  constructor(scope: Construct, id: string, props: AutoProvisionerStackProps = {}) {
    super(scope, id, {
      description:
        'Ansible AutoProvisioner: provisions opted-in EC2 instances and SSM nodes with Ansible via Run Command.',
      ...props,
    });
    this.provisioner = new AutoProvisioner(this, 'AutoProvisioner', props.provisioner);
    const p = this.provisioner;
    const optIn = p.rulesBundle.config.optIn;
    if (props.demo) {
      this.demoInstance = new DemoInstance(this, 'Demo', { instancePolicy: p.instancePolicy, optIn });
    }

    const output = (id: string, value: string, description: string) =>
      new CfnOutput(this, id, { value, description });
    output(
      'TableName',
      p.stateTable.table.tableName,
      'DynamoDB table with the instance records and their history.',
    );
    output('StateMachineArn', p.stateMachine.stateMachineArn, 'The provisioning workflow.');
    output(
      'StateMachineConsoleUrl',
      `https://${Aws.REGION}.console.aws.amazon.com/states/home?region=${Aws.REGION}#/statemachines/view/${p.stateMachine.stateMachineArn}`,
      'Open the provisioning runs in the Step Functions console.',
    );
    output('TopicArn', p.notifications.topic.topicArn, 'SNS topic with outcome notifications and alarms.');
    output(
      'FailedEventsQueueUrl',
      p.failedEvents.queue.queueUrl,
      'Dead-letter queue: events and async invocations that failed every retry (autoprov doctor reads its depth).',
    );
    output('BundleLocation', p.playbookBundle.bundleS3Uri, 'The playbook bundle the instances download.');
    output(
      'AnsibleInstall',
      p.ansibleInstall,
      'How Ansible reaches the hosts (context autoprov:ansibleInstall); preinstalled: the image needs ansible-playbook and unzip. autoprov doctor reads it.',
    );
    output(
      'InstancePolicyArn',
      p.instancePolicy.managedPolicyArn,
      `Attach to the instance profile of every instance to provision (with AmazonSSMManagedInstanceCore); opt in with the tag ${optIn.tagKey}=${optIn.tagValue}.`,
    );
  }
}
