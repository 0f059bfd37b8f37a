import { createHash } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  BundleError,
  clearBundleCache,
  compileBundle,
  defaultBundlePath,
  hashDirectory,
  loadBundle,
  mergeInventoryHosts,
  writeBundle,
} from '../../functions/core/bundle.js';
import { RulesValidationError } from '../../functions/core/rules.js';
import type { InventoryHost } from '../../functions/core/types.js';
import { playbooksDir } from '../helpers/paths.js';
import { SAMPLE_INVENTORY, samplePlaybooksDir } from '../helpers/sample-inventory.js';

const scratch = mkdtempSync(join(tmpdir(), 'autoprov-bundle-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

let counter = 0;
function freshDir(files: Record<string, string>): string {
  const dir = join(scratch, `d${counter++}`);
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
  return dir;
}

describe('compileBundle', () => {
  it('compiles the shipped playbooks folder, which provisions no inventory host (the sample is not enabled)', () => {
    const bundle = compileBundle(playbooksDir);

    expect(bundle.config.rules.map((r) => r.name)).toEqual([
      'baseline',
      'onprem-baseline',
      'web',
      'onprem-web',
    ]);
    // A plain deploy claims only opted-in instances: no placeholder hybrid node.
    expect(bundle.config.inventories).toEqual([]);
    expect(bundle.inventoryHosts).toEqual([]);
    expect(bundle.bundleHash).toMatch(/^[0-9a-f]{64}$/);
    expect(bundle.bundleHash).toBe(hashDirectory(playbooksDir));
  });

  it("compiles the sample inventory when enabled, as local mode's demo does", () => {
    const staged = samplePlaybooksDir();
    const bundle = compileBundle(staged);

    expect(bundle.config.inventories).toEqual([SAMPLE_INVENTORY]);
    expect(bundle.inventoryHosts.map((h) => [h.instanceId, h.name])).toEqual([
      ['mi-0123456789abcdef0', 'mi-0123456789abcdef0'],
      ['mi-0abcdef1234567890', 'web-dc2-01'],
      ['mi-0fedcba9876543210', 'mi-0fedcba9876543210'],
    ]);
    expect(bundle.inventoryHosts[0]).toMatchObject({
      groups: ['all', 'onprem', 'webservers'],
      vars: { environment: 'production', http_port: '8080', ntp_server: 'ntp.dc.example', site: 'dc1' },
      inventory: join(staged, SAMPLE_INVENTORY),
    });
  });

  it('merges one instance listed in several inventories: groups unioned, later vars win', () => {
    const dir = freshDir({
      'rules.yaml': 'inventories: [a.ini, b.yml]\nrules:\n  - { name: all, playbooks: [p.yml] }\n',
      'p.yml': '- hosts: all\n',
      'a.ini': '[web]\nmi-0a1b2c3d4e5f60711 port=80 only_a=1\nmi-0a1b2c3d4e5f60712\n',
      'b.yml':
        'all:\n  children:\n    db:\n      hosts:\n        legacy: { ssm_instance_id: mi-0a1b2c3d4e5f60711, port: 81 }\n',
    });

    const bundle = compileBundle(dir);

    expect(bundle.inventoryHosts).toEqual([
      {
        name: 'mi-0a1b2c3d4e5f60711',
        instanceId: 'mi-0a1b2c3d4e5f60711',
        groups: ['all', 'db', 'web'],
        vars: { only_a: '1', port: '81', ssm_instance_id: 'mi-0a1b2c3d4e5f60711' },
        inventory: join(dir, 'a.ini'),
      },
      {
        name: 'mi-0a1b2c3d4e5f60712',
        instanceId: 'mi-0a1b2c3d4e5f60712',
        groups: ['all', 'web'],
        vars: {},
        inventory: join(dir, 'a.ini'),
      },
    ]);
  });

  it('fails with the rules validation error for a bad rules.yaml', () => {
    const dir = freshDir({ 'rules.yaml': 'rules:\n  - { name: a, playbooks: [missing.yml] }\n' });

    expect(() => compileBundle(dir)).toThrow(RulesValidationError);
    expect(() => compileBundle(dir)).toThrow(
      `rules[0].playbooks[0]: playbook "missing.yml" does not exist under ${dir}`,
    );
  });

  it('fails clearly when the folder has no rules.yaml', () => {
    const dir = freshDir({ 'p.yml': '' });

    expect(() => compileBundle(dir)).toThrow(`${join(dir, 'rules.yaml')}: (root): file not found`);
  });
});

describe('mergeInventoryHosts', () => {
  it('keeps the first name and inventory, sorts by instance id', () => {
    const a: InventoryHost = {
      name: 'b',
      instanceId: 'mi-2',
      groups: ['all', 'x'],
      vars: { k: '1', z: 'a' },
      inventory: 'one',
    };
    const b: InventoryHost = { name: 'a', instanceId: 'mi-1', groups: ['all'], vars: {}, inventory: 'one' };
    const c: InventoryHost = {
      name: 'c',
      instanceId: 'mi-2',
      groups: ['all', 'w'],
      vars: { k: '2', a: 'b' },
      inventory: 'two',
    };

    expect(mergeInventoryHosts([a, b, c])).toEqual([
      b,
      {
        name: 'b',
        instanceId: 'mi-2',
        groups: ['all', 'w', 'x'],
        vars: { a: 'b', k: '2', z: 'a' },
        inventory: 'one',
      },
    ]);
  });
});

describe('hashDirectory', () => {
  it('hashes path NUL length NUL content of every file in path order', () => {
    const dir = freshDir({ 'b.txt': 'bee', 'a/z.yml': 'zed', 'a.txt': '' });
    const expected = createHash('sha256');
    for (const [path, content] of [
      ['a.txt', ''],
      ['a/z.yml', 'zed'],
      ['b.txt', 'bee'],
    ] as const) {
      expected.update(`${path}\0${Buffer.byteLength(content)}\0${content}`);
    }

    expect(hashDirectory(dir)).toBe(expected.digest('hex'));
  });

  it('is independent of creation order and changes with content, names and boundaries', () => {
    const base = hashDirectory(freshDir({ 'x.yml': 'ab', 'y.yml': 'c' }));

    expect(hashDirectory(freshDir({ 'y.yml': 'c', 'x.yml': 'ab' }))).toBe(base);
    expect(hashDirectory(freshDir({ 'x.yml': 'ab', 'y.yml': 'd' }))).not.toBe(base);
    expect(hashDirectory(freshDir({ 'x.yml': 'a', 'y.yml': 'bc' }))).not.toBe(base);
    expect(hashDirectory(freshDir({ 'x.yml': 'ab', 'z.yml': 'c' }))).not.toBe(base);
    expect(hashDirectory(freshDir({ 'x.yml': 'ab', 'y.yml': 'c', 'sub/empty': '' }))).not.toBe(base);
  });

  it('skips symlinks', () => {
    const dir = freshDir({ 'x.yml': 'ab' });
    const before = hashDirectory(dir);
    symlinkSync(join(dir, 'x.yml'), join(dir, 'link.yml'));

    expect(hashDirectory(dir)).toBe(before);
  });

  it('changes when a shipped playbook changes', () => {
    const copy = join(scratch, 'shipped-copy');
    cpSync(playbooksDir, copy, { recursive: true });
    const before = compileBundle(copy).bundleHash;
    writeFileSync(
      join(copy, 'baseline.yml'),
      `${readFileSync(join(copy, 'baseline.yml'), 'utf8')}\n# edited\n`,
    );

    expect(compileBundle(copy).bundleHash).not.toBe(before);
    expect(before).toBe(hashDirectory(playbooksDir));
  });
});

describe('writeBundle / loadBundle', () => {
  const savedEnv = { ...process.env };
  beforeEach(() => clearBundleCache());
  afterEach(() => {
    process.env = { ...savedEnv };
    clearBundleCache();
  });

  it('round-trips a compiled bundle and reads it once per path', () => {
    const bundle = compileBundle(playbooksDir);
    const path = join(scratch, 'out', 'nested', 'rules.json');
    writeBundle(bundle, path);

    const loaded = loadBundle(path);
    writeFileSync(path, '{"broken":');

    expect(loaded).toEqual(bundle);
    expect(loadBundle(path)).toBe(loaded);
    clearBundleCache();
    expect(() => loadBundle(path)).toThrow(BundleError);
  });

  it('defaults to RULES_BUNDLE_PATH, then LAMBDA_TASK_ROOT/rules.json, then cwd/rules.json', () => {
    delete process.env.RULES_BUNDLE_PATH;
    delete process.env.LAMBDA_TASK_ROOT;
    expect(defaultBundlePath()).toBe(join(process.cwd(), 'rules.json'));

    process.env.LAMBDA_TASK_ROOT = '/var/task';
    expect(defaultBundlePath()).toBe('/var/task/rules.json');

    process.env.RULES_BUNDLE_PATH = '/opt/custom.json';
    expect(defaultBundlePath()).toBe('/opt/custom.json');
  });

  it('loads from the default path', () => {
    const root = join(scratch, 'task-root');
    writeBundle(compileBundle(playbooksDir), join(root, 'rules.json'));
    delete process.env.RULES_BUNDLE_PATH;
    process.env.LAMBDA_TASK_ROOT = root;

    expect(loadBundle().config.rules).toHaveLength(4);
  });

  it('says which file is missing and how to fix it', () => {
    const path = join(scratch, 'nowhere', 'rules.json');

    expect(() => loadBundle(path)).toThrow(
      `rules bundle not found at ${path}: it is built from playbooks/rules.yaml at synth time and copied next to the function code; redeploy, or set RULES_BUNDLE_PATH to a rules.json written by writeBundle(compileBundle('playbooks'), path)`,
    );
  });

  it.each([
    ['not JSON', '{', /is not valid JSON/],
    ['an array', '[]', /is not a rules bundle \(top level is not an object\)/],
    [
      'missing parts',
      '{"bundleHash":"abc","config":{"rules":[]}}',
      /is not a rules bundle \(bundleHash is not a sha256 hex string; inventoryHosts is not a list; config\.optIn is missing; config\.hold is missing; config\.groupsTag is missing; config\.defaults is missing\); rebuild it with compileBundle$/,
    ],
  ])('rejects a file that is %s', (_, content, message) => {
    const path = join(scratch, `bad-${counter++}.json`);
    writeFileSync(path, content);

    expect(() => loadBundle(path)).toThrow(message);
  });

  it('rejects a directory in place of the file', () => {
    const path = join(scratch, `dir-${counter++}`);
    mkdirSync(path);

    expect(() => loadBundle(path)).toThrow(`${path} is not a file`);
  });
});
