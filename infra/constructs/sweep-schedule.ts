// The safety net behind best-effort events: EventBridge Scheduler invokes the sweep λ every few minutes
// (docs/architecture.md "Sweep"). A missed sweep is harmless (the next one covers it), a failed delivery still lands in
// the failed-events queue so it is seen.
import { Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { SCHEDULE_RETRY_ATTEMPTS, scheduleMaxEventAgeSeconds } from '../retries.js';

export interface SweepScheduleProps {
  readonly sweep: lambda.IFunction;
  readonly rateMinutes: number;
  readonly deadLetterQueue: sqs.IQueue;
}

export class SweepSchedule extends Construct {
  public readonly schedule: scheduler.CfnSchedule;
  public readonly role: iam.Role;

  constructor(scope: Construct, id: string, props: SweepScheduleProps) {
    super(scope, id);
    if (!Number.isInteger(props.rateMinutes) || props.rateMinutes < 1 || props.rateMinutes > 1440) {
      throw new Error(
        `Sweep rate must be a whole number of minutes between 1 and 1440, got ${props.rateMinutes} (context autoprov:sweepRateMinutes).`,
      );
    }
    const stack = Stack.of(this);
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', {
        // Confused-deputy guard: only schedules of this account may use the role.
        conditions: { StringEquals: { 'aws:SourceAccount': stack.account } },
      }),
      description: 'Lets EventBridge Scheduler invoke the Ansible AutoProvisioner sweep',
    });
    this.role.addToPolicy(
      new iam.PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [props.sweep.functionArn] }),
    );
    props.deadLetterQueue.grantSendMessages(this.role);

    const rate = props.rateMinutes === 1 ? 'rate(1 minute)' : `rate(${props.rateMinutes} minutes)`;
    this.schedule = new scheduler.CfnSchedule(this, 'Schedule', {
      description: 'Ansible AutoProvisioner: reconcile the fleet (sweep)',
      scheduleExpression: rate,
      flexibleTimeWindow: { mode: 'OFF' },
      state: 'ENABLED',
      target: {
        arn: props.sweep.functionArn,
        roleArn: this.role.roleArn,
        input: JSON.stringify({ source: 'autoprov.schedule' }),
        // A sweep older than one period is superseded by the next one.
        retryPolicy: {
          maximumRetryAttempts: SCHEDULE_RETRY_ATTEMPTS,
          maximumEventAgeInSeconds: scheduleMaxEventAgeSeconds(props.rateMinutes),
        },
        deadLetterConfig: { arn: props.deadLetterQueue.queueArn },
      },
    });
  }
}
