// End to end with REAL Ansible (the local SSM agent runs ansible-playbook in a per-instance sandbox), on the
// shipped rules and the deployable artifacts (the bundled functions and the ASL of the assembly in cdk.out):
// opt-in at launch and by a later tag change (issue 5, scenario 1), and hostile tag values that must never
// reach the host's shell raw (scenario 7). One local stack for all of them; the last test stops it.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeB64Var } from '../../functions/core/ssm-parameters.js';
import type { InstanceRecord } from '../../functions/shared/state-store-api.js';
import type { LocalStack } from '../../scripts/local/stack.js';
import { startLocalStack } from '../../scripts/local/stack.js';
import { repoRoot } from '../helpers/paths.js';
import {
  APPLY_DOCUMENT,
  assertTools,
  commandLabels,
  ec2Id,
  executionsOf,
  extraVariables,
  FUNCTION_ROLES,
  historyOf,
  invocationsOf,
  notificationsOf,
  ofType,
  optedIn,
  parseExtraVariables,
  stateDir,
} from './support.js';

const WEB = ec2Id(1, 1);
const LATE = ec2Id(1, 2);
const HOSTILE = ec2Id(7, 1);

/** Where a successful injection would create files: it must stay empty. */
const canaryDir = mkdtempSync(join(tmpdir(), 'autoprov-e2e-canary-'));

/**
 * Tag values an attacker (or an unlucky operator) could set. `Owner` is a working injection if it were
 * pasted raw into the document's `-e "…"`: backticks and `${IFS}` even pass the document's allowedPattern.
 */
const HOSTILE_TAGS: Readonly<Record<string, string>> = {
  Owner: `\`touch\${IFS}${canaryDir}/backtick\``,
  'Cost-Center': `$(touch ${canaryDir}/dollar-paren)`,
  Shell: `a;b|c&d<e>f'g"h\\i \`j\` $k`,
  Multi: `line one\nline two; touch ${canaryDir}/newline`,
  Long: `${'L'.repeat(4_991)}$(reboot)`,
  Emoji: 'café ☕ 🚀 日本語',
  Empty: '',
};

/** Tag key → Ansible var (core/facts.ts tagVarName). */
const VAR_OF: Readonly<Record<string, string>> = {
  Owner: 'tag_Owner',
  'Cost-Center': 'tag_Cost_Center',
  Shell: 'tag_Shell',
  Multi: 'tag_Multi',
  Long: 'tag_Long',
  Emoji: 'tag_Emoji',
  Empty: 'tag_Empty',
};

/** The document's own ExtraVariables allowedPattern (fixtures/ssm/AWS-ApplyAnsiblePlaybooks.parameters.json). */
const DOCUMENT_PATTERN = /^$|^\w+=(([^\s|:();&]+)|('[^|:();&]+'))(\s+\w+=(([^\s|:();&]+)|('[^|:();&]+')))*$/;
const SAFE_PAIR = /^\w+=[A-Za-z0-9_.,/@%+=-]+$/;

describe('real Ansible on the shipped rules, from cdk.out', () => {
  let stack: LocalStack;
  let lateBeforeTag: { record: InstanceRecord | undefined; commands: number; executions: number };

  beforeAll(async () => {
    assertTools({ ansible: true });
    stack = await startLocalStack({
      stateDir: stateDir('real'),
      // Events only: without the schedule the inventory's hybrid nodes are never swept in.
      sweepSchedule: false,
      fleet: {
        instances: [
          optedIn(WEB, 'web-a', { 'autoprov:groups': 'webservers', Environment: 'production' }),
          { ...optedIn(HOSTILE, 'hostile-1', HOSTILE_TAGS), instanceType: 't3.micro' },
          // Not opted in at launch: a web server the operator tags later.
          {
            instanceId: LATE,
            name: 'late-b',
            tags: { 'autoprov:groups': 'webservers', Environment: 'staging' },
            instanceType: 't3.micro',
          },
        ].map((spec) => ({ instanceType: 't3.small', ...spec })),
      },
    });
    await stack.waitForIdle({ timeoutMs: 180_000 });
    lateBeforeTag = {
      record: await stack.store.getInstance(LATE),
      commands: stack.commands().filter((c) => c.instanceId === LATE).length,
      executions: executionsOf(stack, LATE).length,
    };
    stack.fleet.tag(LATE, { 'autoprov:enabled': 'true' });
    await stack.waitForIdle({ timeoutMs: 180_000 });
  }, 400_000);

  afterAll(async () => {
    await stack?.stop({ removeStateDir: true });
    rmSync(canaryDir, { recursive: true, force: true });
  });

  describe('the deployable artifacts', () => {
    it('runs the bundled functions and the workflow of the synthesized assembly in cdk.out', () => {
      // Assess
      expect(stack.assembly.dir).toBe(join(repoRoot, 'cdk.out'));
      const roles = stack.spec.functions.map((f) => f.serviceName).sort();
      expect(roles).toEqual([...FUNCTION_ROLES]);
      for (const f of stack.spec.functions) {
        expect(relative(stack.assembly.dir, f.assetDir).startsWith('asset.')).toBe(true);
      }
      expect(stack.spec.stateMachine.arn).toBe(
        'arn:aws:states:us-east-1:123456789012:stateMachine:AnsibleAutoProvisioner-Provisioning',
      );
    });
  });

  describe('scenario 1: opt-in at launch and by a later tag change, two playbooks in order', () => {
    it('provisions an instance opted in at launch: baseline.yml, then webserver.yml, each once and in order on the host', async () => {
      // Act
      const record = await stack.store.getInstance(WEB);
      const [ensure, baseline, web] = invocationsOf(stack, WEB);

      // Assess: the record
      expect(record?.status).toBe('SUCCESS');
      expect(record?.generation).toBe(1);
      expect(record?.playbooks?.map((p) => [p.file, p.status, p.attempts, p.exitCode])).toEqual([
        ['baseline.yml', 'Success', 1, 0],
        ['webserver.yml', 'Success', 1, 0],
      ]);
      const [baselineResult, webResult] = record?.playbooks ?? [];
      expect(Date.parse(baselineResult?.endedAt ?? '')).toBeLessThanOrEqual(
        Date.parse(webResult?.startedAt ?? ''),
      );
      // Assess: what the SSM agent ran, in order, one at a time
      expect(commandLabels(stack, WEB)).toEqual(['ensure-ansible', 'baseline.yml', 'webserver.yml']);
      expect([ensure, baseline, web].map((i) => i?.status)).toEqual(['Success', 'Success', 'Success']);
      expect(ensure?.endedAt).toBeLessThanOrEqual(baseline?.startedAt ?? 0);
      expect(baseline?.endedAt).toBeLessThanOrEqual(web?.startedAt ?? 0);
      expect(web && parseExtraVariables(extraVariables(web.command)).get('http_port')).toBe('80');
    });

    it('wrote the files of both playbooks with Ansible in the sandbox', () => {
      // Act
      const sandbox = stack.sandboxDir(WEB);
      const baselineRun = JSON.parse(readFileSync(join(sandbox, 'var/lib/autoprov/last-run.json'), 'utf8'));
      const webRun = JSON.parse(
        readFileSync(join(sandbox, 'var/lib/autoprov/webserver-last-run.json'), 'utf8'),
      );

      // Assess
      expect(readFileSync(join(sandbox, 'etc/motd'), 'utf8')).toContain('web-a');
      expect(readFileSync(join(sandbox, 'etc/autoprov/baseline.conf'), 'utf8')).toContain(
        'instance_type = t3.small',
      );
      expect(baselineRun).toMatchObject({ playbook: 'baseline.yml', host: 'web-a', check_mode: false });
      expect(webRun).toMatchObject({ playbook: 'webserver.yml', host: 'web-a', http_port: '80' });
      expect(readFileSync(join(sandbox, 'var/www/autoprov/index.html'), 'utf8')).toContain('Storefront');
      expect(readFileSync(join(sandbox, 'etc/nginx/conf.d/autoprov.conf'), 'utf8')).toContain('listen 80;');
      // The webserver run started after the baseline run finished (their markers' times).
      expect(Date.parse(webRun.finished_at)).toBeGreaterThanOrEqual(Date.parse(baselineRun.finished_at));
      // The retry drill is off unless the instance is tagged for it.
      expect(existsSync(join(sandbox, 'var/lib/autoprov/drill-failed-once'))).toBe(false);
    });

    it('ran one execution within the transition budget, one SendCommand per playbook plus the ensure step, and one notification', async () => {
      // Act
      const executions = executionsOf(stack, WEB);
      const commands = stack.commands().filter((c) => c.instanceId === WEB);
      const ensureDocument = stack.spec.functions.find((f) => f.serviceName === 'run-command')?.environment
        .ANSIBLE_INSTALL_DOCUMENT;
      const messages = notificationsOf(stack, WEB);
      const types = (await historyOf(stack, WEB)).map((e) => e.type);

      // Assess
      expect(executions.map((e) => [e.name, e.status])).toEqual([[`${WEB}-g1`, 'SUCCEEDED']]);
      expect(executions[0]?.transitions).toBeLessThanOrEqual(16);
      expect(executions[0]?.byState['Run playbook']).toBe(2);
      expect(commands.map((c) => [c.documentName, c.playbook ?? null, c.status])).toEqual([
        [ensureDocument, null, 'Success'],
        [APPLY_DOCUMENT, 'baseline.yml', 'Success'],
        [APPLY_DOCUMENT, 'webserver.yml', 'Success'],
      ]);
      expect(messages).toHaveLength(1);
      expect(messages[0]?.subject).toContain('SUCCESS');
      expect(types.filter((t) => t === 'CLAIMED')).toHaveLength(1);
      expect(types.filter((t) => t === 'NOTIFIED')).toHaveLength(1);
      expect(types.indexOf('MATCHED')).toBeGreaterThan(types.indexOf('CLAIMED'));
      expect(types.at(-1)).toBe('NOTIFIED');
    });

    it('ignores an instance without the opt-in tag, then provisions it once the tag is added', async () => {
      // Act
      const record = await stack.store.getInstance(LATE);
      const history = await historyOf(stack, LATE);
      const sandbox = stack.sandboxDir(LATE);

      // Assess: before the tag, nothing at all
      expect(lateBeforeTag).toEqual({ record: undefined, commands: 0, executions: 0 });
      // Assess: after it, detected from the tag event (the sweep is off), provisioned once
      expect(record?.status).toBe('SUCCESS');
      expect(record?.generation).toBe(1);
      expect(record?.playbooks?.map((p) => [p.file, p.status, p.attempts])).toEqual([
        ['baseline.yml', 'Success', 1],
        ['webserver.yml', 'Success', 1],
      ]);
      expect(ofType(history, 'DETECTED')[0]?.actor).toBe('event-detector');
      expect(ofType(history, 'CLAIMED').map((e) => e.actor)).toEqual(['event-detector']);
      expect(executionsOf(stack, LATE).map((e) => [e.name, e.status])).toEqual([[`${LATE}-g1`, 'SUCCEEDED']]);
      expect(commandLabels(stack, LATE)).toEqual(['ensure-ansible', 'baseline.yml', 'webserver.yml']);
      expect(readFileSync(join(sandbox, 'etc/autoprov/baseline.conf'), 'utf8')).toContain(
        'instance_type = t3.micro',
      );
      expect(
        JSON.parse(readFileSync(join(sandbox, 'var/lib/autoprov/webserver-last-run.json'), 'utf8')),
      ).toMatchObject({ host: 'late-b', http_port: '80' });
      expect(notificationsOf(stack, LATE).map((m) => m.subject)).toEqual([
        `[autoprov] SUCCESS: ${LATE} (late-b)`,
      ]);
    });
  });

  describe('scenario 7: hostile tag values', () => {
    it('still provisions the instance: SUCCESS, baseline.yml run by Ansible', async () => {
      // Act
      const record = await stack.store.getInstance(HOSTILE);

      // Assess
      expect(record?.status).toBe('SUCCESS');
      expect(record?.playbooks?.map((p) => [p.file, p.status, p.exitCode])).toEqual([
        ['baseline.yml', 'Success', 0],
      ]);
      expect(record?.facts.vars.tag_Owner).toBe(HOSTILE_TAGS.Owner);
      expect(readFileSync(join(stack.sandboxDir(HOSTILE), 'etc/motd'), 'utf8')).toContain('hostile-1');
      expect(notificationsOf(stack, HOSTILE)).toHaveLength(1);
    });

    it('never sends a hostile value raw: ExtraVariables holds only safe key=value pairs', () => {
      // Act
      const sent = invocationsOf(stack, HOSTILE)
        .map((i) => i.command)
        .filter((c) => c.document.name === APPLY_DOCUMENT);

      // Assess
      expect(sent).toHaveLength(1);
      for (const command of sent) {
        const text = extraVariables(command);
        expect(text).toMatch(DOCUMENT_PATTERN);
        for (const pair of text.split(' ')) expect(pair).toMatch(SAFE_PAIR);
        for (const value of Object.values(HOSTILE_TAGS).filter((v) => v.length > 0)) {
          expect(text.includes(value)).toBe(false);
        }
        expect(text).not.toMatch(/[`$();|&<>'"\\\n]|[^\x20-\x7e]/);
      }
    });

    it('sends encodable values as <var>_b64 that decode to the originals, and drops the empty and the too long', () => {
      // Act
      const invocation = invocationsOf(stack, HOSTILE).find(
        (i) => i.command.document.name === APPLY_DOCUMENT,
      );
      const vars = parseExtraVariables(invocation ? extraVariables(invocation.command) : '');

      // Assess
      for (const key of ['Owner', 'Cost-Center', 'Shell', 'Multi', 'Emoji']) {
        const name = VAR_OF[key] as string;
        expect(vars.has(name)).toBe(false);
        expect(decodeB64Var(vars.get(`${name}_b64`) ?? '')).toBe(HOSTILE_TAGS[key]);
      }
      for (const name of ['tag_Long', 'tag_Empty']) {
        expect(vars.has(name)).toBe(false);
        expect(vars.has(`${name}_b64`)).toBe(false);
      }
      expect(vars.get('ec2_name')).toBe('hostile-1');
    });

    it('audits what was encoded and what was dropped (VARS_ADJUSTED), without the values', async () => {
      // Act
      const adjusted = ofType(await historyOf(stack, HOSTILE), 'VARS_ADJUSTED');
      const byKey = Object.fromEntries(
        adjusted.map((e) => [
          String(e.details?.key),
          { action: e.details?.action, sentAs: e.details?.sentAs, playbook: e.details?.playbook },
        ]),
      );

      // Assess
      expect(adjusted).toHaveLength(7);
      expect(byKey).toEqual({
        tag_Owner: { action: 'encoded', sentAs: 'tag_Owner_b64', playbook: 'baseline.yml' },
        tag_Cost_Center: { action: 'encoded', sentAs: 'tag_Cost_Center_b64', playbook: 'baseline.yml' },
        tag_Shell: { action: 'encoded', sentAs: 'tag_Shell_b64', playbook: 'baseline.yml' },
        tag_Multi: { action: 'encoded', sentAs: 'tag_Multi_b64', playbook: 'baseline.yml' },
        tag_Emoji: { action: 'encoded', sentAs: 'tag_Emoji_b64', playbook: 'baseline.yml' },
        tag_Long: { action: 'dropped', sentAs: undefined, playbook: 'baseline.yml' },
        tag_Empty: { action: 'dropped', sentAs: undefined, playbook: 'baseline.yml' },
      });
      const reasons = Object.fromEntries(adjusted.map((e) => [String(e.details?.key), e.reason ?? '']));
      expect(reasons.tag_Long).toMatch(/longer than 1024/);
      expect(reasons.tag_Empty).toMatch(/empty/);
      const audit = JSON.stringify(adjusted);
      for (const value of Object.values(HOSTILE_TAGS).filter((v) => v.length > 3)) {
        expect(audit.includes(value)).toBe(false);
      }
    });

    it('ran no injected command on the host: the canary folder stays empty', () => {
      // Assess: the threat is real — SSM's own parameter check would let the raw Owner value through
      expect(`tag_Owner=${HOSTILE_TAGS.Owner}`).toMatch(DOCUMENT_PATTERN);
      expect(existsSync(canaryDir)).toBe(true);
      expect(readdirSync(canaryDir)).toEqual([]);
    });
  });

  describe('the whole run, then stop', () => {
    it('made no call beyond the commands it sent, one notification per instance, and no dead letter', () => {
      // Assess: every SendCommand request is a command of the emulator (none throttled or refused)
      expect(stack.counters()['SSM.SendCommand']?.calls).toBe(stack.commands().length);
      expect(stack.counters()['DynamoDB.UpdateItem']?.calls).toBeGreaterThan(0);
      expect(stack.notifications()).toHaveLength(3);
      expect(stack.deadLetters()).toEqual([]);
    });

    it('shuts everything down on stop', async () => {
      // Prepare
      const { aws, dynamoDbDirect } = stack.endpoints;
      const dir = stack.stateDir;

      // Act
      await stack.stop({ removeStateDir: true });

      // Assess: neither the local AWS endpoint nor DynamoDB Local answers any more
      await expect(fetch(aws, { method: 'POST' })).rejects.toThrow();
      await expect(fetch(dynamoDbDirect, { method: 'POST' })).rejects.toThrow();
      expect(existsSync(dir)).toBe(false);
    });
  });
});
