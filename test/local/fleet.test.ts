import { describe, expect, it } from 'vitest';
import { type BusEvent, EventBus } from '../../scripts/local/event-bus.js';
import { Fleet, FleetFileError, parseFleetFile, playFleetFile } from '../../scripts/local/fleet.js';

// Key sets of test/fixtures/events/*.json: generated events must have exactly these.
const ENVELOPE_KEYS = [
  'account',
  'detail',
  'detail-type',
  'id',
  'region',
  'resources',
  'source',
  'time',
  'version',
];
const STATE_DETAIL_KEYS = ['instance-id', 'state'];
const TAG_DETAIL_KEYS = ['changed-tag-keys', 'resource-type', 'service', 'tags', 'version'];

function recordingFleet(options: { now?: () => number } = {}) {
  const events: BusEvent[] = [];
  const fleet = new Fleet({ emit: (e) => events.push(e), seed: 3, ...options });
  return { fleet, events };
}

describe('Fleet', () => {
  it('launch emits pending, the tag change and running, shaped like the EventBridge fixtures', () => {
    // Prepare
    const { fleet, events } = recordingFleet();
    // Act
    const instance = fleet.launch({ name: 'web-1', tags: { 'autoprov:enabled': 'true' } });
    // Assess
    expect(events.map((e) => [e['detail-type'], e.detail.state ?? null])).toEqual([
      ['EC2 Instance State-change Notification', 'pending'],
      ['Tag Change on Resource', null],
      ['EC2 Instance State-change Notification', 'running'],
    ]);
    for (const event of events) {
      expect(Object.keys(event).sort()).toEqual(ENVELOPE_KEYS);
      expect(event.resources).toEqual([`arn:aws:ec2:us-east-1:123456789012:instance/${instance.instanceId}`]);
      expect(event.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    }
    const [pending, tags] = events;
    expect(Object.keys(pending?.detail ?? {}).sort()).toEqual(STATE_DETAIL_KEYS);
    expect(pending?.source).toBe('aws.ec2');
    expect(Object.keys(tags?.detail ?? {}).sort()).toEqual(TAG_DETAIL_KEYS);
    expect(tags?.source).toBe('aws.tag');
    expect(tags?.detail).toEqual({
      'changed-tag-keys': ['autoprov:enabled', 'Name'],
      tags: { 'autoprov:enabled': 'true', Name: 'web-1' },
      service: 'ec2',
      'resource-type': 'instance',
      version: 1,
    });
    expect(instance.instanceId).toMatch(/^i-[0-9a-f]{17}$/);
    expect(instance.state).toBe('running');
  });

  it('tag and untag report only changed keys with the full tag set after the change', () => {
    const { fleet, events } = recordingFleet();
    const { instanceId } = fleet.launch({ name: 'db-1' });
    events.length = 0;
    fleet.tag('db-1', { 'autoprov:enabled': 'true', Name: 'db-1' });
    fleet.untag(instanceId, ['Name', 'absent']);
    fleet.tag(instanceId, { 'autoprov:enabled': 'true' }); // no change: no event
    expect(events.map((e) => e.detail)).toEqual([
      {
        'changed-tag-keys': ['autoprov:enabled'],
        tags: { Name: 'db-1', 'autoprov:enabled': 'true' },
        service: 'ec2',
        'resource-type': 'instance',
        version: 2,
      },
      {
        'changed-tag-keys': ['Name'],
        tags: { 'autoprov:enabled': 'true' },
        service: 'ec2',
        'resource-type': 'instance',
        version: 3,
      },
    ]);
  });

  it('stop, start and terminate emit the EC2 state sequence', () => {
    const { fleet, events } = recordingFleet();
    const { instanceId } = fleet.launch({});
    events.length = 0;
    fleet.stop(instanceId);
    fleet.start(instanceId);
    fleet.terminate(instanceId);
    expect(events.map((e) => e.detail.state)).toEqual([
      'stopping',
      'stopped',
      'pending',
      'running',
      'shutting-down',
      'terminated',
    ]);
    expect(() => fleet.tag(instanceId, { a: 'b' })).toThrow(/terminated/);
  });

  it('reports the SSM agent Online only after agentOnlineAfterMs, ConnectionLost once stopped', () => {
    let now = 1_000_000;
    const { fleet } = recordingFleet({ now: () => now });
    const late = fleet.launch({ agentOnlineAfterMs: 5_000 });
    const never = fleet.launch({ agentOnlineAfterMs: null });
    expect(fleet.managedNode(late.instanceId)).toBeUndefined();
    now += 5_000;
    expect(fleet.managedNode(late.instanceId)?.pingStatus).toBe('Online');
    expect(fleet.managedNode(never.instanceId)).toBeUndefined();
    fleet.stop(late.instanceId);
    expect(fleet.managedNode(late.instanceId)?.pingStatus).toBe('ConnectionLost');
    fleet.terminate(late.instanceId);
    expect(fleet.managedNodes().map((n) => n.instanceId)).toEqual([]);
  });

  it('keeps hybrid nodes (mi-…) out of EC2 events but registers them with SSM', () => {
    const { fleet, events } = recordingFleet();
    fleet.launch({ instanceId: 'mi-0123456789abcdef0', tags: { env: 'lab' } });
    expect(events).toEqual([]);
    expect(fleet.managedNode('mi-0123456789abcdef0')?.resourceType).toBe('ManagedInstance');
  });

  it('boots after bootMs when configured', async () => {
    const events: BusEvent[] = [];
    const fleet = new Fleet({ emit: (e) => events.push(e), bootMs: 20 });
    const instance = fleet.launch({});
    expect(instance.state).toBe('pending');
    await new Promise((r) => setTimeout(r, 40));
    expect(instance.state).toBe('running');
    expect(events.map((e) => e.detail.state)).toEqual(['pending', 'running']);
  });
});

describe('fleet file', () => {
  const yaml = `
defaults: { instanceType: t3.small, agentOnlineAfterMs: 0 }
instances:
  - name: web
    count: 3
    tags: { "autoprov:enabled": "true", "autoprov:groups": webservers }
  - instanceId: i-0aaaaaaaaaaaaaaaa
    name: late
    launch: false
scenario:
  - { at: 20ms, action: launch, target: late }
  - { at: 40ms, action: tag, target: [web-1, web-2], tags: { environment: production } }
  - { at: 60ms, action: terminate, target: web-3 }
`;

  it('parses YAML with counts, defaults and a scenario, and plays it in order', async () => {
    // Prepare
    const file = parseFleetFile(yaml);
    const { fleet, events } = recordingFleet();
    // Act
    const run = playFleetFile(fleet, file, { timeScale: 1 });
    const launchedFirst = fleet.list().map((i) => i.tags.Name);
    await run.done;
    // Assess
    expect(launchedFirst).toEqual(['web-1', 'web-2', 'web-3']);
    expect(fleet.resolve('web-1').instanceType).toBe('t3.small');
    expect(fleet.get('i-0aaaaaaaaaaaaaaaa')?.state).toBe('running');
    expect(fleet.resolve('web-2').tags.environment).toBe('production');
    expect(fleet.resolve('web-3').state).toBe('terminated');
    const last = events.at(-1);
    expect(last?.detail).toEqual({ 'instance-id': fleet.resolve('web-3').instanceId, state: 'terminated' });
  });

  it('reports problems with their path', () => {
    expect(() => parseFleetFile('instances:\n  - instanceId: nope\n')).toThrow(FleetFileError);
    expect(() => parseFleetFile('instances:\n  - instanceId: nope\n')).toThrow(/instances\.0\.instanceId/);
    expect(() =>
      parseFleetFile('instances: []\nscenario:\n  - { at: 1s, action: tag, target: x }\n'),
    ).toThrow(/tag needs tags/);
    expect(() => parseFleetFile('instances: []\nbogus: 1\n')).toThrow(/bogus/);
  });
});

describe('EventBus', () => {
  const event = (n: number, type = 'EC2 Instance State-change Notification'): BusEvent => ({
    version: '0',
    id: `id-${n}`,
    'detail-type': type,
    source: 'aws.ec2',
    account: '123456789012',
    time: '2024-01-01T00:00:00Z',
    region: 'us-east-1',
    resources: [],
    detail: { n, state: n % 2 === 0 ? 'running' : 'stopped' },
  });

  it('delivers each matching event to each matching rule once without faults', async () => {
    const bus = new EventBus();
    const running: number[] = [];
    const all: number[] = [];
    bus.addRule({
      name: 'running',
      eventPattern: { detail: { state: ['running'] } },
      target: (e) => running.push(e.detail.n as number),
    });
    bus.addRule({
      name: 'all',
      eventPattern: { source: ['aws.ec2'] },
      target: (e) => all.push(e.detail.n as number),
    });
    bus.put(...[0, 1, 2, 3].map((n) => event(n)));
    expect(all).toEqual([]); // asynchronous, like EventBridge
    await bus.drain();
    expect(running).toEqual([0, 2]);
    expect(all).toEqual([0, 1, 2, 3]);
    expect(bus.stats.deliveries).toEqual({ running: 2, all: 4 });
  });

  it('duplicates (same id), shuffles and drops reproducibly with a seed', async () => {
    const run = async (seed: number) => {
      const bus = new EventBus({ seed, faults: { duplicates: [1, 3], shuffle: true, dropRate: 0.1 } });
      const got: string[] = [];
      bus.addRule({ name: 'r', eventPattern: { source: ['aws.ec2'] }, target: (e) => got.push(e.id) });
      bus.put(...Array.from({ length: 200 }, (_, i) => event(i)));
      await bus.drain();
      return { got, stats: bus.stats };
    };
    const a = await run(11);
    const b = await run(11);
    const c = await run(12);
    expect(a.got).toEqual(b.got);
    expect(a.got).not.toEqual(c.got);
    const counts = new Map<string, number>();
    for (const id of a.got) counts.set(id, (counts.get(id) ?? 0) + 1);
    expect(Math.max(...counts.values())).toBeLessThanOrEqual(3);
    expect([...counts.values()].some((n) => n > 1)).toBe(true);
    expect(a.stats.dropped).toBeGreaterThan(0);
    expect(counts.size).toBe(200 - a.stats.dropped);
    expect(a.got.length).toBe(200 - a.stats.dropped + a.stats.duplicated);
    const firstSeen = [...counts.keys()].map((id) => Number(id.slice(3)));
    expect(firstSeen).not.toEqual([...firstSeen].sort((x, y) => x - y));
  });

  it('drain waits for async targets and for events they put on the bus', async () => {
    const bus = new EventBus();
    const seen: string[] = [];
    bus.addRule({
      name: 'first',
      eventPattern: { 'detail-type': ['first'] },
      target: async () => {
        await new Promise((r) => setTimeout(r, 20));
        bus.put(event(2, 'second'));
      },
    });
    bus.addRule({
      name: 'second',
      eventPattern: { 'detail-type': ['second'] },
      target: (e) => seen.push(e.id),
    });
    bus.put(event(1, 'first'));
    await bus.drain();
    expect(seen).toEqual(['id-2']);
  });

  it('records target failures without stopping delivery', async () => {
    const bus = new EventBus();
    bus.addRule({
      name: 'bad',
      eventPattern: { source: ['aws.ec2'] },
      target: () => {
        throw new Error('boom');
      },
    });
    bus.put(event(1), event(2));
    await bus.drain();
    expect(bus.stats.targetErrors).toEqual({ bad: 2 });
    expect(bus.failures.map((f) => String(f.error))).toEqual(['Error: boom', 'Error: boom']);
  });

  it('rejects a rule whose pattern it cannot evaluate', () => {
    const bus = new EventBus();
    expect(() =>
      bus.addRule({
        name: 'x',
        eventPattern: { detail: { ip: [{ cidr: '10.0.0.0/8' }] } },
        target: () => {},
      }),
    ).toThrow(/Unsupported matcher/);
  });
});
