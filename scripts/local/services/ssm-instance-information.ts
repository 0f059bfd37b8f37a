// DescribeInstanceInformation of the local SSM (the rest, Run Command, is ssm.ts): the managed nodes the
// fleet registers, filtered and paged as the API reference documents, and the answer for a node whose
// agent has not registered (yet), which AWS gives either way (UnregisteredAnswer). API reference:
// https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_DescribeInstanceInformation.html
import type { ManagedNode } from '../fleet.js';
import { decodePageToken, encodePageToken, epochSeconds, ServiceError } from '../protocol.js';
import { str, strList } from './ssm-input.js';

export interface ManagedNodeSource {
  managedNode(instanceId: string): ManagedNode | undefined;
  managedNodes(): ManagedNode[];
}

/** How DescribeInstanceInformation answers for a node that is not registered with SSM. */
export type UnregisteredAnswer = 'omitted' | 'InvalidInstanceId';
/** The emulator's option: one answer for every unregistered node, or a function deciding per node. */
export type UnregisteredOption = UnregisteredAnswer | ((instanceId: string) => UnregisteredAnswer);

export function describeInstanceInformation(
  input: Record<string, unknown>,
  source: ManagedNodeSource,
  unregistered: UnregisteredOption | undefined,
): Record<string, unknown> {
  const maxResults = typeof input.MaxResults === 'number' ? input.MaxResults : 50;
  if (maxResults < 5 || maxResults > 50) {
    throw new ServiceError(
      'ValidationException',
      `1 validation error detected: Value '${maxResults}' at 'maxResults' failed to satisfy constraint: Member must have value between 5 and 50`,
    );
  }
  const filters: { key: string; values: string[] }[] = [];
  for (const f of Array.isArray(input.Filters) ? input.Filters : []) {
    const filter = f as { Key?: unknown; Values?: unknown };
    filters.push({ key: str(filter.Key) ?? '', values: strList(filter.Values) });
  }
  for (const f of Array.isArray(input.InstanceInformationFilterList)
    ? input.InstanceInformationFilterList
    : []) {
    const filter = f as { key?: unknown; valueSet?: unknown };
    filters.push({ key: str(filter.key) ?? '', values: strList(filter.valueSet) });
  }
  refuseUnregistered(filters, source, unregistered);
  const tests = filters.map((f) => nodeFilter(f.key, f.values));
  const nodes = source.managedNodes().filter((n) => tests.every((t) => t(n)));
  const scope = JSON.stringify({ filters, maxResults });
  const start = decodePageToken(str(input.NextToken), scope, 'InvalidNextToken');
  const page = nodes.slice(start, start + maxResults);
  const next = start + page.length < nodes.length ? encodePageToken(start + page.length, scope) : undefined;
  return {
    InstanceInformationList: page.map((n) => ({
      InstanceId: n.instanceId,
      PingStatus: n.pingStatus,
      LastPingDateTime: epochSeconds(n.lastPingAt),
      AgentVersion: '3.3.1142.0',
      IsLatestVersion: true,
      PlatformType: n.platformType,
      PlatformName: n.platformName,
      PlatformVersion: n.platformType === 'Linux' ? '2023' : '10.0.20348',
      ResourceType: n.resourceType,
      IPAddress: n.ipAddress,
      ComputerName: n.computerName,
      RegistrationDate: n.resourceType === 'ManagedInstance' ? epochSeconds(n.registeredAt) : undefined,
    })),
    ...(next ? { NextToken: next } : {}),
  };
}

/** InvalidInstanceId for a filtered id that is not registered, when so configured (see unregisteredInstances). */
function refuseUnregistered(
  filters: readonly { key: string; values: readonly string[] }[],
  source: ManagedNodeSource,
  unregistered: UnregisteredOption | undefined,
): void {
  const option = unregistered ?? 'omitted';
  for (const id of filters.filter((f) => f.key === 'InstanceIds').flatMap((f) => f.values)) {
    if (source.managedNode(id)) continue;
    const answer = typeof option === 'function' ? option(id) : option;
    if (answer === 'InvalidInstanceId') {
      throw new ServiceError(
        'InvalidInstanceId',
        `Instance ${id} is not registered with SSM: its SSM Agent is not running or not registered with the SSM endpoint.`,
      );
    }
  }
}

function nodeFilter(key: string, values: readonly string[]): (n: ManagedNode) => boolean {
  switch (key) {
    case 'InstanceIds':
      return (n) => values.includes(n.instanceId);
    case 'PingStatus':
      return (n) => values.includes(n.pingStatus);
    case 'PlatformTypes':
      return (n) => values.includes(n.platformType);
    case 'ResourceType':
      if (values.length !== 1) {
        throw new ServiceError(
          'InvalidInstanceInformationFilterValue',
          'ResourceType filter may contain only one value.',
        );
      }
      return (n) => values.includes(n.resourceType);
    default:
      throw new ServiceError('InvalidFilterKey', `The local SSM does not support the filter key ${key}.`);
  }
}
