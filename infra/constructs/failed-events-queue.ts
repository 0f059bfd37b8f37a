// Where an event goes when it could not be handled after every retry: EventBridge and Scheduler targets
// (delivery failed) and asynchronous Lambda invocations (the function kept failing). Nothing is dropped
// silently; an alarm fires on the first message (see monitoring.ts).
import { Duration } from 'aws-cdk-lib';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { acknowledge } from '../nag.js';

export class FailedEventsQueue extends Construct {
  public readonly queue: sqs.Queue;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    this.queue = new sqs.Queue(this, 'Queue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    acknowledge(
      this.queue,
      'AwsSolutions-SQS3',
      'This queue IS the dead-letter destination of the EventBridge rules, the sweep schedule and the asynchronous Lambda invocations; nothing consumes it automatically, so it needs no DLQ of its own.',
    );
  }
}
