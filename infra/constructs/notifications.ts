// Where people hear about outcomes and alarms: one SNS topic, e-mail subscriptions from the props.
// Encrypted with a customer managed key: outcome messages carry the tail of the playbook output, which is
// whatever the playbook printed. (The AWS managed SNS key would not let CloudWatch alarms publish.)
// enforceSSL gives the topic an access policy of its own, which REPLACES SNS's default one: after it, only
// what that policy allows reaches the topic. The notifier publishes with its role's identity policy (same
// account); CloudWatch, a service principal, needs the topic policy's Allow (allowAlarms).
// Slack and Telegram secrets stay in Secrets Manager and are read only by the notifier λ (docs/architecture.md "Notifications").
import { Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';

export interface NotificationsProps {
  /** Addresses subscribed to the topic (each must confirm the subscription e-mail). */
  readonly emails: readonly string[];
}

export class Notifications extends Construct {
  public readonly topic: sns.Topic;
  public readonly key: kms.Key;

  constructor(scope: Construct, id: string, props: NotificationsProps) {
    super(scope, id);
    this.key = new kms.Key(this, 'TopicKey', {
      description:
        'Ansible AutoProvisioner: encrypts the notifications topic (messages carry playbook output tails).',
      enableKeyRotation: true,
    });
    this.topic = new sns.Topic(this, 'Topic', {
      displayName: 'Ansible AutoProvisioner',
      enforceSSL: true,
      masterKey: this.key,
    });
    for (const email of props.emails) {
      this.topic.addSubscription(new subscriptions.EmailSubscription(email));
    }
  }

  /**
   * Lets exactly these CloudWatch alarms (ARNs) of this account publish to the topic: sns:Publish in the
   * topic policy, and the key actions SNS needs to encrypt their messages ("Amazon SNS: Encrypting with AWS
   * KMS — enable compatibility between event sources from AWS services and encrypted topics",
   * https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#compatibility-with-aws-services).
   * Both conditioned on aws:SourceAccount and aws:SourceArn (confused-deputy protection): no other
   * account's alarm, no other alarm of this account, no other service.
   */
  allowAlarms(alarmArns: readonly string[]): void {
    const account = Stack.of(this).account;
    const conditions = {
      StringEquals: { 'aws:SourceAccount': account },
      ArnEquals: { 'aws:SourceArn': [...alarmArns] },
    };
    const cloudwatch = new iam.ServicePrincipal('cloudwatch.amazonaws.com');
    this.topic.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'StackAlarmsPublish',
        principals: [cloudwatch],
        actions: ['sns:Publish'],
        resources: [this.topic.topicArn],
        conditions,
      }),
    );
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'StackAlarmsEncrypt',
        principals: [cloudwatch],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
        conditions,
      }),
    );
  }
}
