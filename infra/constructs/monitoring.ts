// Production defaults for operators: alarms (to the notification topic) on every way a run can end
// badly without a provisioning notification, and one dashboard of outcomes per hour.
import { ArnFormat, Duration, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';

export interface MonitoringProps {
  readonly stateMachine: sfn.StateMachine;
  /** The state machine's execution log (level ALL): outcomes are read from the record states' output. */
  readonly stateMachineLogGroup: logs.ILogGroup;
  readonly failedEvents: sqs.IQueue;
  readonly topic: sns.ITopic;
  /** Functions whose errors and throttles the dashboard shows, by display name. */
  readonly functions: Readonly<Record<string, lambda.IFunction>>;
}

export class Monitoring extends Construct {
  /** Keyed by what they watch: executionsFailed, executionsThrottled, executionsAborted, executionsTimedOut, failedEvents. */
  public readonly alarms: Readonly<Record<string, cloudwatch.Alarm>>;
  /**
   * The alarms' ARNs, from their names (`<stack name>-<what>`), not from attributes: the topic's key policy
   * names them, and a reference to the alarms would make the key depend on alarms that depend on the topic.
   */
  public readonly alarmArns: readonly string[];
  public readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: MonitoringProps) {
    super(scope, id);
    const sm = props.stateMachine;
    const stack = Stack.of(this);
    const arns: string[] = [];
    const period = { period: Duration.minutes(5), statistic: cloudwatch.Stats.SUM };
    const alarm = (name: string, metric: cloudwatch.IMetric, description: string): cloudwatch.Alarm => {
      const alarmName = `${stack.stackName}-${name}`;
      arns.push(
        stack.formatArn({
          service: 'cloudwatch',
          resource: 'alarm',
          resourceName: alarmName,
          arnFormat: ArnFormat.COLON_RESOURCE_NAME,
        }),
      );
      const created = new cloudwatch.Alarm(this, name, {
        alarmName,
        alarmDescription: `Ansible AutoProvisioner: ${description}`,
        metric,
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
      created.addAlarmAction(new actions.SnsAction(props.topic));
      return created;
    };

    this.alarms = {
      executionsFailed: alarm(
        'ExecutionsFailed',
        sm.metricFailed(period),
        'a provisioning execution failed outside its failure path (recording or notifying broke); open the execution in the console.',
      ),
      executionsThrottled: alarm(
        'ExecutionsThrottled',
        sm.metricThrottled(period),
        'Step Functions throttled provisioning executions.',
      ),
      executionsAborted: alarm(
        'ExecutionsAborted',
        sm.metricAborted(period),
        'a provisioning execution was aborted (by an operator or a redeploy); its instance is reclaimed by the sweep when the lease expires.',
      ),
      executionsTimedOut: alarm(
        'ExecutionsTimedOut',
        sm.metricTimedOut(period),
        'a provisioning execution timed out.',
      ),
      failedEvents: alarm(
        'FailedEvents',
        props.failedEvents.metricApproximateNumberOfMessagesVisible({
          period: Duration.minutes(5),
          statistic: cloudwatch.Stats.MAXIMUM,
        }),
        'events could not be handled after every retry and wait in the failed-events queue; inspect and redrive them.',
      ),
    };

    this.alarmArns = arns;

    const hourly = { period: Duration.hours(1), statistic: cloudwatch.Stats.SUM };
    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      defaultInterval: Duration.days(7),
      widgets: [
        [
          // Outcomes without custom metrics: every record state's output carries the recorded status.
          new cloudwatch.LogQueryWidget({
            title: 'Outcomes per hour (provisioned = SUCCESS)',
            width: 24,
            logGroupNames: [props.stateMachineLogGroup.logGroupName],
            view: cloudwatch.LogQueryVisualizationType.STACKEDAREA,
            queryLines: [
              'filter type = "TaskStateExited" and details.name like /^Record/',
              'parse details.output /"status":"(?<outcome>[A-Z]+)"/',
              'stats count(*) by outcome, bin(1h)',
            ],
          }),
        ],
        [
          new cloudwatch.GraphWidget({
            title: 'Provisioning runs per hour',
            width: 12,
            left: [
              sm.metricSucceeded({
                ...hourly,
                label: 'finished (provisioned, skipped or recorded as failed)',
              }),
              sm.metricFailed({ ...hourly, label: 'failed outside the failure path' }),
              sm.metricStarted({ ...hourly, label: 'started' }),
            ],
          }),
          new cloudwatch.GraphWidget({
            title: 'Executions aborted, timed out, throttled',
            width: 12,
            left: [sm.metricAborted(hourly), sm.metricTimedOut(hourly), sm.metricThrottled(hourly)],
          }),
        ],
        [
          new cloudwatch.GraphWidget({
            title: 'Failed events waiting (dead-letter queue)',
            width: 12,
            left: [
              props.failedEvents.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5) }),
            ],
          }),
          new cloudwatch.GraphWidget({
            title: 'Function errors per hour',
            width: 12,
            left: Object.entries(props.functions).map(([name, fn]) =>
              fn.metricErrors({ ...hourly, label: name }),
            ),
          }),
        ],
        [
          new cloudwatch.AlarmStatusWidget({
            title: 'Alarms',
            width: 24,
            alarms: Object.values(this.alarms),
          }),
        ],
      ],
    });
  }
}
