// Where tests find the repository and its fixtures. Everything a test reads is inside the repository
// (test/fixtures/README.md says where each sample comes from).
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (the folder holding package.json). */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The shipped playbooks/ folder. */
export const playbooksDir = join(repoRoot, 'playbooks');

/** `test/fixtures`. */
export const fixturesDir = join(repoRoot, 'test', 'fixtures');

/** The local SSM's copy of the AWS-ApplyAnsiblePlaybooks parameter schema (ssm:GetDocument). */
export const applyAnsibleSchemaPath = join(
  repoRoot,
  'scripts',
  'local',
  'ssm-documents',
  'AWS-ApplyAnsiblePlaybooks.parameters.json',
);

/** Path of one fixture, e.g. `fixture('inventories', 'onprem.ini')`; throws if it does not exist. */
export function fixture(...segments: string[]): string {
  const path = join(fixturesDir, ...segments);
  if (!existsSync(path)) throw new Error(`Fixture ${path} does not exist (looked under ${fixturesDir}).`);
  return path;
}
