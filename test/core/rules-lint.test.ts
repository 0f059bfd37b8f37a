// validate's warnings for rules that are valid but cannot do what they say.
import { cpSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadLocalBundle } from '../../cli/bundle.js';
import { stackContextFor } from '../../cli/commands/validate.js';
import { closest, lintRules } from '../../functions/core/rules-lint.js';
import { playbooksDir } from '../helpers/paths.js';

function rulesIn(text: string): string {
  const dir = join(mkdtempSync(join(tmpdir(), 'autoprov-lint-')), 'playbooks');
  cpSync(playbooksDir, dir, { recursive: true });
  writeFileSync(join(dir, 'rules.yaml'), text);
  return join(dir, 'rules.yaml');
}

const RULES = [
  'optIn: { tagKey: "autoprov:enabled", tagValue: "true" }',
  'rules:',
  '  - name: web',
  '    match:',
  '      groups: [web-servers, webservers]',
  '      vars: { ec2_instance_typ: "t3.*", tag_Cost-Center: ops, tag_Environment: production, site: dc1 }',
  '    playbooks: [webserver.yml]',
  '',
].join('\n');

describe('rules lint', () => {
  it('warns on a match.vars key no host can have, with did you mean, and on a group sanitising makes unmatchable', () => {
    const warnings = lintRules(loadLocalBundle(rulesIn(RULES)));

    expect(warnings.map((w) => w.title)).toEqual([
      'rule web: match.vars.ec2_instance_typ',
      'rule web: match.vars.tag_Cost-Center',
      'rule web: match.groups web-servers',
    ]);
    expect(warnings[0]?.detail).toContain('did you mean ec2_instance_type?');
    expect(warnings[1]?.fix).toBe('write tag_Cost_Center');
    expect(warnings[2]?.detail).toContain('"web-servers" arrives as "web_servers"');
  });

  it('warns on an inventory-less key once the rules have inventories that do not define it', () => {
    const text = RULES.replace('rules:', 'inventories: [inventory/onprem.example.ini]\nrules:').replace(
      'site: dc1',
      'sitee: dc1',
    );
    const titles = lintRules(loadLocalBundle(rulesIn(text))).map((w) => `${w.title}: ${w.detail}`);
    expect(titles.find((t) => t.includes('sitee'))).toContain('did you mean site?');
  });

  it('warns when the opt-in tag key disagrees with the stack context, naming the context file', () => {
    const rules = rulesIn(RULES);
    const dir = mkdtempSync(join(tmpdir(), 'autoprov-ctx-'));
    writeFileSync(
      join(dir, 'cdk.json'),
      JSON.stringify({ context: { 'autoprov:optInTagKey': 'provision' } }),
    );

    const context = stackContextFor(dir, rules);
    const warning = lintRules(loadLocalBundle(rules), context).find((w) => w.title === 'optIn.tagKey');

    expect(context).toEqual({ optInTagKey: 'provision', source: join(dir, 'cdk.json') });
    expect(warning?.detail).toContain('"autoprov:enabled" here, but the stack\'s context');
    expect(warning?.detail).toContain('"provision"');
  });

  it('is silent on the shipped rules', () => {
    expect(
      lintRules(loadLocalBundle(join(playbooksDir, 'rules.yaml')), { optInTagKey: 'autoprov:enabled' }),
    ).toEqual([]);
  });

  it('suggests only near misses', () => {
    expect(closest('ec2_instance_typ', ['ec2_instance_type', 'ec2_az'])).toBe('ec2_instance_type');
    expect(closest('owner', ['ec2_instance_type', 'ec2_az'])).toBeUndefined();
  });
});
