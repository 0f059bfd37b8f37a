// Wire-protocol plumbing shared by the local service emulators: request/response shapes, service
// errors, and the encodings AWS uses (JSON 1.0/1.1, Query + XML, REST-XML, REST-JSON). Each emulator
// throws ServiceError with the service's own error code; aws-server.ts renders it in the service's
// protocol so the real SDK parses it into the same exception class it would get from AWS.
import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

export type ServiceName =
  | 'EC2'
  | 'SSM'
  | 'SFN'
  | 'SNS'
  | 'S3'
  | 'Lambda'
  | 'SecretsManager'
  | 'IAM'
  | 'CloudFormation'
  | 'SQS'
  | 'Logs';
export type Protocol = 'ec2' | 'query' | 'json' | 'restXml' | 'restJson';

export const PROTOCOL_OF: Readonly<Record<ServiceName, Protocol>> = {
  EC2: 'ec2',
  SNS: 'query',
  SSM: 'json',
  SFN: 'json',
  SecretsManager: 'json',
  IAM: 'query',
  CloudFormation: 'query',
  SQS: 'json',
  Logs: 'json',
  S3: 'restXml',
  Lambda: 'restJson',
};

export interface AwsRequest {
  readonly method: string;
  /** Decoded path without the query string. */
  readonly path: string;
  readonly rawPath: string;
  readonly query: URLSearchParams;
  readonly headers: IncomingHttpHeaders;
  readonly host: string;
  readonly body: Buffer;
  readonly requestId: string;
}

export interface AwsResponse {
  readonly status?: number;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string | Buffer;
}

export interface ServiceEmulator {
  readonly service: ServiceName;
  handle(operation: string, request: AwsRequest): Promise<AwsResponse> | AwsResponse;
}

/** An error AWS would return: `code` is what the SDK turns into the exception name. */
export class ServiceError extends Error {
  override name = 'ServiceError';
  constructor(
    readonly code: string,
    message: string,
    readonly status = 400,
    /** Extra members of the error shape (JSON protocols) or XML elements (S3). */
    readonly fields: Readonly<Record<string, string>> = {},
  ) {
    super(message);
  }
}

export const newRequestId = (): string => randomUUID();

/** The access key id a SigV4-signed request was signed with (`Credential=<id>/<scope>`), if any. */
export function accessKeyIdOf(request: AwsRequest): string | undefined {
  const authorization = request.headers.authorization;
  const match = typeof authorization === 'string' ? /Credential=([^/,\s]+)\//.exec(authorization) : null;
  return match?.[1];
}

// ----- JSON 1.0 / 1.1 -----------------------------------------------------------------------

export function parseJsonBody(request: AwsRequest): Record<string, unknown> {
  if (request.body.length === 0) return {};
  try {
    const parsed: unknown = JSON.parse(request.body.toString('utf8'));
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) {
      return parsed as Record<string, unknown>;
    }
  } catch {
    // fall through
  }
  throw new ServiceError('SerializationException', 'Request body is not a JSON object');
}

export function jsonResponse(body: unknown, jsonVersion: '1.0' | '1.1'): AwsResponse {
  return {
    status: 200,
    headers: { 'content-type': `application/x-amz-json-${jsonVersion}` },
    body: JSON.stringify(body, (_key, value: unknown) =>
      value instanceof Date ? value.getTime() / 1000 : value,
    ),
  };
}

/** JSON protocols send timestamps as epoch seconds (with fraction). */
export const epochSeconds = (ms: number): number => ms / 1000;

// ----- Query (EC2, SNS) -----------------------------------------------------------------------

export function parseQueryBody(request: AwsRequest): URLSearchParams {
  const params = new URLSearchParams(request.body.toString('utf8'));
  for (const [k, v] of request.query) if (!params.has(k)) params.set(k, v);
  return params;
}

/** `Prefix.1`, `Prefix.2`, … in order. */
export function queryList(params: URLSearchParams, prefix: string): string[] {
  const out: string[] = [];
  for (let i = 1; params.has(`${prefix}.${i}`); i++) out.push(params.get(`${prefix}.${i}`) ?? '');
  return out;
}

/** EC2-style `Filter.N.Name` + `Filter.N.Value.M`. */
export function queryFilters(
  params: URLSearchParams,
  prefix = 'Filter',
): { name: string; values: string[] }[] {
  const out: { name: string; values: string[] }[] = [];
  for (let i = 1; params.has(`${prefix}.${i}.Name`); i++) {
    out.push({
      name: params.get(`${prefix}.${i}.Name`) ?? '',
      values: queryList(params, `${prefix}.${i}.Value`),
    });
  }
  return out;
}

export function xmlEscape(value: string): string {
  return value
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

/** `<name>escaped</name>`, or nothing when the value is undefined. */
export function xmlElement(name: string, value: string | number | boolean | undefined): string {
  return value === undefined ? '' : `<${name}>${xmlEscape(String(value))}</${name}>`;
}

export function xmlResponse(body: string, status = 200): AwsResponse {
  return { status, headers: { 'content-type': 'text/xml;charset=UTF-8' }, body };
}

// ----- errors, per protocol -------------------------------------------------------------------

export function renderError(protocol: Protocol, error: ServiceError, request: AwsRequest): AwsResponse {
  const id = request.requestId;
  switch (protocol) {
    case 'json':
      return {
        status: error.status,
        headers: {
          'content-type': 'application/x-amz-json-1.1',
          'x-amzn-errortype': error.code,
          'x-amzn-requestid': id,
        },
        body: JSON.stringify({
          __type: error.code,
          message: error.message,
          Message: error.message,
          ...error.fields,
        }),
      };
    case 'restJson':
      return {
        status: error.status,
        headers: {
          'content-type': 'application/json',
          'x-amzn-errortype': error.code,
          'x-amzn-requestid': id,
        },
        body: JSON.stringify({
          Type: error.status >= 500 ? 'Service' : 'User',
          message: error.message,
          ...error.fields,
        }),
      };
    case 'ec2':
      return xmlResponse(
        `<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error>${xmlElement('Code', error.code)}${xmlElement(
          'Message',
          error.message,
        )}</Error></Errors>${xmlElement('RequestID', id)}</Response>`,
        error.status,
      );
    case 'query':
      return xmlResponse(
        `<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error>${xmlElement(
          'Type',
          error.status >= 500 ? 'Receiver' : 'Sender',
        )}${xmlElement('Code', error.code)}${xmlElement('Message', error.message)}</Error>${xmlElement(
          'RequestId',
          id,
        )}</ErrorResponse>`,
        error.status,
      );
    case 'restXml': {
      // HEAD responses carry no body: the SDK derives the error from the status code alone.
      if (request.method === 'HEAD') return { status: error.status, headers: { 'x-amz-request-id': id } };
      const extra = Object.entries(error.fields)
        .map(([k, v]) => xmlElement(k, v))
        .join('');
      return {
        status: error.status,
        headers: { 'content-type': 'application/xml', 'x-amz-request-id': id },
        body: `<?xml version="1.0" encoding="UTF-8"?>\n<Error>${xmlElement('Code', error.code)}${xmlElement(
          'Message',
          error.message,
        )}${extra}${xmlElement('RequestId', id)}</Error>`,
      };
    }
  }
}

/** The throttling error each service really returns (the SDK retries these with backoff). */
export function throttlingError(service: ServiceName): ServiceError {
  switch (service) {
    case 'EC2':
      return new ServiceError('RequestLimitExceeded', 'Request limit exceeded.', 503);
    case 'SNS':
    case 'IAM':
    case 'CloudFormation':
      return new ServiceError('Throttling', 'Rate exceeded', 400);
    case 'SQS':
      return new ServiceError('RequestThrottled', 'Request is throttled.', 400);
    case 'S3':
      return new ServiceError('SlowDown', 'Please reduce your request rate.', 503);
    case 'Lambda':
      return new ServiceError('TooManyRequestsException', 'Rate Exceeded.', 429, {
        Reason: 'CallerRateLimitExceeded',
      });
    default:
      return new ServiceError('ThrottlingException', 'Rate exceeded', 400);
  }
}

/** Glob with `*` and `?`, as EC2 filter values and SSM allow. */
export function wildcardMatch(pattern: string, value: string): boolean {
  const re = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${re}$`, 's').test(value);
}

/** Opaque pagination tokens: base64 of an offset bound to the query it came from. */
export function encodePageToken(offset: number, scope: string): string {
  return Buffer.from(JSON.stringify({ o: offset, s: scope })).toString('base64');
}

export function decodePageToken(token: string | undefined, scope: string, errorCode: string): number {
  if (token === undefined || token === '') return 0;
  try {
    const parsed = JSON.parse(Buffer.from(token, 'base64').toString('utf8')) as { o?: unknown; s?: unknown };
    if (typeof parsed.o === 'number' && parsed.s === scope) return parsed.o;
  } catch {
    // fall through
  }
  throw new ServiceError(errorCode, 'The specified pagination token is not valid for this request.');
}
