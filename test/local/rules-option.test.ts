// `--rules` has one meaning in `autoprov validate`/`plan` and `npm start`: a rules file whose folder is
// the playbooks folder, or a playbooks folder; a broken rules file is reported under the user's path.
import { cpSync, existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveRulesPath } from '../../cli/bundle.js';
import { AssemblyError, stagePlaybooks } from '../../scripts/local/assembly.js';
import { playbooksDir } from '../helpers/paths.js';

function ownPlaybooks(rules: string): string {
  const dir = join(mkdtempSync(join(tmpdir(), 'autoprov-rules-option-')), 'mine');
  cpSync(playbooksDir, dir, { recursive: true });
  writeFileSync(join(dir, 'only-here.yml'), '- hosts: all\n  tasks: []\n');
  writeFileSync(join(dir, 'custom.yaml'), rules);
  return dir;
}

const RULES = 'rules:\n  - name: mine\n    match: {}\n    playbooks: [only-here.yml]\n';

describe('--rules', () => {
  it('npm start takes a rules file with the playbooks beside it, as validate and plan do', () => {
    const dir = ownPlaybooks(RULES);

    const staged = stagePlaybooks({ rules: join(dir, 'custom.yaml') });

    // The playbook that exists only beside the user's rules file is in the synthesized folder.
    expect(existsSync(join(staged, 'only-here.yml'))).toBe(true);
    expect(resolveRulesPath(join(dir, 'custom.yaml'))).toBe(join(dir, 'custom.yaml'));
  });

  it('validate and plan take a playbooks folder, as npm start does', () => {
    const dir = ownPlaybooks(RULES);
    expect(resolveRulesPath(dir)).toBe(join(dir, 'rules.yaml'));
    expect(stagePlaybooks({ rules: dir })).toBe(dir);
  });

  it("reports a broken rules file under the user's path, not a copy under .local/", () => {
    const dir = ownPlaybooks('rules:\n  - name: broken\n    playbooks: [missing.yml]\n    retries: 3\n');
    const file = join(dir, 'custom.yaml');

    let error: unknown;
    try {
      stagePlaybooks({ rules: file, check: true });
    } catch (caught) {
      error = caught;
    }

    expect(error).toBeInstanceOf(AssemblyError);
    const message = (error as Error).message;
    expect(message).toContain(`${file}: rules[0].playbooks[0]: playbook "missing.yml" does not exist`);
    expect(message).not.toContain('.local');
  });
});
