// The fleet file, parsed once for `autoprov plan --fleet` and `npm start`: every mistake the file shows is
// reported before anything starts, with the entry's path, and both read the same ids from the same file.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { instancesFromFleetFile } from '../../cli/commands/plan.js';
import { FleetFileError, parseFleetDocument } from '../../cli/fleet-file.js';
import { Fleet, playFleetFile } from '../../scripts/local/fleet.js';
import { repoRoot } from '../helpers/paths.js';

const problemsOf = (text: string): string => {
  try {
    parseFleetDocument(text, 'my-fleet.yaml');
  } catch (error) {
    expect(error).toBeInstanceOf(FleetFileError);
    return (error as Error).message;
  }
  throw new Error('the file was accepted');
};

describe('fleet file checks (before anything starts)', () => {
  it('rejects count with instanceId, naming the entry', () => {
    const message = problemsOf(
      [
        'instances:',
        '  - { name: ok, instanceId: i-0a0000000000000a1 }',
        '  - { name: web, count: 2, instanceId: i-0a0000000000000a2 }',
      ].join('\n'),
    );
    expect(message).toContain('my-fleet.yaml is invalid');
    expect(message).toContain('instances.1: count cannot be combined with instanceId');
  });

  it('rejects duplicate ids and names, naming both entries', () => {
    const message = problemsOf(
      [
        'instances:',
        '  - { name: a, instanceId: i-0a0000000000000a1 }',
        '  - { name: b, instanceId: i-0a0000000000000a1 }',
        '  - { name: web, count: 2 }',
        '  - { name: web-2 }',
      ].join('\n'),
    );
    expect(message).toContain('instances.1: "i-0a0000000000000a1" is already used by instances.0');
    expect(message).toContain('instances.3: "web-2" is already used by instances.2[2]');
  });

  it('rejects an instance profile local mode does not define, with the ones it does', () => {
    const message = problemsOf(
      [
        'defaults: { instanceProfile: Nope }',
        'instances:',
        '  - { name: a, instanceProfile: AlsoNope }',
      ].join('\n'),
    );
    expect(message).toContain('defaults.instanceProfile: "Nope" does not exist in local mode');
    expect(message).toContain('instances.0.instanceProfile: "AlsoNope" does not exist in local mode');
    expect(message).toContain('"AutoProvisionerInstance", "SsmCoreOnly"');
  });

  it('rejects scenario, trigger, expect and history references to instances the file does not have', () => {
    const message = problemsOf(
      [
        'instances:',
        '  - { name: web-1 }',
        '  - { name: late, launch: false }',
        'scenario:',
        '  - { at: 1s, action: stop, target: [web-1, web-9] }',
        '  - { at: 2s, action: launch, target: web-1 }',
        '  - { at: 3s, action: launch, target: late }',
        'triggers:',
        '  - { when: { instance: ghost, status: SUCCESS }, action: terminate, target: web-1 }',
        'expect:',
        '  webb-1: { status: SUCCESS }',
        'history: nobody',
      ].join('\n'),
    );
    expect(message).toContain(
      'scenario.0.target: "web-9" is neither the name nor the id of an instance of the file',
    );
    expect(message).toContain(
      'scenario.1.target: launch "web-1": no instance declared with that name and launch: false',
    );
    expect(message).not.toContain('scenario.2');
    expect(message).toContain('triggers.0.when.instance: "ghost" is not an instance of the file');
    expect(message).toContain('expect.webb-1: "webb-1" is not an instance of the file');
    expect(message).toContain('history: "nobody" is not an instance of the file');
  });

  it('accepts the shipped demo file (a fleet file with demo keys)', () => {
    const text = readFileSync(join(repoRoot, 'scripts', 'local', 'fleets', 'demo.yaml'), 'utf8');
    const { fleet, demo } = parseFleetDocument(text, 'demo.yaml');
    expect(fleet.instances.length).toBeGreaterThan(0);
    expect(demo.expect).toBeDefined();
  });
});

describe('plan --fleet and npm start read the same instances from a file', () => {
  it('plan reads the demo file and gives each instance the id, address and attributes the local fleet gives it', () => {
    const text = [
      'defaults: { instanceType: t3.small }',
      'instances:',
      '  - { name: web, count: 3, tags: { "autoprov:enabled": "true" } }',
      '  - { name: node, instanceId: mi-0a0000000000000c1 }',
      '  - { name: solo, platform: windows }',
      '  - { name: late, launch: false }',
      'expect:',
      '  web-1: { status: SUCCESS }',
    ].join('\n');
    const fleet = new Fleet({ emit: () => undefined, seed: 45 });
    try {
      playFleetFile(fleet, parseFleetDocument(text).fleet).cancel();
      const local = fleet
        .list()
        .filter((instance) => instance.kind === 'ec2')
        .map((instance) => ({
          id: instance.instanceId,
          ip: instance.privateIp,
          type: instance.instanceType,
          name: instance.tags.Name,
        }));

      const planned = instancesFromFleetFile(text, 'fleet.yaml').map((shape) => ({
        id: shape.InstanceId,
        ip: shape.PrivateIpAddress,
        type: shape.InstanceType,
        name: shape.Tags?.find((tag) => tag.Key === 'Name')?.Value,
      }));

      expect(planned).toEqual(local);
      expect(planned.map((p) => p.name)).toEqual(['web-1', 'web-2', 'web-3', 'solo']);
    } finally {
      fleet.dispose();
    }
  });

  it('gives a counted instance the same id whatever the seed of the run', () => {
    const text = 'instances:\n  - { name: web, count: 2 }\n';
    const ids = (seed: number) => {
      const fleet = new Fleet({ emit: () => undefined, seed });
      try {
        playFleetFile(fleet, parseFleetDocument(text).fleet).cancel();
        return fleet.list().map((instance) => instance.instanceId);
      } finally {
        fleet.dispose();
      }
    };
    expect(ids(7)).toEqual(ids(45));
    expect(instancesFromFleetFile(text, 'f').map((s) => s.InstanceId)).toEqual(ids(45));
  });

  it('plan accepts the shipped demo file', () => {
    const text = readFileSync(join(repoRoot, 'scripts', 'local', 'fleets', 'demo.yaml'), 'utf8');
    const shapes = instancesFromFleetFile(text, 'demo.yaml');
    expect(shapes.map((s) => s.InstanceId)).toContain('i-0de000000000000a1');
  });
});
