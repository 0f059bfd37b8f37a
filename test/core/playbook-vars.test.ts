import { describe, expect, it } from 'vitest';
import { describeAdjustment, fixFor, playbookVars } from '../../functions/core/playbook-vars.js';

const facts = {
  instanceId: 'i-0123456789abcdef0',
  name: 'web 1',
  tags: { 'cost-center': 'a', cost_center: 'b', Name: 'web 1' },
  vars: { http_port: '8080', motd: 'hello world', ansible_user: 'ops', empty: '', tag_Name: 'web 1' },
};

describe('playbookVars: what plan and validate show', () => {
  it('lists every var sent (an encoded one by its own name and value), with the identity, and none dropped', () => {
    expect(playbookVars(facts).vars).toEqual({
      autoprov_host_label: 'i-0123456789abcdef0',
      autoprov_instance_id: 'i-0123456789abcdef0',
      http_port: '8080',
      motd: 'hello world',
      tag_Name: 'web 1',
    });
  });

  it('reports colliding tags first, then each encoded or dropped var, as VARS_ADJUSTED records them', () => {
    const { adjustments } = playbookVars(facts);
    expect(adjustments.map((a) => [a.key, a.action, a.sentAs])).toEqual([
      ['tag_cost_center', 'dropped', undefined],
      ['ansible_user', 'dropped', undefined],
      ['empty', 'dropped', undefined],
      ['motd', 'encoded', 'motd_b64'],
      ['tag_Name', 'encoded', 'tag_Name_b64'],
    ]);
    expect(adjustments.map(fixFor)[0]).toBe('rename the tags so that each becomes a different var');
    expect(describeAdjustment(adjustments[3] as (typeof adjustments)[number])).toMatch(
      /^sent as motd_b64 \(base64\): value contains characters outside/,
    );
  });

  it("a playbook's extraVars replace the host var of the same name", () => {
    const { vars, adjustments } = playbookVars(facts, { motd: 'welcome' });
    expect(vars.motd).toBe('welcome');
    expect(adjustments.some((a) => a.key === 'motd')).toBe(false);
  });
});
