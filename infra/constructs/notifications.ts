// Where people hear about outcomes and alarms: one SNS topic, e-mail subscriptions from the props.
// Encrypted with a customer managed key: outcome messages carry the tail of the playbook output, which is
// whatever the playbook printed. (The AWS managed SNS key would not let CloudWatch alarms publish.)
// Slack and Telegram secrets stay in Secrets Manager and are read only by the notifier λ (DESIGN §5).
import { ArnFormat, Stack } from 'aws-cdk-lib';
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
    const stack = Stack.of(this);
    this.key = new kms.Key(this, 'TopicKey', {
      description:
        'Ansible AutoProvisioner: encrypts the notifications topic (messages carry playbook output tails).',
      enableKeyRotation: true,
    });
    // CloudWatch alarms of this account publish to the topic: they need the key (the notifier gets it
    // through grantPublish).
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AlarmsOfThisAccountPublish',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
        conditions: {
          StringEquals: { 'aws:SourceAccount': stack.account },
          ArnLike: {
            'aws:SourceArn': stack.formatArn({
              service: 'cloudwatch',
              resource: 'alarm',
              resourceName: '*',
              arnFormat: ArnFormat.COLON_RESOURCE_NAME,
            }),
          },
        },
      }),
    );
    this.topic = new sns.Topic(this, 'Topic', {
      displayName: 'Ansible AutoProvisioner',
      enforceSSL: true,
      masterKey: this.key,
    });
    for (const email of props.emails) {
      this.topic.addSubscription(new subscriptions.EmailSubscription(email));
    }
  }
}
