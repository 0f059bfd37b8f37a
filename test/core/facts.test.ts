import { describe, expect, it } from 'vitest';
import { isHeld, isOptedIn } from '../../functions/core/eligibility.js';
import {
  factsFromEc2,
  factsFromInventoryHost,
  MissingInstanceIdError,
  mergeFacts,
  parseGroupsTag,
  platformOf,
  tagCollisionAdjustments,
  tagVarName,
} from '../../functions/core/facts.js';
import type { Ec2InstanceShape, InventoryHost, RulesConfig } from '../../functions/core/types.js';

const config: RulesConfig = {
  optIn: { tagKey: 'autoprov:enabled', tagValue: 'true' },
  hold: { tagKey: 'autoprov:hold', tagValue: 'true' },
  groupsTag: 'autoprov:groups',
  inventories: [],
  defaults: {
    maxAttempts: 3,
    backoffSeconds: 60,
    timeoutSeconds: 1800,
    check: false,
    reapplyOnChange: true,
    agentWaitSeconds: 600,
  },
  rules: [],
};

const instance: Ec2InstanceShape = {
  InstanceId: 'i-0abc1234def567890',
  InstanceType: 't3.micro',
  ImageId: 'ami-0123456789abcdef0',
  VpcId: 'vpc-0a1b2c3d',
  PrivateIpAddress: '10.0.1.23',
  PublicIpAddress: '54.1.2.3',
  PlatformDetails: 'Linux/UNIX',
  Placement: { AvailabilityZone: 'eu-west-1a' },
  State: { Name: 'running' },
  Tags: [
    { Key: 'Name', Value: 'web-1' },
    { Key: 'autoprov:enabled', Value: 'true' },
    { Key: 'autoprov:groups', Value: ' webservers, canary ,web-tier,,' },
    { Key: 'Environment', Value: 'production' },
    { Key: 'cost center', Value: '' },
  ],
};

describe('factsFromEc2', () => {
  it('builds groups, tag vars and ec2_* facts, sorted', () => {
    const facts = factsFromEc2(instance, config);

    expect(facts).toEqual({
      instanceId: 'i-0abc1234def567890',
      source: 'ec2',
      name: 'web-1',
      state: 'running',
      tags: {
        Environment: 'production',
        Name: 'web-1',
        'autoprov:enabled': 'true',
        'autoprov:groups': ' webservers, canary ,web-tier,,',
        'cost center': '',
      },
      groups: ['all', 'canary', 'web_tier', 'webservers'],
      vars: {
        ec2_az: 'eu-west-1a',
        ec2_image_id: 'ami-0123456789abcdef0',
        ec2_instance_type: 't3.micro',
        ec2_name: 'web-1',
        ec2_platform: 'linux',
        ec2_private_ip: '10.0.1.23',
        ec2_vpc_id: 'vpc-0a1b2c3d',
        tag_Environment: 'production',
        tag_Name: 'web-1',
        tag_autoprov_enabled: 'true',
        tag_autoprov_groups: ' webservers, canary ,web-tier,,',
        tag_cost_center: '',
      },
    });
    expect(Object.keys(facts.vars)).toEqual([...Object.keys(facts.vars)].sort());
    expect(Object.keys(facts.tags)).toEqual([...Object.keys(facts.tags)].sort());
  });

  it('keeps only the facts that are present', () => {
    const facts = factsFromEc2({ InstanceId: 'i-0123abcd' }, config);

    expect(facts).toEqual({
      instanceId: 'i-0123abcd',
      source: 'ec2',
      tags: {},
      groups: ['all'],
      vars: { ec2_platform: 'linux' },
    });
    expect('name' in facts).toBe(false);
    expect('state' in facts).toBe(false);
  });

  it('uses the configured groups tag', () => {
    const custom = { ...config, groupsTag: 'roles' };
    const facts = factsFromEc2({ InstanceId: 'i-0123abcd', Tags: [{ Key: 'roles', Value: 'db' }] }, custom);

    expect(facts.groups).toEqual(['all', 'db']);
    expect(
      factsFromEc2({ InstanceId: 'i-0123abcd', Tags: [{ Key: 'roles', Value: 'db' }] }, config).groups,
    ).toEqual(['all']);
  });

  it('treats odd tag keys as data, never as object keys with meaning', () => {
    const facts = factsFromEc2(
      {
        InstanceId: 'i-0123abcd',
        Tags: [{ Key: '__proto__', Value: 'x' }, { Key: 'constructor', Value: 'y' }, { Value: 'no key' }],
      },
      config,
    );

    expect(Object.keys(facts.tags)).toEqual(['__proto__', 'constructor']);
    expect(Object.entries(facts.tags)[0]).toEqual(['__proto__', 'x']);
    expect(facts.vars).toMatchObject({ tag___proto__: 'x', tag_constructor: 'y' });
  });

  it('sets no var for tags whose keys sanitise to the same name, whatever their order, and reports them', () => {
    const tags = [
      { Key: 'cost-center', Value: 'a' },
      { Key: 'cost_center', Value: 'b' },
      { Key: 'cost:center', Value: 'c' },
      { Key: 'Team', Value: 'ops' },
    ];
    const forward = factsFromEc2({ ...instance, Tags: tags }, config);
    const reversed = factsFromEc2({ ...instance, Tags: [...tags].reverse() }, config);

    expect(forward.vars).toEqual(reversed.vars);
    expect(forward.vars).not.toHaveProperty('tag_cost_center');
    expect(forward.vars.tag_Team).toBe('ops');
    expect(tagCollisionAdjustments(forward.tags)).toEqual([
      {
        key: 'tag_cost_center',
        action: 'dropped',
        reason:
          'tags "cost-center", "cost:center", "cost_center" all become tag_cost_center; none is sent (rename the tags so they differ in letters, digits or _)',
      },
    ]);
  });

  it('throws a clear error without an InstanceId', () => {
    expect(() => factsFromEc2({ InstanceType: 't3.micro' }, config)).toThrow(MissingInstanceIdError);
    expect(() => factsFromEc2({}, config)).toThrow(/has no InstanceId/);
  });

  it.each([
    [{}, 'linux'],
    [{ PlatformDetails: 'Linux/UNIX' }, 'linux'],
    [{ Platform: 'Windows', PlatformDetails: 'Windows' }, 'windows'],
    [{ PlatformDetails: 'Red Hat Enterprise Linux' }, 'red hat enterprise linux'],
    [{ Platform: '', PlatformDetails: 'Ubuntu Pro' }, 'ubuntu pro'],
  ])('ec2_platform of %j is %s', (shape, expected) => {
    expect(platformOf(shape)).toBe(expected);
    expect(factsFromEc2({ InstanceId: 'i-0123abcd', ...shape }, config).vars.ec2_platform).toBe(expected);
  });
});

describe('helpers', () => {
  it('normalises tag keys into var names', () => {
    expect(tagVarName('Name')).toBe('tag_Name');
    expect(tagVarName('aws:autoscaling:groupName')).toBe('tag_aws_autoscaling_groupName');
    expect(tagVarName('team-owner.é')).toBe('tag_team_owner__');
  });

  it('parses and sanitises the groups tag', () => {
    expect(parseGroupsTag(undefined)).toEqual([]);
    expect(parseGroupsTag('')).toEqual([]);
    expect(parseGroupsTag(' a , b-c ,, d.e ')).toEqual(['a', 'b_c', 'd_e']);
  });
});

describe('inventory facts', () => {
  const host: InventoryHost = {
    name: 'web-legacy-01',
    instanceId: 'mi-0123456789abcdef0',
    groups: ['all', 'webservers', 'production'],
    vars: { http_port: '8080', ec2_instance_type: 'from-inventory', environment: 'production' },
    inventory: 'inventory/onprem.ini',
  };

  it('turns an inventory host into facts', () => {
    expect(factsFromInventoryHost(host)).toEqual({
      instanceId: 'mi-0123456789abcdef0',
      source: 'inventory',
      name: 'web-legacy-01',
      tags: {},
      groups: ['all', 'production', 'webservers'],
      vars: { ec2_instance_type: 'from-inventory', environment: 'production', http_port: '8080' },
    });
  });

  it('merges an inventory listing into EC2 facts, EC2 winning on conflicts', () => {
    const ec2 = factsFromEc2(instance, config);

    const merged = mergeFacts(ec2, host);

    expect(merged.source).toBe('ec2');
    expect(merged.name).toBe('web-1');
    expect(merged.tags).toEqual(ec2.tags);
    expect(merged.groups).toEqual(['all', 'canary', 'production', 'web_tier', 'webservers']);
    expect(merged.vars).toMatchObject({
      ec2_instance_type: 't3.micro',
      environment: 'production',
      http_port: '8080',
    });
    expect(Object.keys(merged.vars)).toEqual([...Object.keys(merged.vars)].sort());
  });
});

describe('opt-in and hold', () => {
  it('requires the exact tag value, with a case-sensitive key', () => {
    expect(isOptedIn({ 'autoprov:enabled': 'true' }, config)).toBe(true);
    expect(isOptedIn({ 'autoprov:enabled': 'True' }, config)).toBe(false);
    expect(isOptedIn({ 'autoprov:enabled': 'true ' }, config)).toBe(false);
    expect(isOptedIn({ 'Autoprov:Enabled': 'true' }, config)).toBe(false);
    expect(isOptedIn({}, config)).toBe(false);
    expect(isHeld({ 'autoprov:hold': 'true' }, config)).toBe(true);
    expect(isHeld({ 'autoprov:hold': 'false' }, config)).toBe(false);
    expect(isHeld({ 'autoprov:enabled': 'true' }, config)).toBe(false);
  });

  it('follows the configured selectors', () => {
    const custom: RulesConfig = {
      ...config,
      optIn: { tagKey: 'provision', tagValue: 'yes' },
      hold: { tagKey: 'freeze', tagValue: '1' },
    };

    expect(isOptedIn({ provision: 'yes' }, custom)).toBe(true);
    expect(isOptedIn({ 'autoprov:enabled': 'true' }, custom)).toBe(false);
    expect(isHeld({ freeze: '1' }, custom)).toBe(true);
    expect(isHeld({ 'autoprov:hold': 'true' }, custom)).toBe(false);
  });

  it('does not treat inherited object properties as tags', () => {
    const proto = { ...config, optIn: { tagKey: 'toString', tagValue: 'true' } };
    expect(isOptedIn({}, proto)).toBe(false);
  });
});
