// Issue 13's identity example, end to end with real ansible-playbook: a host whose Name tag had to be
// encoded (tag_Name_b64) must not be labelled `localhost` by the shipped baseline.yml. The ExtraVariables
// are the ones autoprov builds for SendCommand (buildApplyPlaybooksParameters), passed as the
// AWS-ApplyAnsiblePlaybooks document passes them (`-e "<ExtraVariables>"`), the run confined to a scratch
// root by the test-only `autoprov_root` var (as test/playbooks/samples.test.ts does).
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApplyPlaybooksParameters } from '../../functions/core/ssm-parameters.js';
import { agentPython3 } from '../helpers/agent-python.js';
import { playbooksDir } from '../helpers/paths.js';

const scratch = mkdtempSync(join(tmpdir(), 'autoprov-identity-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const env = {
  ...process.env,
  ANSIBLE_NOCOLOR: '1',
  ANSIBLE_HOME: join(scratch, 'ansible-home'),
  ANSIBLE_LOCAL_TEMP: join(scratch, 'ansible-tmp'),
  ANSIBLE_RETRY_FILES_ENABLED: '0',
  HOME: join(scratch, 'home'),
};
/** The document's interpreter (`PYTHON_INTERPRETER=$(which python3)` on the agent). */
const python3 = agentPython3();

beforeAll(() => {
  const probe = spawnSync('ansible-playbook', ['--version'], { env, encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    throw new Error(
      'ansible-playbook is required for this test: `sudo apt-get install -y ansible-core` or `pipx install ansible-core`.',
    );
  }
  mkdirSync(env.HOME, { recursive: true });
});

function runBaseline(
  extraVariables: string,
  root: string,
): Promise<{ status: number | null; output: string }> {
  const args = ['-i', 'localhost,', '-c', 'local', '-e', `ansible_python_interpreter=${python3}`];
  args.push('-e', `autoprov_root=${root}`, '-e', extraVariables, join(playbooksDir, 'baseline.yml'));
  return new Promise((resolve) => {
    const child = spawn('ansible-playbook', args, { cwd: scratch, env });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.on('close', (status) => resolve({ status, output }));
  });
}

describe('shipped playbooks and identity (issue 13)', () => {
  it('a host whose Name is encoded (tag_Name_b64) is labelled with its instance id, never localhost (baseline.yml, real ansible-playbook)', async () => {
    const id = 'i-0123456789abcdef0';
    const name = 'web 1; $(reboot)';
    const { parameters } = buildApplyPlaybooksParameters({
      bundleUrl: 'https://bucket.s3.us-east-1.amazonaws.com/bundle.zip',
      playbook: {
        file: 'baseline.yml',
        extraVars: {},
        timeoutSeconds: 600,
        maxAttempts: 1,
        backoffSeconds: 0,
        check: false,
        rule: 'baseline',
      },
      hostVars: { tag_Name: name, ec2_name: name, ec2_instance_type: 't3.micro' },
      installDependencies: false,
      identity: { instanceId: id, name },
    });
    const root = join(scratch, 'root');
    mkdirSync(root, { recursive: true });

    const run = await runBaseline(parameters.ExtraVariables?.[0] ?? '', root);

    expect(run.status, run.output).toBe(0);
    const motd = readFileSync(join(root, 'etc/motd'), 'utf8');
    expect(motd).toMatch(new RegExp(`^  ${id} \\(t3\\.micro\\)$`, 'm'));
    expect(motd).not.toContain('localhost');
  });
});
