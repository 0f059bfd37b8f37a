// EventBridge rules that wake the provisioner up (docs/architecture.md "Flow"): EC2 state changes and opt-in tag changes go
// to the event detector (opt-in/hold tag changes on SSM managed nodes too: hybrid nodes, mi-…); terminal
// Run Command invocation statuses of our two documents go to the callback.
// Delivery is retried by EventBridge and ends in the failed-events queue, never dropped.
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { EVENT_TARGET_MAX_EVENT_AGE, EVENT_TARGET_RETRY_ATTEMPTS } from '../retries.js';

/** EC2 states the event detector cares about: `running` claims, the others stop or orphan a record. */
export const EC2_STATES = ['running', 'stopped', 'stopping', 'shutting-down', 'terminated'] as const;

/** Invocation statuses that are not final; every other status ends the command. */
export const NON_TERMINAL_COMMAND_STATUSES = ['Pending', 'InProgress', 'Delayed', 'Cancelling'] as const;

export interface EventRoutingProps {
  readonly eventDetector: lambda.IFunction;
  readonly callback: lambda.IFunction;
  /** Tag keys whose change matters: the opt-in tag and the hold tag. */
  readonly tagKeys: readonly string[];
  /** Names of the documents whose command statuses the workflow waits on. */
  readonly documentNames: readonly string[];
  readonly deadLetterQueue: sqs.IQueue;
}

export class EventRouting extends Construct {
  public readonly instanceStateRule: events.Rule;
  public readonly tagChangeRule: events.Rule;
  public readonly managedNodeTagChangeRule: events.Rule;
  public readonly commandStatusRule: events.Rule;

  constructor(scope: Construct, id: string, props: EventRoutingProps) {
    super(scope, id);
    const target = (fn: lambda.IFunction): targets.LambdaFunction =>
      new targets.LambdaFunction(fn, {
        deadLetterQueue: props.deadLetterQueue,
        retryAttempts: EVENT_TARGET_RETRY_ATTEMPTS,
        maxEventAge: EVENT_TARGET_MAX_EVENT_AGE,
      });

    this.instanceStateRule = new events.Rule(this, 'InstanceState', {
      description: 'Ansible AutoProvisioner: EC2 instance state changes → event detector',
      eventPattern: {
        source: ['aws.ec2'],
        detailType: ['EC2 Instance State-change Notification'],
        detail: { state: [...EC2_STATES] },
      },
      targets: [target(props.eventDetector)],
    });

    this.tagChangeRule = new events.Rule(this, 'TagChange', {
      description: 'Ansible AutoProvisioner: opt-in or hold tag changed on an EC2 instance → event detector',
      eventPattern: {
        source: ['aws.tag'],
        detailType: ['Tag Change on Resource'],
        detail: {
          service: ['ec2'],
          'resource-type': ['instance'],
          'changed-tag-keys': [...props.tagKeys],
        },
      },
      targets: [target(props.eventDetector)],
    });

    // Tags on hybrid nodes are SSM's: `aws ssm add-tags-to-resource --resource-type ManagedInstance` emits
    // "Tag Change on Resource" whose service and resource-type are those of the resource's ARN, as in the
    // documented ec2 example: ssm and managed-instance for arn:aws:ssm:<region>:<account>:managed-instance/mi-…
    // ("Monitor tag changes with serverless workflows and Amazon EventBridge",
    // https://docs.aws.amazon.com/tag-editor/latest/userguide/tag-monitor.html).
    this.managedNodeTagChangeRule = new events.Rule(this, 'ManagedNodeTagChange', {
      description:
        'Ansible AutoProvisioner: opt-in or hold tag changed on an SSM managed node (hybrid) → event detector',
      eventPattern: {
        source: ['aws.tag'],
        detailType: ['Tag Change on Resource'],
        detail: {
          service: ['ssm'],
          'resource-type': ['managed-instance'],
          'changed-tag-keys': [...props.tagKeys],
        },
      },
      targets: [target(props.eventDetector)],
    });

    this.commandStatusRule = new events.Rule(this, 'CommandStatus', {
      description: 'Ansible AutoProvisioner: a Run Command invocation of our documents ended → callback',
      eventPattern: {
        source: ['aws.ssm'],
        detailType: ['EC2 Command Invocation Status-change Notification'],
        detail: {
          'document-name': [...props.documentNames],
          status: events.Match.anythingBut(...NON_TERMINAL_COMMAND_STATUSES),
        },
      },
      targets: [target(props.callback)],
    });
  }
}
