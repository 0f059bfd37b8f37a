// The python3 the local SSM agent's scripts get from `PYTHON_INTERPRETER=$(which python3)`: the first one on
// the agent's root-like PATH (scripts/local/local-ansible.ts), as on an instance. A user's pyenv shim on the
// test runner's own PATH would run every Ansible module through `pyenv exec`, about 0.15 s more each.
import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';
import { AGENT_PATH } from '../../scripts/local/local-ansible.js';

export function agentPython3(): string {
  for (const dir of AGENT_PATH.split(':')) {
    const candidate = join(dir, 'python3');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  throw new Error(
    `python3 was not found on the local agent's PATH (${AGENT_PATH}): install it (sudo apt-get install -y ansible-core brings it).`,
  );
}
