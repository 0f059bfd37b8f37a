// CloudWatch Logs emulator (JSON 1.1, target prefix Logs_20140328): GetLogEvents over the command output
// the local SSM agent writes (ssm-agent.ts: `<logDir>/<log group>/<commandId>/<instanceId>/<step>/stdout|stderr`),
// which stands in for SSM Run Command's CloudWatch output (stream `<commandId>/<instanceId>/<step>/stdout`).
// As "GetLogEvents" (https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_GetLogEvents.html)
// describes: one event per line, `limit` (default and maximum 10,000) events per page, nextForwardToken
// always returned and "If you have reached the end of the stream, it returns the same token you passed in";
// ResourceNotFoundException for a missing log group or stream (e.g. expired by the retention setting).
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import {
  type AwsRequest,
  type AwsResponse,
  jsonResponse,
  parseJsonBody,
  type ServiceEmulator,
  ServiceError,
} from '../protocol.js';

/** The folder the local agent uses for a log group name (ssm-agent.ts recordStep). */
export function localLogGroupDir(logDir: string, group: string): string {
  return join(logDir, group.replace(/^\/+/, '').replace(/[^\w.-]+/g, '_'));
}

const MAX_EVENTS = 10_000;

export class LogsEmulator implements ServiceEmulator {
  readonly service = 'Logs' as const;
  constructor(private readonly logDir: string) {}

  handle(operation: string, request: AwsRequest): AwsResponse {
    if (operation !== 'GetLogEvents') {
      throw new ServiceError('InvalidAction', `The local CloudWatch Logs does not implement ${operation}`);
    }
    const body = parseJsonBody(request);
    const group = typeof body.logGroupName === 'string' ? body.logGroupName : '';
    const stream = typeof body.logStreamName === 'string' ? body.logStreamName : '';
    const groupDir = localLogGroupDir(this.logDir, group);
    if (!group || !existsSync(groupDir)) {
      throw new ServiceError('ResourceNotFoundException', 'The specified log group does not exist.');
    }
    const parts = stream.split('/');
    const file = parts.length === 4 && !parts.includes('..') ? join(groupDir, ...parts) : '';
    if (!file || !existsSync(file)) {
      throw new ServiceError('ResourceNotFoundException', 'The specified log stream does not exist.');
    }
    const timestamp = Math.floor(statSync(file).mtimeMs);
    const lines = readFileSync(file, 'utf8').split('\n');
    if (lines.at(-1) === '') lines.pop();
    const limit = Math.min(
      typeof body.limit === 'number' && body.limit > 0 ? body.limit : MAX_EVENTS,
      MAX_EVENTS,
    );
    const token = typeof body.nextToken === 'string' ? body.nextToken : undefined;
    const start = token === undefined ? 0 : Number(/^f\/(\d+)$/.exec(token)?.[1] ?? Number.NaN);
    if (!Number.isInteger(start))
      throw new ServiceError('InvalidParameterException', 'The specified nextToken is not valid.');
    const page = lines.slice(start, start + limit);
    const next = `f/${start + page.length}`;
    return jsonResponse(
      {
        events: page.map((message) => ({ timestamp, message, ingestionTime: timestamp })),
        nextForwardToken: next,
        nextBackwardToken: `b/${start}`,
      },
      '1.1',
    );
  }
}
