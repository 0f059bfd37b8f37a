// The rules and facts examples of issue 13 ("Ansible fidelity"), one focused test each: a rule keeps
// the text the user wrote (docs/adr/0014), tags whose keys sanitise to one var name never pick an
// order-dependent winner and are reported (VARS_ADJUSTED), and every playbook learns who it runs for.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_ROLLOUT } from '../../functions/core/admission.js';
import { factsFromEc2 } from '../../functions/core/facts.js';
import { matchRules } from '../../functions/core/matcher.js';
import { parseRules } from '../../functions/core/rules.js';
import { buildApplyPlaybooksParameters } from '../../functions/core/ssm-parameters.js';
import type { Ec2InstanceShape, RulesBundle } from '../../functions/core/types.js';
import { buildCommandRequest } from '../../functions/run-command/command-request.js';
import type { InstanceRecord } from '../../functions/shared/state-store-api.js';
import { playbooksDir } from '../helpers/paths.js';

const ID = 'i-0123456789abcdef0';

const parse = (text: string) => parseRules(text, { file: 'rules.yaml', playbooksDir });

function instance(tags: Record<string, string>): Ec2InstanceShape {
  return {
    InstanceId: ID,
    InstanceType: 't3.micro',
    PlatformDetails: 'Linux/UNIX',
    State: { Name: 'running' },
    Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })),
  };
}

/** The playbooks a host tagged `tags` gets under `rulesText`. */
function playbooksFor(rulesText: string, tags: Record<string, string>): string[] {
  const config = parse(rulesText);
  return matchRules(config, factsFromEc2(instance(tags), config)).playbooks.map((p) => p.file);
}

const ruleMatching = (condition: string) =>
  `rules:\n  - name: versioned\n    match:\n      vars: { ${condition} }\n    playbooks: [baseline.yml]\n`;

describe('rules keep what the user wrote (issue 13)', () => {
  it('`tag_Version: 1.10` (unquoted) matches an instance tagged Version=1.10, not 1.1', () => {
    expect(playbooksFor(ruleMatching('tag_Version: 1.10'), { Version: '1.10' })).toEqual(['baseline.yml']);
    expect(playbooksFor(ruleMatching('tag_Version: 1.10'), { Version: '1.1' })).toEqual([]);
  });

  it('`012` (unquoted) matches the tag value 012, not 12', () => {
    expect(playbooksFor(ruleMatching('tag_Release: 012'), { Release: '012' })).toEqual(['baseline.yml']);
    expect(playbooksFor(ruleMatching('tag_Release: 012'), { Release: '12' })).toEqual([]);
  });

  it('an unquoted extraVars value 1.10 is sent as 1.10', () => {
    const config = parse(
      'rules:\n  - name: all\n    match: {}\n    playbooks:\n      - file: baseline.yml\n        extraVars: { app_version: 1.10 }\n',
    );
    expect(config.rules[0]?.playbooks[0]?.extraVars).toEqual({ app_version: '1.10' });
  });
});

describe('colliding tags cost-center / cost_center / cost:center (issue 13)', () => {
  const config = parse('rules:\n  - name: all\n    match: {}\n    playbooks: [baseline.yml]\n');
  const forward = { 'cost-center': 'a', cost_center: 'b', 'cost:center': 'c' };
  const backward = { 'cost:center': 'c', cost_center: 'b', 'cost-center': 'a' };

  it('cost-center, cost_center and cost:center set no tag_cost_center, whatever the tag order', () => {
    const one = factsFromEc2(instance(forward), config);
    const other = factsFromEc2(instance(backward), config);
    expect(one.vars).not.toHaveProperty('tag_cost_center');
    expect(other.vars).toEqual(one.vars);
  });

  it('cost-center, cost_center and cost:center are reported as one dropped var (VARS_ADJUSTED)', () => {
    const facts = factsFromEc2(instance(backward), config);
    const bundle: RulesBundle = { config, inventoryHosts: [], bundleHash: 'h' };
    const record = {
      instanceId: ID,
      facts,
      playbooks: [{ file: 'baseline.yml', status: 'Pending', attempts: 0 }],
    } as unknown as InstanceRecord;

    const request = buildCommandRequest(
      {
        instanceId: ID,
        generation: 1,
        taskToken: 't',
        kind: 'playbook',
        playbookIndex: 0,
        attempt: 1,
      },
      record,
      bundle,
      {
        bundleUrl: 'https://bucket.s3.us-east-1.amazonaws.com/bundle.zip',
        applyDocument: 'AWS-ApplyAnsiblePlaybooks',
        ansibleInstallDocument: 'autoprov-EnsureAnsible',
        installDependencies: false,
        outputLogGroup: '/autoprov/commands',
        outputBucket: 'out',
      },
    );

    expect(request.adjustments.filter((a) => a.key === 'tag_cost_center')).toEqual([
      {
        key: 'tag_cost_center',
        action: 'dropped',
        reason: expect.stringContaining('"cost-center", "cost:center", "cost_center"'),
      },
    ]);
    expect(request.command.Parameters?.ExtraVariables?.[0]).not.toContain('tag_cost_center');
  });
});

describe('playbooks get identity (issue 13)', () => {
  const playbook = {
    file: 'baseline.yml',
    extraVars: {},
    timeoutSeconds: 60,
    maxAttempts: 1,
    backoffSeconds: 0,
    check: false,
    rule: 'all',
  };
  const build = (name: string | undefined) =>
    buildApplyPlaybooksParameters({
      bundleUrl: 'https://bucket.s3.us-east-1.amazonaws.com/bundle.zip',
      playbook,
      hostVars: name === undefined ? {} : { tag_Name: name },
      installDependencies: false,
      identity: { instanceId: ID, ...(name === undefined ? {} : { name }) },
    }).parameters.ExtraVariables?.[0]?.split(' ');

  it('the instance id is sent to every playbook as autoprov_instance_id', () => {
    expect(build(undefined)).toContain(`autoprov_instance_id=${ID}`);
    expect(build('web-1')).toContain(`autoprov_instance_id=${ID}`);
  });

  it('a Name that had to be encoded (tag_Name_b64) labels the host with its instance id, not localhost', () => {
    const vars = build('web 1; $(reboot)');
    expect(vars).toContain(`autoprov_host_label=${ID}`);
    expect(vars?.some((pair) => pair.startsWith('tag_Name_b64='))).toBe(true);
    expect(build('web-1')).toContain('autoprov_host_label=web-1');
  });
});

describe("rules.yaml's commented rollout and drift examples (issue 15)", () => {
  const shipped = readFileSync(join(playbooksDir, 'rules.yaml'), 'utf8').split('\n');
  /** The commented lines from the one that reads `#<indent><first>` on, while they stay indented under it. */
  const example = (first: string): string[] => {
    const start = shipped.findIndex((line) => /^# +/.test(line) && line.replace(/^# +/, '') === first);
    expect(start, `a commented "${first}" in playbooks/rules.yaml`).toBeGreaterThanOrEqual(0);
    const indent = (shipped[start] as string).indexOf(first);
    const block = [shipped[start] as string];
    // Continuation lines are indented deeper than the first: `#` and at least `indent` spaces.
    for (const line of shipped.slice(start + 1)) {
      if (!line.startsWith(`#${' '.repeat(indent)}`)) break;
      block.push(line);
    }
    return block.map((line) => line.slice(indent));
  };

  it('the defaults.rollout shown is the default', () => {
    const text = `defaults:\n${example('rollout:')
      .map((line) => `  ${line}`)
      .join('\n')}\n${ruleMatching('tag_Env: x')}`;

    expect(parse(text).defaults.rollout).toEqual(DEFAULT_ROLLOUT);
  });

  it('the example rule parses into its own lane, a daily drift report', () => {
    const rule = parse(
      `rules:\n${example('- name: web')
        .map((line) => `  ${line}`)
        .join('\n')}\n`,
    ).rules[0];

    expect(rule).toMatchObject({
      name: 'web',
      rollout: {
        maxConcurrent: { kind: 'count', value: 2 },
        maxErrors: { kind: 'percent', value: 5 },
        canary: { count: 1 },
      },
      reapplyEverySeconds: 86_400,
      drift: 'report',
    });
  });
});
