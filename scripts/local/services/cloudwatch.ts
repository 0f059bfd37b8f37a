// CloudWatch alarms stand-in: the stack's alarms as synthesized (name, ARN, actions per state), with
// SetAlarmState as CloudWatch's API reference describes it
// (https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_SetAlarmState.html): the alarm
// takes the state, and when that is a change its actions for the new state run. An SNS action is a Publish
// made by CloudWatch itself — principal cloudwatch.amazonaws.com, aws:SourceArn = the alarm's ARN,
// aws:SourceAccount = its account — so the topic's access policy decides whether the message arrives
// ("Amazon SNS: Encrypting with AWS KMS — CloudWatch alarms",
// https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#compatibility-with-aws-services).
// A failed action does not fail SetAlarmState: CloudWatch records it in the alarm's history, as here.
// Not modelled: metric evaluation (tests and local mode set the state), the KMS key policy.
import type { ServicePublisher } from './sns.js';

export type AlarmState = 'OK' | 'ALARM' | 'INSUFFICIENT_DATA';

/** One AWS::CloudWatch::Alarm of the template, resolved. */
export interface LocalAlarmSpec {
  readonly logicalId: string;
  readonly name: string;
  readonly arn: string;
  readonly description?: string;
  readonly actionsEnabled: boolean;
  readonly alarmActions: readonly string[];
  readonly okActions: readonly string[];
  readonly insufficientDataActions: readonly string[];
}

export interface AlarmHistoryItem {
  readonly alarmName: string;
  readonly at: number;
  readonly type: 'StateUpdate' | 'Action';
  readonly summary: string;
}

export interface CloudWatchAlarmsOptions {
  readonly alarms: readonly LocalAlarmSpec[];
  readonly account: string;
  readonly region: string;
  /** Publishes as an AWS service (SnsEmulator.publishAsService); throws when the topic refuses. */
  readonly publish: (publisher: ServicePublisher, topicArn: string, message: string, subject: string) => void;
  readonly now?: () => number;
}

export const CLOUDWATCH_PRINCIPAL = 'cloudwatch.amazonaws.com';

export class CloudWatchAlarms {
  readonly history: AlarmHistoryItem[] = [];
  private readonly alarms = new Map<string, LocalAlarmSpec>();
  private readonly states = new Map<string, AlarmState>();
  private readonly now: () => number;

  constructor(private readonly options: CloudWatchAlarmsOptions) {
    this.now = options.now ?? Date.now;
    for (const alarm of options.alarms) {
      this.alarms.set(alarm.name, alarm);
      this.states.set(alarm.name, 'INSUFFICIENT_DATA');
    }
  }

  names(): string[] {
    return [...this.alarms.keys()];
  }

  stateOf(name: string): AlarmState | undefined {
    return this.states.get(name);
  }

  /**
   * SetAlarmState: an unknown alarm is ResourceNotFound. On a change of state the alarm's actions for the
   * new state run; each SNS action's outcome goes to the history (`Successfully executed action …` or
   * `Failed to execute action …: <reason>`).
   */
  setAlarmState(name: string, state: AlarmState, reason: string): void {
    const alarm = this.alarms.get(name);
    if (!alarm) throw new Error(`ResourceNotFound: alarm ${name} does not exist`);
    const previous = this.states.get(name) ?? 'INSUFFICIENT_DATA';
    this.states.set(name, state);
    const at = this.now();
    this.history.push({
      alarmName: name,
      at,
      type: 'StateUpdate',
      summary: `Alarm updated from ${previous} to ${state}`,
    });
    if (previous === state || !alarm.actionsEnabled) return;
    const actions =
      state === 'ALARM'
        ? alarm.alarmActions
        : state === 'OK'
          ? alarm.okActions
          : alarm.insufficientDataActions;
    const publisher: ServicePublisher = {
      service: CLOUDWATCH_PRINCIPAL,
      sourceArn: alarm.arn,
      sourceAccount: this.options.account,
    };
    const message = JSON.stringify({
      AlarmName: name,
      AlarmDescription: alarm.description ?? null,
      AWSAccountId: this.options.account,
      NewStateValue: state,
      NewStateReason: reason,
      StateChangeTime: new Date(at).toISOString(),
      Region: this.options.region,
      AlarmArn: alarm.arn,
      OldStateValue: previous,
    });
    const subject = `${state}: "${name}" in ${this.options.region}`.slice(0, 100);
    for (const action of actions) {
      if (!action.startsWith('arn:aws:sns:')) continue;
      try {
        this.options.publish(publisher, action, message, subject);
        this.history.push({
          alarmName: name,
          at,
          type: 'Action',
          summary: `Successfully executed action ${action}`,
        });
      } catch (error) {
        this.history.push({
          alarmName: name,
          at,
          type: 'Action',
          summary: `Failed to execute action ${action}: ${error instanceof Error ? error.message : String(error)}`,
        });
      }
    }
  }
}
