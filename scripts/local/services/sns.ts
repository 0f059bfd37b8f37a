// SNS emulator (Query protocol, XML): Publish records each message so tests and the local-mode console
// can show exactly what the notifier sent; CreateTopic registers a topic. Publishing to an unknown topic
// fails with NotFound, as in AWS.
// AWS services publish through publishAsService (the local CloudWatch alarms do): their request is judged
// by the topic's access policy alone (a service principal has no identity policy), with the conditions
// the service sets (aws:SourceAccount, aws:SourceArn, aws:SecureTransport). A topic without a policy of its
// own has SNS's default one; an AWS::SNS::TopicPolicy replaces it entirely (setTopicPolicy).
import { randomUUID } from 'node:crypto';
import {
  type AwsRequest,
  type AwsResponse,
  parseQueryBody,
  type ServiceEmulator,
  ServiceError,
  xmlElement,
  xmlResponse,
} from '../protocol.js';
import { evaluateResourcePolicy, type PolicyDocument } from './iam.js';

export interface PublishedMessage {
  readonly messageId: string;
  readonly topicArn: string;
  readonly subject?: string;
  readonly message: string;
  readonly attributes: Readonly<Record<string, string>>;
  readonly at: number;
}

const NS = 'http://sns.amazonaws.com/doc/2010-03-31/';

/** An AWS service publishing on behalf of one of its resources (an alarm), as the topic policy sees it. */
export interface ServicePublisher {
  /** The service principal, e.g. `cloudwatch.amazonaws.com`. */
  readonly service: string;
  /** aws:SourceArn: the resource the service acts for (the alarm's ARN). */
  readonly sourceArn: string;
  /** aws:SourceAccount: the account that owns that resource. */
  readonly sourceAccount: string;
}

/**
 * The access policy SNS gives a topic created without one: the owner account's principals may publish
 * (condition AWS:SourceOwner = the account), which also lets a same-account service publish on the owner's
 * behalf. "Example cases for Amazon SNS access control" / the topic's default policy,
 * https://docs.aws.amazon.com/sns/latest/dg/sns-access-policy-use-cases.html
 */
function defaultTopicPolicy(topicArn: string): PolicyDocument {
  const account = topicArn.split(':')[4] ?? '';
  return {
    Statement: [
      {
        Sid: '__default_statement_ID',
        Effect: 'Allow',
        Principal: { AWS: '*' },
        Action: ['SNS:GetTopicAttributes', 'SNS:Subscribe', 'SNS:Publish', 'SNS:Receive'],
        Resource: topicArn,
        Condition: { StringEquals: { 'AWS:SourceOwner': account } },
      },
    ],
  };
}

export class SnsEmulator implements ServiceEmulator {
  readonly service = 'SNS' as const;
  readonly messages: PublishedMessage[] = [];
  private readonly topics = new Set<string>();
  /** Topic ARN → its access policy (an AWS::SNS::TopicPolicy), when it has one of its own. */
  private readonly policies = new Map<string, PolicyDocument>();
  private readonly listeners: ((message: PublishedMessage) => void)[] = [];

  constructor(private readonly options: { account?: string; region?: string } = {}) {}

  /** Registers a topic by name or ARN; returns its ARN. */
  createTopic(nameOrArn: string): string {
    const arn = nameOrArn.startsWith('arn:')
      ? nameOrArn
      : `arn:aws:sns:${this.options.region ?? 'us-east-1'}:${this.options.account ?? '123456789012'}:${nameOrArn}`;
    this.topics.add(arn);
    return arn;
  }

  /** The topic's access policy, replacing SNS's default one (what an AWS::SNS::TopicPolicy does). */
  setTopicPolicy(topicArn: string, document: PolicyDocument): void {
    this.policies.set(topicArn, document);
  }

  /**
   * A service publishing on behalf of one of its resources (a CloudWatch alarm): allowed only if the topic's
   * access policy allows that service principal, over TLS as AWS services always call. Throws SNS's
   * AuthorizationError (403) when it does not; returns the message id.
   */
  publishAsService(publisher: ServicePublisher, topicArn: string, message: string, subject?: string): string {
    if (!this.topics.has(topicArn)) throw new ServiceError('NotFound', 'Topic does not exist', 404);
    const denied = evaluateResourcePolicy(this.policies.get(topicArn) ?? defaultTopicPolicy(topicArn), {
      principal: { service: publisher.service },
      action: 'sns:Publish',
      resource: topicArn,
      context: {
        'aws:SourceArn': publisher.sourceArn,
        'aws:SourceAccount': publisher.sourceAccount,
        'AWS:SourceOwner': publisher.sourceAccount,
        'aws:SecureTransport': 'true',
      },
    });
    if (denied !== undefined) throw new ServiceError('AuthorizationError', denied, 403);
    return this.record(topicArn, message, subject, {}).messageId;
  }

  onPublish(listener: (message: PublishedMessage) => void): void {
    this.listeners.push(listener);
  }

  handle(operation: string, request: AwsRequest): AwsResponse {
    const params = parseQueryBody(request);
    const id = request.requestId;
    if (operation === 'CreateTopic') {
      const arn = this.createTopic(params.get('Name') ?? '');
      return xmlResponse(
        `<CreateTopicResponse xmlns="${NS}"><CreateTopicResult>${xmlElement('TopicArn', arn)}</CreateTopicResult>` +
          `<ResponseMetadata>${xmlElement('RequestId', id)}</ResponseMetadata></CreateTopicResponse>`,
      );
    }
    if (operation !== 'Publish')
      throw new ServiceError('InvalidAction', `The local SNS does not implement ${operation}`);
    const topicArn = params.get('TopicArn') ?? params.get('TargetArn') ?? '';
    if (!this.topics.has(topicArn)) throw new ServiceError('NotFound', 'Topic does not exist', 404);
    const message = params.get('Message');
    if (message === null || message === '')
      throw new ServiceError('InvalidParameter', 'Invalid parameter: Empty message');
    if (Buffer.byteLength(message) > 256 * 1024) {
      throw new ServiceError('InvalidParameter', 'Invalid parameter: Message too long');
    }
    const subject = params.get('Subject') ?? undefined;
    if (subject !== undefined && (subject.length > 100 || /[\r\n]/.test(subject))) {
      throw new ServiceError('InvalidParameter', 'Invalid parameter: Subject');
    }
    const attributes: Record<string, string> = {};
    for (let i = 1; params.has(`MessageAttributes.entry.${i}.Name`); i++) {
      const name = params.get(`MessageAttributes.entry.${i}.Name`) ?? '';
      attributes[name] = params.get(`MessageAttributes.entry.${i}.Value.StringValue`) ?? '';
    }
    const published = this.record(topicArn, message, subject, attributes);
    return xmlResponse(
      `<PublishResponse xmlns="${NS}"><PublishResult>${xmlElement('MessageId', published.messageId)}</PublishResult>` +
        `<ResponseMetadata>${xmlElement('RequestId', id)}</ResponseMetadata></PublishResponse>`,
    );
  }

  private record(
    topicArn: string,
    message: string,
    subject: string | undefined,
    attributes: Readonly<Record<string, string>>,
  ): PublishedMessage {
    const published: PublishedMessage = {
      messageId: randomUUID(),
      topicArn,
      subject,
      message,
      attributes,
      at: Date.now(),
    };
    this.messages.push(published);
    for (const listener of this.listeners) listener(published);
    return published;
  }
}
