// SNS emulator (Query protocol, XML): Publish records each message so tests and the local-mode console
// can show exactly what the notifier sent; CreateTopic registers a topic. Publishing to an unknown topic
// fails with NotFound, as in AWS.
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

export interface PublishedMessage {
  readonly messageId: string;
  readonly topicArn: string;
  readonly subject?: string;
  readonly message: string;
  readonly attributes: Readonly<Record<string, string>>;
  readonly at: number;
}

const NS = 'http://sns.amazonaws.com/doc/2010-03-31/';

export class SnsEmulator implements ServiceEmulator {
  readonly service = 'SNS' as const;
  readonly messages: PublishedMessage[] = [];
  private readonly topics = new Set<string>();
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
    return xmlResponse(
      `<PublishResponse xmlns="${NS}"><PublishResult>${xmlElement('MessageId', published.messageId)}</PublishResult>` +
        `<ResponseMetadata>${xmlElement('RequestId', id)}</ResponseMetadata></PublishResponse>`,
    );
  }
}
