import { describe, expect, it } from 'vitest';
import { isInstanceId } from '../../functions/core/instance-id.js';
import { InventoryError, loadInventoryFile, parseInventory } from '../../functions/core/inventory.js';
import type { InventoryHost } from '../../functions/core/types.js';
import { fixture } from '../helpers/paths.js';

/** The error parseInventory throws, for asserting its fields. */
function inventoryError(text: string, file: string): InventoryError {
  try {
    parseInventory(text, file);
  } catch (error) {
    if (error instanceof InventoryError) return error;
    throw error;
  }
  throw new Error('expected an InventoryError, but the inventory parsed');
}

const withoutSource = (hosts: readonly InventoryHost[]) => hosts.map(({ inventory: _, ...rest }) => rest);

const ID1 = 'mi-0a1b2c3d4e5f60711';
const ID2 = 'mi-0a1b2c3d4e5f60712';
const ID3 = 'mi-0a1b2c3d4e5f60713';

describe('inventory fixtures', () => {
  const expected = [
    {
      name: 'mi-0a1b2c3d4e5f60718',
      instanceId: 'mi-0a1b2c3d4e5f60718',
      groups: ['all', 'production', 'webservers'],
      vars: { environment: 'production', ntp_server: 'ntp.internal.example', rack: 'r12' },
    },
    {
      name: 'mi-0a1b2c3d4e5f60719',
      instanceId: 'mi-0a1b2c3d4e5f60719',
      groups: ['all', 'ungrouped'],
      vars: {},
    },
    {
      name: 'mi-0fedcba9876543210',
      instanceId: 'mi-0fedcba9876543210',
      groups: ['all', 'dbservers', 'production'],
      vars: { environment: 'production', ntp_server: 'ntp.internal.example' },
    },
    {
      name: 'web-legacy-01',
      instanceId: 'mi-0123456789abcdef0',
      groups: ['all', 'production', 'webservers'],
      vars: {
        environment: 'production',
        http_port: '8080',
        ntp_server: 'ntp.internal.example',
        ssm_instance_id: 'mi-0123456789abcdef0',
      },
    },
  ];

  it('parses onprem.ini into hosts, ancestor groups and merged vars', () => {
    // Prepare
    const file = fixture('inventories', 'onprem.ini');

    // Act
    const hosts = loadInventoryFile(file);

    // Assess
    expect(withoutSource(hosts)).toEqual(expected);
    expect(hosts.every((h) => h.inventory === file)).toBe(true);
  });

  it('parses onprem.yml to exactly the same fleet as onprem.ini', () => {
    const ini = loadInventoryFile(fixture('inventories', 'onprem.ini'));
    const yaml = loadInventoryFile(fixture('inventories', 'onprem.yml'));

    expect(withoutSource(yaml)).toEqual(withoutSource(ini));
    expect(yaml[0]?.inventory).toBe(fixture('inventories', 'onprem.yml'));
  });
});

describe('INI inventories', () => {
  it('applies var precedence all < parent < child < host, same-depth groups by name', () => {
    const text = [
      '[all:vars]',
      'level=all',
      'only_all=1',
      '',
      '[parent:children]',
      'child',
      '[parent:vars]',
      'level=parent',
      'only_parent=p',
      '',
      '[child]',
      `${ID1} level=host`,
      ID2,
      '[child:vars]',
      'level=child',
      '',
      // Two groups at the same depth: the alphabetically later one wins, as in Ansible.
      '[b_group]',
      ID3,
      '[a_group]',
      ID3,
      '[a_group:vars]',
      'level=a',
      '[b_group:vars]',
      'level=b',
    ].join('\n');

    const hosts = parseInventory(text, 'prec.ini');

    expect(withoutSource(hosts)).toEqual([
      {
        name: ID1,
        instanceId: ID1,
        groups: ['all', 'child', 'parent'],
        vars: { level: 'host', only_all: '1', only_parent: 'p' },
      },
      {
        name: ID2,
        instanceId: ID2,
        groups: ['all', 'child', 'parent'],
        vars: { level: 'child', only_all: '1', only_parent: 'p' },
      },
      {
        name: ID3,
        instanceId: ID3,
        groups: ['a_group', 'all', 'b_group'],
        vars: { level: 'b', only_all: '1' },
      },
    ]);
  });

  it('expands numeric, zero-padded, stepped and alphabetic host ranges', () => {
    const text = [
      '[numeric]',
      'mi-0a1b2c3d4e5f607[08:10] rack=r1',
      '[stepped]',
      'i-0123456789abcde[1:9:4]',
      '[letters]',
      'i-012345678abcdef[a:c]',
    ].join('\n');

    const hosts = parseInventory(text, 'ranges.ini');

    expect(hosts.map((h) => [h.name, h.groups.join(',')])).toEqual([
      ['i-0123456789abcde1', 'all,stepped'],
      ['i-0123456789abcde5', 'all,stepped'],
      ['i-0123456789abcde9', 'all,stepped'],
      ['i-012345678abcdefa', 'all,letters'],
      ['i-012345678abcdefb', 'all,letters'],
      ['i-012345678abcdefc', 'all,letters'],
      ['mi-0a1b2c3d4e5f60708', 'all,numeric'],
      ['mi-0a1b2c3d4e5f60709', 'all,numeric'],
      ['mi-0a1b2c3d4e5f60710', 'all,numeric'],
    ]);
    expect(hosts.filter((h) => h.vars.rack === 'r1')).toHaveLength(3);
  });

  it('reads quoted inline vars, a port, and ignores comments (; only at the start of a line)', () => {
    const text = [
      '# a comment',
      '; another comment',
      '[web]  # trailing comment on a header',
      `${ID1}:2222 motd="hello world" owner='ops team' plain=x # inline comment`,
      `web-a ssm_instance_id=${ID2} # also a comment`,
      '[web:vars]',
      `title = "Quoted title"`,
      'url=http://example.com/a=b',
    ].join('\n');

    const hosts = parseInventory(text, 'quotes.ini');

    expect(hosts[0]).toMatchObject({
      name: ID1,
      vars: {
        ansible_port: '2222',
        motd: 'hello world',
        owner: 'ops team',
        plain: 'x',
        title: 'Quoted title',
      },
    });
    expect(hosts[0]?.vars.url).toBe('http://example.com/a=b');
    expect(hosts[1]).toMatchObject({ name: 'web-a', instanceId: ID2 });
    expect(Object.keys(hosts[1]?.vars ?? {})).toEqual(['ssm_instance_id', 'title', 'url']);
  });

  it('puts hosts in ungrouped only when they belong to no other group', () => {
    const text = [ID1, ID2, `[ungrouped]`, ID3, '[db]', ID2].join('\n');

    const groups = Object.fromEntries(parseInventory(text, 'u.ini').map((h) => [h.name, h.groups]));

    expect(groups).toEqual({
      [ID1]: ['all', 'ungrouped'],
      [ID2]: ['all', 'db'],
      [ID3]: ['all', 'ungrouped'],
    });
  });

  it('merges vars of a host listed twice (later wins) and accepts children declared after use', () => {
    const text = ['[top:children]', 'late', `[early]`, `${ID1} a=1 b=1`, '[late]', `${ID1} b=2`].join('\n');

    const [host] = parseInventory(text, 'twice.ini');

    expect(host).toMatchObject({ groups: ['all', 'early', 'late', 'top'], vars: { a: '1', b: '2' } });
  });

  it.each([
    ['[web', 1, 'unclosed section header "[web": add the closing "]"'],
    [
      '[web servers]',
      1,
      'invalid section header "[web servers]": expected [group], [group:children] or [group:vars], with no spaces in the name',
    ],
    ['[web:hosts2]', 1, 'section [web:hosts2] has unknown type "hosts2"; use :children or :vars'],
    [
      '[web]\nmi-0a1b2c3d4e5f607[1:]',
      2,
      'invalid host range [1:] in "mi-0a1b2c3d4e5f607[1:]": missing end (expected [begin:end] or [begin:end:step], e.g. web[01:03] or db-[a:c])',
    ],
    [
      '[web]\nweb[3:1]',
      2,
      'invalid host range [3:1] in "web[3:1]": begin is greater than end (expected [begin:end] or [begin:end:step], e.g. web[01:03] or db-[a:c])',
    ],
    [
      '[web]\nweb[01:100]',
      2,
      'invalid host range [01:100] in "web[01:100]": zero-padded begin and end must have the same width (expected [begin:end] or [begin:end:step], e.g. web[01:03] or db-[a:c])',
    ],
    [
      '[web]\nweb[a:3]',
      2,
      'invalid host range [a:3] in "web[a:3]": bounds must both be integers or both single letters (expected [begin:end] or [begin:end:step], e.g. web[01:03] or db-[a:c])',
    ],
    [
      '[web]\nweb[1:3:0]',
      2,
      'invalid host range [1:3:0] in "web[1:3:0]": step must be a positive integer (expected [begin:end] or [begin:end:step], e.g. web[01:03] or db-[a:c])',
    ],
    ['[web]\nweb[1:3', 2, 'invalid host range in "web[1:3": "[" is never closed'],
    [
      '[web]\nweb[1]',
      2,
      'invalid host range [1] in "web[1]": wrong number of ":" (expected [begin:end] or [begin:end:step], e.g. web[01:03] or db-[a:c])',
    ],
    ['[web]\nweb01:', 2, 'invalid host pattern "web01:": a trailing ":" must be followed by a port'],
    [`[web]\n${ID1} novalue`, 2, 'expected key=value host variable, got "novalue"'],
    [`[web]\n${ID1} a="open`, 2, `unclosed " quote in "${ID1} a="open"`],
    [`[web]\n${ID1}\n[web:vars]\njust text`, 4, 'expected key=value in [web:vars], got "just text"'],
    [
      `[web]\n${ID1}\n[web:children]\nbad group`,
      4,
      'expected a group name in [web:children], got "bad group"',
    ],
    [
      `[web]\n${ID1}\n[wbe:vars]\na=1`,
      3,
      'section [wbe:vars] is for group "wbe", which is never declared; add a [wbe] section or fix the name',
    ],
    [
      `[web]\n${ID1}\n[prod:children]\nweb\ndbs`,
      5,
      '[prod:children] names group "dbs", which is never declared; add a [dbs] section or fix the name',
    ],
  ])('rejects %j at line %i', (text, line, reason) => {
    const error = inventoryError(text, 'bad.ini');

    expect(error).toMatchObject({ name: 'InventoryError', file: 'bad.ini', line, reason });
    expect(error.message).toBe(`bad.ini:${line}: ${reason}`);
  });

  it('rejects a children cycle', () => {
    const text = ['[a:children]', 'b', '[b:children]', 'c', '[c:children]', 'a'].join('\n');

    expect(() => parseInventory(text, 'cycle.ini')).toThrow(
      /^cycle\.ini:1: children cycle: a -> b -> c -> a$/,
    );
  });

  it('names the host, its line and the fix when a host has no instance id', () => {
    const text = ['[web]', ID1, 'web-legacy-02 http_port=80'].join('\n');

    const error = inventoryError(text, 'fleet.ini');

    expect(error.line).toBe(3);
    expect(error.message).toBe(
      'fleet.ini:3: host "web-legacy-02" has no instance id: its name is not an EC2 instance id (i-…) or SSM managed node id (mi-…) and it has no ssm_instance_id var; add ssm_instance_id=mi-… (or i-…) to the host line',
    );
  });

  it('rejects an ssm_instance_id that is not an id, and a host name that disagrees with its ssm_instance_id', () => {
    expect(() => parseInventory('[web]\nweb1 ssm_instance_id=mi-123', 'x.ini')).toThrow(
      'x.ini:2: host "web1" has ssm_instance_id="mi-123", which is not an EC2 instance id (i- and 8 or 17 hex digits) or SSM managed node id (mi- and 17 hex digits)',
    );
    expect(() => parseInventory(`${ID1} ssm_instance_id=${ID2}`, 'x.ini')).toThrow(
      `x.ini:1: host "${ID1}" is itself an instance id but has ssm_instance_id=${ID2}; remove the var or rename the host`,
    );
  });

  it('rejects two hosts mapped to one instance id', () => {
    const text = ['[web]', `web-a ssm_instance_id=${ID1}`, '[db]', `db-a ssm_instance_id=${ID1}`].join('\n');

    expect(() => parseInventory(text, 'dup.ini')).toThrow(
      `dup.ini:4: hosts "web-a" (line 2) and "db-a" (line 4) both map to instance id ${ID1}; list each managed node under one host name only`,
    );
  });

  it('validates instance id shapes', () => {
    expect(isInstanceId('i-0123abcd')).toBe(true);
    expect(isInstanceId('i-0123456789abcdef0')).toBe(true);
    expect(isInstanceId('mi-0123456789abcdef0')).toBe(true);
    expect(isInstanceId('i-0123abc')).toBe(false);
    expect(isInstanceId('i-0123456789ABCDEF0')).toBe(false);
    expect(isInstanceId('mi-0123456789abcdef')).toBe(false);
    expect(isInstanceId('xi-0123456789abcdef0')).toBe(false);
  });
});

describe('YAML inventories', () => {
  it('reads nested children, vars at every level, host shorthand, ranges and ports', () => {
    const text = `
all:
  vars: { level: all, only_all: "1" }
  children:
    region:
      vars: { level: region }
      children:
        dc1:
          vars: { level: dc1 }
          hosts:
            ${ID1}: { level: host, enabled: true, tags: [a, b] }
            "mi-0a1b2c3d4e5f6072[0:1]":
            i-0123abcd:2200:
        dc2:
          hosts: ${ID2}
    empty_group:
`;

    const hosts = parseInventory(text, 'nested.yaml');

    expect(withoutSource(hosts)).toEqual([
      {
        name: 'i-0123abcd',
        instanceId: 'i-0123abcd',
        groups: ['all', 'dc1', 'region'],
        vars: { ansible_port: '2200', level: 'dc1', only_all: '1' },
      },
      {
        name: ID1,
        instanceId: ID1,
        groups: ['all', 'dc1', 'region'],
        // A YAML true is Python's True: `{{ enabled }}` renders "True" in a playbook.
        vars: { enabled: 'True', level: 'host', only_all: '1', tags: '["a","b"]' },
      },
      {
        name: ID2,
        instanceId: ID2,
        groups: ['all', 'dc2', 'region'],
        vars: { level: 'region', only_all: '1' },
      },
      {
        name: 'mi-0a1b2c3d4e5f60720',
        instanceId: 'mi-0a1b2c3d4e5f60720',
        groups: ['all', 'dc1', 'region'],
        vars: { level: 'dc1', only_all: '1' },
      },
      {
        name: 'mi-0a1b2c3d4e5f60721',
        instanceId: 'mi-0a1b2c3d4e5f60721',
        groups: ['all', 'dc1', 'region'],
        vars: { level: 'dc1', only_all: '1' },
      },
    ]);
  });

  it.each([
    [
      '- a\n- b\n',
      1,
      'a YAML inventory must be a mapping of group names (e.g. "all:"), not a list or a scalar',
    ],
    [
      'just a string\n',
      1,
      'a YAML inventory must be a mapping of group names (e.g. "all:"), not a list or a scalar',
    ],
    [
      'all:\n  hosts:\n    - mi-0a1b2c3d4e5f60711\n',
      3,
      '"hosts" of group "all" must be a mapping, not a list',
    ],
    [
      'all:\n  hots:\n    mi-0a1b2c3d4e5f60711:\n',
      2,
      'unknown key "hots" in group "all"; only hosts, children and vars are allowed (to nest a group, put it under children)',
    ],
    [
      'all:\n  children:\n    web: [a]\n',
      3,
      'group "web" must be a mapping with hosts, children and/or vars',
    ],
    [
      'all:\n  hosts:\n    mi-0a1b2c3d4e5f60711: 3\n',
      3,
      'host "mi-0a1b2c3d4e5f60711" must map to its vars (a mapping) or nothing',
    ],
    ['plugin: aws_ec2\n', 1, 'inventory plugin configuration files are not supported; list hosts statically'],
    [
      'all:\n  hosts:\n    web-x:\n      http_port: 80\n',
      3,
      'host "web-x" has no instance id: its name is not an EC2 instance id (i-…) or SSM managed node id (mi-…) and it has no ssm_instance_id var; add "ssm_instance_id: mi-…" (or i-…) to the host\'s vars',
    ],
    [
      'all:\n  children:\n    a:\n      children:\n        b:\n          children:\n            a:\n',
      3,
      'children cycle: a -> b -> a',
    ],
  ])('rejects %j at line %i', (text, line, reason) => {
    const error = inventoryError(text, 'bad.yml');

    expect({ line: error.line, reason: error.reason }).toEqual({ line, reason });
  });

  it('reports YAML syntax errors with their line', () => {
    const error = inventoryError('all:\n  hosts:\n    a: b: c\n  vars: {}\n', 'syntax.yml');

    expect(error.message).toBe(
      'syntax.yml:3: invalid YAML: Nested mappings are not allowed in compact mappings (column 8)',
    );
  });

  it('rejects an empty file and duplicate keys', () => {
    expect(() => parseInventory('# nothing\n', 'empty.yml')).toThrow(
      'empty.yml: the YAML inventory is empty; expected a mapping of groups such as "all:"',
    );
    expect(() => parseInventory('all:\n  vars: {}\n  vars: {}\n', 'dup.yml')).toThrow(
      /^dup\.yml:3: invalid YAML: Map keys must be unique \(column 3\)$/,
    );
  });
});

describe('format detection and files', () => {
  it('sniffs the format of a file without a known extension', () => {
    const yaml = parseInventory(`---\nall:\n  hosts:\n    ${ID1}:\n`, 'hosts');
    const yaml2 = parseInventory(`# c\nweb:\n  hosts:\n    ${ID1}:\n`, 'hosts');
    const ini = parseInventory(`# c\n[web]\n${ID1}\n`, 'hosts');
    const iniWithPort = parseInventory(`${ID1}:22 a=b\n`, 'hosts');

    expect(yaml.map((h) => h.groups)).toEqual([['all', 'ungrouped']]);
    expect(yaml2.map((h) => h.groups)).toEqual([['all', 'web']]);
    expect(ini.map((h) => h.groups)).toEqual([['all', 'web']]);
    expect(iniWithPort.map((h) => h.vars)).toEqual([{ a: 'b', ansible_port: '22' }]);
  });

  it('explains a missing file', () => {
    expect(() => loadInventoryFile('/nonexistent/inv.ini')).toThrow(
      '/nonexistent/inv.ini: inventory file not found; create it or remove it from `inventories` in rules.yaml',
    );
  });
});
