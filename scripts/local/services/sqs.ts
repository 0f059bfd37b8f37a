// SQS emulator (JSON 1.0, the protocol SDK v3 uses): GetQueueAttributes for the stack's dead-letter
// queues. Local mode keeps failed deliveries as dead letters (stack/async-invoker.ts, the handle's
// deadLetters()); a queue's depth is what its `depth` callback counts, so `autoprov doctor` reports them
// as it would in AWS. Attribute names and values as in the API reference
// (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_GetQueueAttributes.html); an
// unknown queue is QueueDoesNotExist there.
import {
  type AwsRequest,
  type AwsResponse,
  jsonResponse,
  parseJsonBody,
  type ServiceEmulator,
  ServiceError,
} from '../protocol.js';

export class SqsEmulator implements ServiceEmulator {
  readonly service = 'SQS' as const;
  private readonly queues = new Map<string, () => number>();

  /** Registers a queue by URL; `depth` gives ApproximateNumberOfMessages when asked. */
  addQueue(url: string, depth: () => number): void {
    this.queues.set(url, depth);
  }

  handle(operation: string, request: AwsRequest): AwsResponse {
    if (operation !== 'GetQueueAttributes') {
      throw new ServiceError('InvalidAction', `The local SQS does not implement ${operation}`);
    }
    const body = parseJsonBody(request);
    const url = typeof body.QueueUrl === 'string' ? body.QueueUrl : '';
    const depth = this.queues.get(url);
    if (!depth) {
      throw new ServiceError('QueueDoesNotExist', 'The specified queue does not exist.', 400, {});
    }
    const names = Array.isArray(body.AttributeNames) ? body.AttributeNames.map(String) : ['All'];
    const all: Record<string, string> = {
      ApproximateNumberOfMessages: String(depth()),
      ApproximateNumberOfMessagesNotVisible: '0',
      ApproximateNumberOfMessagesDelayed: '0',
      QueueArn: `arn:aws:sqs:${url.split('.')[1] ?? 'us-east-1'}:${url.split('/').at(-2) ?? ''}:${url.split('/').at(-1) ?? ''}`,
    };
    const wanted = names.includes('All') ? Object.keys(all) : names.filter((n) => n in all);
    return jsonResponse({ Attributes: Object.fromEntries(wanted.map((n) => [n, all[n] ?? ''])) }, '1.0');
  }
}
