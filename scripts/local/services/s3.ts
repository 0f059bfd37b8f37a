// S3 emulator (REST-XML) over an in-memory object store: the playbook bundle the SSM agent downloads,
// command output the agent uploads, and whatever the handlers read or write. With an IP endpoint
// (AWS_ENDPOINT_URL_S3=http://127.0.0.1:port) the SDK uses path-style URLs (/bucket/key), which is the
// main case; virtual-host style (bucket.localhost) is understood too. aws-chunked uploads (the SDK's
// streaming checksum encoding) are decoded.
import { createHash } from 'node:crypto';
import {
  type AwsRequest,
  type AwsResponse,
  decodePageToken,
  encodePageToken,
  type ServiceEmulator,
  ServiceError,
  xmlElement,
} from '../protocol.js';

/** The canned ACL the SSM agent puts on every output object it uploads (agent/s3util/s3util.go, S3Upload). */
export const OUTPUT_UPLOAD_ACL = 'bucket-owner-full-control';

/**
 * The IAM actions a PutObject request needs: s3:PutObject always, and s3:PutObjectAcl when the request sets
 * an ACL (x-amz-acl / x-amz-grant-*) — "PutObject", Amazon S3 API Reference, Permissions: "s3:PutObjectAcl -
 * To successfully change the objects ACL of your PutObject request, you must have the s3:PutObjectAcl"
 * (https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutObject.html).
 */
export function putObjectActions(acl: string | undefined): string[] {
  return acl === undefined || acl === '' ? ['s3:PutObject'] : ['s3:PutObject', 's3:PutObjectAcl'];
}

export interface StoredObject {
  readonly body: Buffer;
  /** The canned ACL the upload carried (x-amz-acl), if any. */
  readonly acl?: string;
  readonly contentType: string;
  readonly etag: string;
  readonly lastModified: number;
  readonly metadata: Readonly<Record<string, string>>;
}

export class S3Store {
  private readonly buckets = new Map<string, Map<string, StoredObject>>();

  createBucket(bucket: string): void {
    if (!this.buckets.has(bucket)) this.buckets.set(bucket, new Map());
  }

  hasBucket(bucket: string): boolean {
    return this.buckets.has(bucket);
  }

  put(
    bucket: string,
    key: string,
    body: Uint8Array | string,
    options: { contentType?: string; metadata?: Record<string, string>; acl?: string } = {},
  ): StoredObject {
    const objects = this.buckets.get(bucket);
    if (!objects)
      throw new ServiceError('NoSuchBucket', 'The specified bucket does not exist', 404, {
        BucketName: bucket,
      });
    const buffer = Buffer.from(body);
    const object: StoredObject = {
      body: buffer,
      contentType: options.contentType ?? 'binary/octet-stream',
      etag: `"${createHash('md5').update(buffer).digest('hex')}"`,
      lastModified: Date.now(),
      metadata: options.metadata ?? {},
      ...(options.acl ? { acl: options.acl } : {}),
    };
    objects.set(key, object);
    return object;
  }

  get(bucket: string, key: string): StoredObject | undefined {
    return this.buckets.get(bucket)?.get(key);
  }

  delete(bucket: string, key: string): void {
    this.buckets.get(bucket)?.delete(key);
  }

  keys(bucket: string, prefix = ''): string[] {
    return [...(this.buckets.get(bucket)?.keys() ?? [])].filter((k) => k.startsWith(prefix)).sort();
  }
}

/** Bucket and key of a request, path-style or virtual-host style. */
export function s3Location(request: Pick<AwsRequest, 'host' | 'path'>): { bucket?: string; key?: string } {
  const host = request.host.replace(/:\d+$/, '');
  const virtual = /^(.+)\.localhost$/.exec(host) ?? /^(.+)\.s3[.-]/.exec(host);
  if (virtual?.[1]) {
    const key = request.path.slice(1);
    return { bucket: virtual[1], key: key === '' ? undefined : key };
  }
  const [, bucket, ...rest] = request.path.split('/');
  const key = rest.join('/');
  return { bucket: bucket || undefined, key: key === '' ? undefined : key };
}

/** Parses an S3 URL as the SSM agent's aws:downloadContent accepts it (https path- or virtual-host style, s3://). */
export function parseS3Url(url: string): { bucket: string; key: string } | undefined {
  const s3 = /^s3:\/\/([^/]+)\/(.+)$/.exec(url);
  if (s3?.[1] && s3[2]) return { bucket: s3[1], key: s3[2] };
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return undefined;
  }
  const path = decodeURIComponent(parsed.pathname);
  const virtual = /^(.+)\.s3[.-]/.exec(parsed.hostname);
  if (virtual?.[1]) return path.length > 1 ? { bucket: virtual[1], key: path.slice(1) } : undefined;
  const [, bucket, ...rest] = path.split('/');
  return bucket && rest.length > 0 ? { bucket, key: rest.join('/') } : undefined;
}

/** Decodes `Content-Encoding: aws-chunked` (with or without chunk signatures and trailers). */
export function decodeAwsChunked(body: Buffer): Buffer {
  const out: Buffer[] = [];
  let offset = 0;
  while (offset < body.length) {
    const lineEnd = body.indexOf('\r\n', offset);
    if (lineEnd < 0) break;
    const size = Number.parseInt(body.subarray(offset, lineEnd).toString('latin1').split(';')[0] ?? '', 16);
    if (!Number.isFinite(size) || size === 0) break;
    out.push(body.subarray(lineEnd + 2, lineEnd + 2 + size));
    offset = lineEnd + 2 + size + 2;
  }
  return Buffer.concat(out);
}

export class S3Emulator implements ServiceEmulator {
  readonly service = 'S3' as const;

  constructor(readonly store: S3Store) {}

  handle(operation: string, request: AwsRequest): AwsResponse {
    const { bucket, key } = s3Location(request);
    if (!bucket)
      throw new ServiceError('MethodNotAllowed', 'ListBuckets is not supported by the local S3', 405);
    if (operation === 'CreateBucket') {
      this.store.createBucket(bucket);
      return { status: 200, headers: { location: `/${bucket}` } };
    }
    if (!this.store.hasBucket(bucket)) {
      throw new ServiceError('NoSuchBucket', 'The specified bucket does not exist', 404, {
        BucketName: bucket,
      });
    }
    switch (operation) {
      case 'HeadBucket':
        return { status: 200 };
      case 'ListObjectsV2':
        return this.list(bucket, request);
      case 'PutObject':
        return this.putObject(bucket, key ?? '', request);
      case 'DeleteObject':
        this.store.delete(bucket, key ?? '');
        return { status: 204 };
      case 'GetObject':
      case 'HeadObject': {
        const object = this.store.get(bucket, key ?? '');
        if (!object) {
          throw new ServiceError('NoSuchKey', 'The specified key does not exist.', 404, { Key: key ?? '' });
        }
        const headers: Record<string, string> = {
          'content-type': object.contentType,
          etag: object.etag,
          'last-modified': new Date(object.lastModified).toUTCString(),
          'accept-ranges': 'bytes',
        };
        for (const [k, v] of Object.entries(object.metadata)) headers[`x-amz-meta-${k}`] = v;
        if (operation === 'HeadObject') {
          return { status: 200, headers: { ...headers, 'content-length': String(object.body.length) } };
        }
        const range = byteRange(request.headers.range, object.body.length);
        if (range) {
          return {
            status: 206,
            headers: {
              ...headers,
              'content-range': `bytes ${range.start}-${range.end}/${object.body.length}`,
            },
            body: object.body.subarray(range.start, range.end + 1),
          };
        }
        return { status: 200, headers, body: object.body };
      }
      default:
        throw new ServiceError('NotImplemented', `The local S3 does not implement ${operation}`, 501);
    }
  }

  private putObject(bucket: string, key: string, request: AwsRequest): AwsResponse {
    const encoding = String(request.headers['content-encoding'] ?? '');
    const body = encoding.includes('aws-chunked') ? decodeAwsChunked(request.body) : request.body;
    const metadata: Record<string, string> = {};
    for (const [name, value] of Object.entries(request.headers)) {
      if (name.startsWith('x-amz-meta-') && typeof value === 'string') metadata[name.slice(11)] = value;
    }
    const contentType = request.headers['content-type'];
    const acl = request.headers['x-amz-acl'];
    const object = this.store.put(bucket, key, body, {
      contentType: typeof contentType === 'string' ? contentType : undefined,
      metadata,
      ...(typeof acl === 'string' ? { acl } : {}),
    });
    return { status: 200, headers: { etag: object.etag } };
  }

  private list(bucket: string, request: AwsRequest): AwsResponse {
    const prefix = request.query.get('prefix') ?? '';
    const maxKeys = Number(request.query.get('max-keys') ?? 1000);
    const scope = `${bucket}|${prefix}|${maxKeys}`;
    const start = decodePageToken(
      request.query.get('continuation-token') ?? undefined,
      scope,
      'InvalidArgument',
    );
    const keys = this.store.keys(bucket, prefix);
    const page = keys.slice(start, start + maxKeys);
    const truncated = start + page.length < keys.length;
    const contents = page
      .map((k) => {
        const o = this.store.get(bucket, k);
        return `<Contents>${xmlElement('Key', k)}${xmlElement('LastModified', new Date(o?.lastModified ?? 0).toISOString())}${xmlElement('ETag', o?.etag)}${xmlElement('Size', o?.body.length ?? 0)}${xmlElement('StorageClass', 'STANDARD')}</Contents>`;
      })
      .join('');
    return {
      status: 200,
      headers: { 'content-type': 'application/xml' },
      body:
        `<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">` +
        `${xmlElement('Name', bucket)}${xmlElement('Prefix', prefix)}${xmlElement('KeyCount', page.length)}` +
        `${xmlElement('MaxKeys', maxKeys)}${xmlElement('IsTruncated', truncated)}${contents}` +
        `${truncated ? xmlElement('NextContinuationToken', encodePageToken(start + page.length, scope)) : ''}` +
        '</ListBucketResult>',
    };
  }
}

/**
 * GetObject's `Range` header, one range only as S3 supports ("GetObject — Range: Downloads the specified
 * byte range of an object … Amazon S3 doesn't support retrieving multiple ranges of data per GET request",
 * https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html; RFC 9110 §14.1.2 for the forms
 * `bytes=a-b`, `bytes=a-`, `bytes=-n`). Undefined: the whole object (no or unusable header).
 */
export function byteRange(header: unknown, size: number): { start: number; end: number } | undefined {
  const match = typeof header === 'string' ? /^bytes=(\d*)-(\d*)$/.exec(header.trim()) : null;
  if (!match || size === 0 || (match[1] === '' && match[2] === '')) return undefined;
  if (match[1] === '') {
    const suffix = Number(match[2]);
    return suffix === 0 ? undefined : { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(match[1]);
  if (start >= size) return undefined;
  const end = match[2] === '' ? size - 1 : Math.min(Number(match[2]), size - 1);
  return end < start ? undefined : { start, end };
}
