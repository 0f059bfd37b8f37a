// `npm start` in text mode with the user's own fleet file, its own rules and --check: the live status
// lines, the summary, the audit history and the locations are printed, the expectations of the fleet file
// are checked, and check mode really reached ansible-playbook (nothing written in the sandbox).
import { cpSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { assertJava } from '../../scripts/local/dynamodb-local.js';
import { assertAnsible } from '../../scripts/local/ssm-agent.js';
import { playbooksDir } from '../helpers/paths.js';
import { runScript } from '../helpers/run-process.js';

const ID = 'i-0e2e0a00000000001';
const dir = mkdtempSync(join(tmpdir(), 'autoprov-e2e-start-options-'));

describe('npm start -- --fleet <file> --check (text output)', () => {
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('plays a user fleet with its own rules in check mode and prints progress, summary, history and locations', async () => {
    // Arrange
    assertJava();
    assertAnsible();
    // A rules file's folder is its playbooks folder (--rules means the same as in autoprov validate).
    cpSync(playbooksDir, dir, { recursive: true });
    writeFileSync(
      join(dir, 'rules.yaml'),
      [
        'optIn: { tagKey: "autoprov:enabled", tagValue: "true" }',
        'groupsTag: "autoprov:groups"',
        'rules:',
        '  - name: baseline',
        '    match: { vars: { ec2_platform: linux } }',
        '    playbooks: [baseline.yml]',
        '',
      ].join('\n'),
    );
    writeFileSync(
      join(dir, 'fleet.yaml'),
      [
        'title: check-mode fleet',
        'rules: rules.yaml',
        'history: chk-1',
        'instances:',
        `  - { name: chk-1, instanceId: ${ID}, tags: { "autoprov:enabled": "true" } }`,
        'expect:',
        '  chk-1: { status: SUCCESS, playbooks: { baseline.yml: 1 }, notifications: 1 }',
        '',
      ].join('\n'),
    );

    // Act
    const run = await runScript('scripts/start.ts', [
      '--fleet',
      join(dir, 'fleet.yaml'),
      '--check',
      '--keep',
    ]);

    // Assess
    expect(run.code, run.stdout.slice(-3000) + run.stderr.slice(-2000)).toBe(0);
    const out = run.stdout;
    expect(out).toContain('check-mode fleet');
    expect(out).toMatch(/Running \(time scale [\d.]+, check mode\)/);
    // Live lines as the status changes
    expect(out).toMatch(new RegExp(`${ID}\\s+chk-1\\s+\\(new\\) → PENDING`));
    expect(out).toMatch(new RegExp(`${ID}\\s+chk-1\\s+RUNNING → SUCCESS`));
    // Summary, history, locations
    expect(out).toContain('✔ Demo finished as expected');
    expect(out).toContain(`Audit history of chk-1 (${ID}):`);
    expect(out).toMatch(/CLAIMED\s+g1/);
    const stateDir = /State directory: (\S+)/.exec(out)?.[1];
    expect(stateDir, out.slice(-2000)).toBeDefined();
    if (!stateDir) return;
    // --keep kept it; check mode changed nothing in the instance's sandbox (baseline.yml writes etc/motd)
    expect(existsSync(join(stateDir, 'dynamodb'))).toBe(true);
    expect(existsSync(join(stateDir, 'sandbox', ID, 'etc', 'motd'))).toBe(false);
    rmSync(stateDir, { recursive: true, force: true });
  }, 600_000);
});
