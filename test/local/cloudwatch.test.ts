// The stack's alarms against its topic, both as synthesized: the local CloudWatch publishes as
// cloudwatch.amazonaws.com (aws:SourceArn = the alarm, aws:SourceAccount = its account) and the local SNS
// judges that with the topic's own access policy, which replaced SNS's default one (enforceSSL).
import { beforeAll, describe, expect, it } from 'vitest';
import { synthTemplate } from '../../infra/synth.js';
import { CLOUDWATCH_PRINCIPAL, CloudWatchAlarms } from '../../scripts/local/services/cloudwatch.js';
import { evaluateResourcePolicy } from '../../scripts/local/services/iam.js';
import { SnsEmulator } from '../../scripts/local/services/sns.js';
import {
  alarmsOf,
  type CfnTemplate,
  type LocalTopicPolicySpec,
  topicPoliciesOf,
} from '../../scripts/local/template.js';

const ACCOUNT = '123456789012';
const REGION = 'us-east-1';

describe('local CloudWatch alarms publishing to the stack topic', () => {
  let template: CfnTemplate;
  let policies: LocalTopicPolicySpec[];

  const topicOf = (t: CfnTemplate) => {
    const [id] = Object.entries(t.Resources).find(([, r]) => r.Type === 'AWS::SNS::Topic') ?? [];
    return `arn:aws:sns:${REGION}:${ACCOUNT}:${id}`;
  };
  const localSns = () => {
    const sns = new SnsEmulator({ account: ACCOUNT, region: REGION });
    sns.createTopic(topicOf(template));
    for (const policy of policies)
      for (const topic of policy.topics) sns.setTopicPolicy(topic, policy.document);
    return sns;
  };
  const localAlarms = (sns: SnsEmulator) =>
    new CloudWatchAlarms({
      alarms: alarmsOf(template),
      account: ACCOUNT,
      region: REGION,
      publish: (publisher, topic, message, subject) =>
        sns.publishAsService(publisher, topic, message, subject),
      now: () => Date.UTC(2026, 0, 1),
    });

  beforeAll(() => {
    template = synthTemplate() as unknown as CfnTemplate;
    policies = topicPoliciesOf(template);
  });

  it('every alarm of the synthesized stack that enters ALARM reaches the topic', () => {
    // Arrange
    const sns = localSns();
    const alarms = localAlarms(sns);
    const names = alarms.names();

    // Act
    for (const name of names) alarms.setAlarmState(name, 'ALARM', 'Threshold Crossed: test');

    // Assess
    expect(policies).toHaveLength(1);
    expect(names).toHaveLength(5);
    expect(alarms.history.filter((h) => h.type === 'Action').map((h) => h.summary)).toEqual(
      names.map(() => `Successfully executed action ${topicOf(template)}`),
    );
    expect(sns.messages.map((m) => JSON.parse(m.message).AlarmName)).toEqual(names);
    expect(sns.messages.map((m) => m.subject)).toEqual(names.map((n) => `ALARM: "${n}" in ${REGION}`));
    expect(JSON.parse(sns.messages[0]?.message ?? '{}')).toMatchObject({
      AWSAccountId: ACCOUNT,
      NewStateValue: 'ALARM',
      OldStateValue: 'INSUFFICIENT_DATA',
      AlarmArn: `arn:aws:cloudwatch:${REGION}:${ACCOUNT}:alarm:${names[0]}`,
    });
  });

  it('runs the actions only on a change of state', () => {
    // Arrange
    const sns = localSns();
    const alarms = localAlarms(sns);
    const [name = ''] = alarms.names();

    // Act
    alarms.setAlarmState(name, 'ALARM', 'first');
    alarms.setAlarmState(name, 'ALARM', 'still');
    alarms.setAlarmState(name, 'OK', 'recovered');

    // Assess: the stack's alarms have no OK actions
    expect(sns.messages).toHaveLength(1);
    expect(alarms.stateOf(name)).toBe('OK');
  });

  it('the topic refuses another service, an alarm of another account and an alarm the stack does not own', () => {
    // Arrange
    const sns = localSns();
    const topic = topicOf(template);
    const [ours = ''] = alarmsOf(template).map((a) => a.arn);
    const publish = (service: string, sourceArn: string, sourceAccount: string) => {
      try {
        sns.publishAsService({ service, sourceArn, sourceAccount }, topic, 'hello');
        return 'published';
      } catch (error) {
        return `${(error as { code?: string }).code}: ${(error as Error).message}`;
      }
    };

    // Act
    const results = {
      ours: publish(CLOUDWATCH_PRINCIPAL, ours, ACCOUNT),
      otherService: publish('events.amazonaws.com', ours, ACCOUNT),
      otherAccount: publish(
        CLOUDWATCH_PRINCIPAL,
        'arn:aws:cloudwatch:us-east-1:999999999999:alarm:AnsibleAutoProvisioner-ExecutionsFailed',
        '999999999999',
      ),
      otherAlarm: publish(
        CLOUDWATCH_PRINCIPAL,
        `arn:aws:cloudwatch:${REGION}:${ACCOUNT}:alarm:SomeoneElse`,
        ACCOUNT,
      ),
    };

    // Assess
    expect(results.ours).toBe('published');
    const refused = (caller: string) =>
      `AuthorizationError: User: ${caller} is not authorized to perform: sns:Publish on resource: ${topic} because no resource-based policy allows the sns:Publish action`;
    expect(results.otherService).toBe(refused('events.amazonaws.com'));
    expect(results.otherAccount).toBe(refused(CLOUDWATCH_PRINCIPAL));
    expect(results.otherAlarm).toBe(refused(CLOUDWATCH_PRINCIPAL));
    expect(sns.messages).toHaveLength(1);
  });

  it("the topic policy's TLS-only Deny wins over the alarms' Allow", () => {
    // Arrange
    const [policy] = policies;
    const [alarm] = alarmsOf(template);
    if (!policy || !alarm) throw new Error('no topic policy or alarm in the template');
    const request = (secure: string) => ({
      principal: { service: CLOUDWATCH_PRINCIPAL },
      action: 'sns:Publish',
      resource: topicOf(template),
      context: { 'aws:SourceArn': alarm.arn, 'aws:SourceAccount': ACCOUNT, 'aws:SecureTransport': secure },
    });

    // Act / Assess
    expect(evaluateResourcePolicy(policy.document, request('true'))).toBeUndefined();
    expect(evaluateResourcePolicy(policy.document, request('false'))).toMatch(
      /with an explicit deny in a resource-based policy$/,
    );
  });

  it("a topic without a policy of its own keeps SNS's default: same-account alarms publish, others do not", () => {
    // Arrange
    const sns = new SnsEmulator({ account: ACCOUNT, region: REGION });
    const topic = sns.createTopic('plain');

    // Act
    const ours = sns.publishAsService(
      {
        service: CLOUDWATCH_PRINCIPAL,
        sourceArn: `arn:aws:cloudwatch:${REGION}:${ACCOUNT}:alarm:x`,
        sourceAccount: ACCOUNT,
      },
      topic,
      'hello',
    );

    // Assess
    expect(ours).toMatch(/^[0-9a-f-]{36}$/);
    expect(() =>
      sns.publishAsService(
        {
          service: CLOUDWATCH_PRINCIPAL,
          sourceArn: 'arn:aws:cloudwatch:us-east-1:999999999999:alarm:x',
          sourceAccount: '999999999999',
        },
        topic,
        'hello',
      ),
    ).toThrow(/no resource-based policy allows/);
  });
});
