// The host's ansible-core, as the local SSM agent uses it: the root-like PATH its scripts run with, where
// `ansible-playbook` is looked up on it, and the install command a missing one is reported with.
import { accessSync, constants, statSync } from 'node:fs';
import { join } from 'node:path';

export class AnsibleMissingError extends Error {
  override name = 'AnsibleMissingError';
}

export const INSTALL_HINT = 'sudo apt-get install -y ansible-core';

/** Fails with the install command when ansible-playbook is not on PATH. */
export function assertAnsible(path = AGENT_PATH): string {
  // Looked up like a shell would (first executable on PATH), without needing a shell on that PATH.
  const found = path
    .split(':')
    .filter((dir) => dir !== '')
    .map((dir) => join(dir, 'ansible-playbook'))
    .find((candidate) => {
      try {
        accessSync(candidate, constants.X_OK);
        return statSync(candidate).isFile();
      } catch {
        return false;
      }
    });
  if (found === undefined) {
    throw new AnsibleMissingError(
      `The local SSM agent runs playbooks with Debian's ansible-core and \`ansible-playbook\` was not found on PATH (${path}). ` +
        `Install it: ${INSTALL_HINT}`,
    );
  }
  return found;
}

/** A root-like PATH: the system python (not a user's pyenv/venv) runs Ansible's modules, as on an instance. */
export const AGENT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
