// Where people hear about outcomes and alarms: one SNS topic, e-mail subscriptions from the props.
// Slack and Telegram secrets stay in Secrets Manager and are read only by the notifier λ (DESIGN §5).
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import { acknowledge } from '../nag.js';

export interface NotificationsProps {
  /** Addresses subscribed to the topic (each must confirm the subscription e-mail). */
  readonly emails: readonly string[];
}

export class Notifications extends Construct {
  public readonly topic: sns.Topic;

  constructor(scope: Construct, id: string, props: NotificationsProps) {
    super(scope, id);
    this.topic = new sns.Topic(this, 'Topic', {
      displayName: 'Ansible AutoProvisioner',
      enforceSSL: true,
    });
    acknowledge(
      this.topic,
      'AwsSolutions-SNS2',
      'CloudWatch alarms publish to this topic, which they cannot do with the AWS managed SNS key; a customer managed key would cost more than the content is worth: messages carry instance ids, statuses and log links, never secrets (DESIGN §5). Transport is TLS-only (enforceSSL).',
    );
    for (const email of props.emails) {
      this.topic.addSubscription(new subscriptions.EmailSubscription(email));
    }
  }
}
