// Where tests find the repository and the fixtures shared between the lead and the helpers.
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (the folder holding package.json). */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The shipped playbooks/ folder. */
export const playbooksDir = join(repoRoot, 'playbooks');

/** `<repoRoot>/../shared`: design notes and fixtures that live beside the repository. */
export const sharedDir = resolve(repoRoot, '..', 'shared');

if (!existsSync(join(sharedDir, 'fixtures'))) {
  throw new Error(
    `Shared fixtures not found at ${join(sharedDir, 'fixtures')}: tests expect the "shared" folder (fixtures/events, fixtures/inventories, fixtures/ssm) next to the repository at ${sharedDir}. Check it out or copy it there.`,
  );
}

/** `<sharedDir>/fixtures`. */
export const sharedFixtures = join(sharedDir, 'fixtures');

/** Path of one shared fixture, e.g. `sharedFixture('inventories', 'onprem.ini')`; throws if it does not exist. */
export function sharedFixture(...segments: string[]): string {
  const path = join(sharedFixtures, ...segments);
  if (!existsSync(path))
    throw new Error(`Shared fixture ${path} does not exist (looked under ${sharedFixtures}).`);
  return path;
}
