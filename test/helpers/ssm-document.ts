// The AWS-ApplyAnsiblePlaybooks parameters our builder makes, and the document's command line pasted into a
// shell script textually, exactly as the document does: shared by the unit tier's shell properties and the
// e2e tier's run of real ansible-playbook.
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  type ApplyPlaybooksInput,
  buildApplyPlaybooksParameters,
} from '../../functions/core/ssm-parameters.js';
import type { PlannedPlaybook } from '../../functions/core/types.js';

export const BUNDLE_URL =
  'https://autoprov-bundle-123456789012.s3.eu-west-1.amazonaws.com/bundles/abc123.zip';

export function playbook(overrides: Partial<PlannedPlaybook> = {}): PlannedPlaybook {
  return {
    file: 'nginx.yml',
    extraVars: {},
    timeoutSeconds: 900,
    maxAttempts: 3,
    backoffSeconds: 60,
    check: false,
    rule: 'web',
    ...overrides,
  };
}

export function build(overrides: Partial<ApplyPlaybooksInput> = {}) {
  return buildApplyPlaybooksParameters({
    bundleUrl: BUNDLE_URL,
    playbook: playbook(),
    hostVars: {},
    installDependencies: false,
    identity: { instanceId: 'i-0123456789abcdef0' },
    ...overrides,
  });
}

/** Fails loudly (never skips) when a tool the test needs is missing. */
export function requireTool(command: string, install: string): void {
  const probe = spawnSync(command, ['--version'], { encoding: 'utf8' });
  if (probe.error) throw new Error(`${command} is required by this test but was not found: ${install}`);
}

/**
 * The document's line `ansible-playbook -i "localhost," -c local -e "{{ExtraVariables}}" "{{Verbose}}"
 * "{{PlaybookFile}}"`, with the parameters substituted as text, in a script run by `shell` in `cwd`. With
 * `fake`, a stand-in ansible-playbook prints its arguments one per line, so a test sees exactly what the
 * shell made of the text (a file on PATH, since dash allows no `-` in function names).
 */
export function runDocumentLine(
  shell: string,
  parameters: Record<string, string[]>,
  options: { fake: boolean; cwd: string },
) {
  const line =
    `ansible-playbook -i "localhost," -c local -e "${parameters.ExtraVariables?.[0]}" ` +
    `"${parameters.Verbose?.[0]}" "${parameters.PlaybookFile?.[0]}"`;
  const script = path.join(options.cwd, `_script-${shell}.sh`);
  writeFileSync(script, `${line}\n`);
  let PATH = process.env.PATH;
  if (options.fake) {
    const fakeBin = path.join(options.cwd, 'fake-bin');
    mkdirSync(fakeBin, { recursive: true });
    writeFileSync(path.join(fakeBin, 'ansible-playbook'), `#!/bin/sh\nprintf '%s\\n' "$@"\n`, {
      mode: 0o755,
    });
    PATH = `${fakeBin}:${PATH}`;
  }
  // A bare environment: nothing in it for an expansion to pick up. Ansible needs a home and a UTF-8 locale.
  const env = { PATH, HOME: options.cwd, LC_ALL: 'C.UTF-8' };
  return spawnSync(shell, [script], { cwd: options.cwd, encoding: 'utf8', env });
}
