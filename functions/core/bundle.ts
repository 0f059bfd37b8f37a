// The rules bundle: rules.yaml validated, inventories parsed and the playbooks folder hashed once at
// synth time, then shipped as rules.json next to each function's index.js. Lambdas read that JSON
// (once per cold start) instead of parsing YAML and walking a folder on every invocation.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join, posix, relative, sep } from 'node:path';
import { loadInventoryFile } from './inventory.js';
import { loadRulesFile } from './rules.js';
import type { InventoryHost, RulesBundle } from './types.js';

// The reading side (loadBundle) lives in bundle-file.ts so handlers do not bundle zod and yaml.
export {
  BUNDLE_FILE,
  BundleError,
  clearBundleCache,
  defaultBundlePath,
  loadBundle,
  writeBundle,
} from './bundle-file.js';

export const RULES_FILE = 'rules.yaml';

/** rules.json is missing, unreadable or not a bundle. */

/** Validates `<playbooksDir>/rules.yaml`, parses its inventories and hashes the folder. Throws RulesValidationError. */
export function compileBundle(playbooksDir: string): RulesBundle {
  const config = loadRulesFile(join(playbooksDir, RULES_FILE));
  const hosts = config.inventories.flatMap((file) => loadInventoryFile(join(playbooksDir, file)));
  return {
    config,
    inventoryHosts: mergeInventoryHosts(hosts),
    bundleHash: hashDirectory(playbooksDir),
    files: hashFiles(playbooksDir),
  };
}

/**
 * One host per instance id across inventories: groups are unioned, vars of a later inventory win,
 * name and inventory stay those of the first listing (where an operator will look for it).
 */
export function mergeInventoryHosts(hosts: readonly InventoryHost[]): InventoryHost[] {
  const byId = new Map<string, InventoryHost>();
  for (const host of hosts) {
    const previous = byId.get(host.instanceId);
    if (!previous) {
      byId.set(host.instanceId, host);
      continue;
    }
    byId.set(host.instanceId, {
      ...previous,
      groups: [...new Set([...previous.groups, ...host.groups])].sort(),
      vars: Object.fromEntries(
        Object.entries({ ...previous.vars, ...host.vars }).sort(([a], [b]) => (a < b ? -1 : 1)),
      ),
    });
  }
  return [...byId.values()].sort((a, b) =>
    a.instanceId < b.instanceId ? -1 : a.instanceId > b.instanceId ? 1 : 0,
  );
}

/**
 * sha256 over every regular file under `dir`, in order of relative POSIX path; each file contributes
 * `path NUL byteLength NUL content`, so moving bytes between files or renaming one changes the hash.
 * Symlinks and other non-regular entries are skipped.
 */
export function hashDirectory(dir: string): string {
  const hash = createHash('sha256');
  for (const file of listFiles(dir)) {
    const content = readFileSync(join(dir, ...file.split('/')));
    hash.update(file);
    hash.update('\0');
    hash.update(String(content.byteLength));
    hash.update('\0');
    hash.update(content);
  }
  return hash.digest('hex');
}

/** Every regular file under `dir` (relative POSIX path, in hashDirectory's order) → sha256 of its content, hex. */
export function hashFiles(dir: string): Record<string, string> {
  return Object.fromEntries(
    listFiles(dir).map((file) => [
      file,
      createHash('sha256')
        .update(readFileSync(join(dir, ...file.split('/'))))
        .digest('hex'),
    ]),
  );
}

function listFiles(dir: string): string[] {
  const files: string[] = [];
  const walk = (current: string): void => {
    for (const entry of readdirSync(current, { withFileTypes: true })) {
      const full = join(current, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.isFile()) files.push(relative(dir, full).split(sep).join(posix.sep));
    }
  };
  walk(dir);
  // Code-unit order, independent of locale and of the order the file system lists entries in.
  return files.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}
