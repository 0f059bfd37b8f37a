// EC2 emulator (Query protocol, XML responses): DescribeInstances over the simulated fleet, with the
// filters, pagination rules and error codes of the real API, in the reservationSet/instancesSet XML the
// SDK's EC2 parser expects ("DescribeInstances", Amazon EC2 API Reference,
// https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeInstances.html).
import { type Fleet, INSTANCE_STATE_CODES, type SimInstance } from '../fleet.js';
import {
  type AwsRequest,
  type AwsResponse,
  decodePageToken,
  encodePageToken,
  parseQueryBody,
  queryFilters,
  queryList,
  type ServiceEmulator,
  ServiceError,
  wildcardMatch,
  xmlElement,
  xmlResponse,
} from '../protocol.js';

const INSTANCE_ID = /^i-([0-9a-f]{8}|[0-9a-f]{17})$/;

type FilterFn = (instance: SimInstance, values: readonly string[]) => boolean;

const any = (values: readonly string[], actual: string | undefined): boolean =>
  actual !== undefined && values.some((v) => wildcardMatch(v, actual));

const FILTERS: Readonly<Record<string, FilterFn>> = {
  'tag-key': (i, values) => Object.keys(i.tags).some((k) => any(values, k)),
  'tag-value': (i, values) => Object.values(i.tags).some((v) => any(values, v)),
  'instance-state-name': (i, values) => any(values, i.state),
  'instance-state-code': (i, values) => any(values, String(INSTANCE_STATE_CODES[i.state])),
  'instance-id': (i, values) => any(values, i.instanceId),
  'instance-type': (i, values) => any(values, i.instanceType),
  'availability-zone': (i, values) => any(values, i.az),
  'vpc-id': (i, values) => any(values, i.vpcId),
  'image-id': (i, values) => any(values, i.imageId),
  'private-ip-address': (i, values) => any(values, i.privateIp),
  platform: (i, values) => i.platform === 'windows' && any(values, 'windows'),
};

export class Ec2Emulator implements ServiceEmulator {
  readonly service = 'EC2' as const;

  constructor(private readonly fleet: Fleet) {}

  handle(operation: string, request: AwsRequest): AwsResponse {
    const params = parseQueryBody(request);
    if (operation !== 'DescribeInstances') {
      throw new ServiceError(
        'InvalidAction',
        `The action ${operation} is not valid for this web service (local EC2).`,
      );
    }
    return this.describeInstances(params, request.requestId);
  }

  private describeInstances(params: URLSearchParams, requestId: string): AwsResponse {
    const ids = queryList(params, 'InstanceId');
    const filters = queryFilters(params);
    const maxResultsRaw = params.get('MaxResults');
    const maxResults = maxResultsRaw === null ? undefined : Number(maxResultsRaw);
    if (maxResults !== undefined && ids.length > 0) {
      throw new ServiceError(
        'InvalidParameterCombination',
        'The parameter instancesSet cannot be used with the parameter maxResults',
      );
    }
    if (maxResults !== undefined && (!Number.isInteger(maxResults) || maxResults < 5 || maxResults > 1000)) {
      throw new ServiceError(
        'InvalidParameterValue',
        `Value ( ${maxResultsRaw} ) for parameter maxResults is invalid. Expecting a value between 5 and 1000.`,
      );
    }
    const malformed = ids.filter((id) => !INSTANCE_ID.test(id));
    if (malformed.length > 0) {
      throw new ServiceError('InvalidInstanceID.Malformed', `Invalid id: "${malformed[0]}"`);
    }
    const ec2Instances = this.fleet.list().filter((i) => i.kind === 'ec2');
    if (ids.length > 0) {
      const missing = ids.filter((id) => !ec2Instances.some((i) => i.instanceId === id));
      if (missing.length === 1) {
        throw new ServiceError(
          'InvalidInstanceID.NotFound',
          `The instance ID '${missing[0]}' does not exist`,
        );
      }
      if (missing.length > 1) {
        throw new ServiceError(
          'InvalidInstanceID.NotFound',
          `The instance IDs '${missing.join(', ')}' do not exist`,
        );
      }
    }
    for (const f of filters) {
      if (!f.name.startsWith('tag:') && !FILTERS[f.name]) {
        throw new ServiceError('InvalidParameterValue', `The filter '${f.name}' is invalid`);
      }
    }
    const matching = ec2Instances.filter(
      (i) =>
        (ids.length === 0 || ids.includes(i.instanceId)) &&
        filters.every((f) =>
          f.name.startsWith('tag:') ? any(f.values, i.tags[f.name.slice(4)]) : FILTERS[f.name]?.(i, f.values),
        ),
    );
    // The token is only valid for the same query, as in EC2.
    const scope = JSON.stringify({ ids, filters, maxResults });
    const start = decodePageToken(params.get('NextToken') ?? undefined, scope, 'InvalidParameterValue');
    const page = maxResults === undefined ? matching.slice(start) : matching.slice(start, start + maxResults);
    const end = start + page.length;
    const nextToken = end < matching.length ? encodePageToken(end, scope) : undefined;
    const reservations = page.map((i) => this.reservationXml(i)).join('');
    return xmlResponse(
      `<?xml version="1.0" encoding="UTF-8"?>\n<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">` +
        `${xmlElement('requestId', requestId)}<reservationSet>${reservations}</reservationSet>` +
        `${xmlElement('nextToken', nextToken)}</DescribeInstancesResponse>`,
    );
  }

  private reservationXml(i: SimInstance): string {
    const tags = Object.entries(i.tags)
      .map(([key, value]) => `<item>${xmlElement('key', key)}${xmlElement('value', value)}</item>`)
      .join('');
    const privateDns = `ip-${i.privateIp.replaceAll('.', '-')}.ec2.internal`;
    const instance =
      '<item>' +
      xmlElement('instanceId', i.instanceId) +
      xmlElement('imageId', i.imageId) +
      `<instanceState>${xmlElement('code', INSTANCE_STATE_CODES[i.state])}${xmlElement('name', i.state)}</instanceState>` +
      xmlElement('privateDnsName', privateDns) +
      '<dnsName/>' +
      xmlElement('amiLaunchIndex', 0) +
      xmlElement('instanceType', i.instanceType) +
      xmlElement('launchTime', new Date(i.launchedAt).toISOString()) +
      `<placement>${xmlElement('availabilityZone', i.az)}<groupName/>${xmlElement('tenancy', 'default')}</placement>` +
      xmlElement('platform', i.platform === 'windows' ? 'windows' : undefined) +
      xmlElement('platformDetails', i.platform === 'windows' ? 'Windows' : 'Linux/UNIX') +
      `<monitoring>${xmlElement('state', 'disabled')}</monitoring>` +
      xmlElement('subnetId', i.subnetId) +
      xmlElement('vpcId', i.vpcId) +
      xmlElement('privateIpAddress', i.privateIp) +
      xmlElement('architecture', 'x86_64') +
      (i.instanceProfile
        ? `<iamInstanceProfile>${xmlElement('arn', `arn:aws:iam::${this.fleet.account}:instance-profile/${i.instanceProfile}`)}` +
          `${xmlElement('id', `AIPA${i.instanceId.slice(2, 19).toUpperCase()}`)}</iamInstanceProfile>`
        : '') +
      xmlElement('rootDeviceType', 'ebs') +
      xmlElement('rootDeviceName', '/dev/xvda') +
      xmlElement('virtualizationType', 'hvm') +
      xmlElement('hypervisor', 'xen') +
      (tags ? `<tagSet>${tags}</tagSet>` : '') +
      '</item>';
    return (
      '<item>' +
      xmlElement('reservationId', `r-${i.instanceId.slice(2).padEnd(17, '0')}`) +
      xmlElement('ownerId', this.fleet.account) +
      '<groupSet/>' +
      `<instancesSet>${instance}</instancesSet>` +
      '</item>'
    );
  }
}
