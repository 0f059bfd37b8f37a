// The rules bundle: rules.yaml validated, inventories parsed and the playbooks folder hashed once at
// synth time, then shipped as rules.json next to each function's index.js. Lambdas read that JSON
// (once per cold start) instead of parsing YAML and walking a folder on every invocation.
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, posix, relative, sep } from 'node:path';
import { loadInventoryFile } from './inventory.js';
import { loadRulesFile } from './rules.js';
import type { InventoryHost, RulesBundle } from './types.js';

export const RULES_FILE = 'rules.yaml';
export const BUNDLE_FILE = 'rules.json';

/** rules.json is missing, unreadable or not a bundle. */
export class BundleError extends Error {
  override name = 'BundleError';
}

/** Validates `<playbooksDir>/rules.yaml`, parses its inventories and hashes the folder. Throws RulesValidationError. */
export function compileBundle(playbooksDir: string): RulesBundle {
  const config = loadRulesFile(join(playbooksDir, RULES_FILE));
  const hosts = config.inventories.flatMap((file) => loadInventoryFile(join(playbooksDir, file)));
  return { config, inventoryHosts: mergeInventoryHosts(hosts), bundleHash: hashDirectory(playbooksDir) };
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

export function writeBundle(bundle: RulesBundle, path: string): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${JSON.stringify(bundle, null, 2)}\n`);
}

const cache = new Map<string, RulesBundle>();

/** Where a Lambda finds its bundle: RULES_BUNDLE_PATH, else rules.json next to the handler code. */
export function defaultBundlePath(): string {
  return process.env.RULES_BUNDLE_PATH ?? join(process.env.LAMBDA_TASK_ROOT ?? process.cwd(), BUNDLE_FILE);
}

/** Reads a compiled rules.json, once per path per process (a Lambda cold start). */
export function loadBundle(path: string = defaultBundlePath()): RulesBundle {
  const cached = cache.get(path);
  if (cached) return cached;
  let text: string;
  try {
    if (!lstatSync(path).isFile()) throw new BundleError(`${path} is not a file`);
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if (error instanceof BundleError) throw error;
    const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
    throw new BundleError(
      missing
        ? `rules bundle not found at ${path}: it is built from playbooks/rules.yaml at synth time and copied next to the function code; redeploy, or set RULES_BUNDLE_PATH to a rules.json written by writeBundle(compileBundle('playbooks'), path)`
        : `cannot read rules bundle ${path}: ${(error as Error).message}`,
      { cause: error },
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new BundleError(
      `rules bundle ${path} is not valid JSON (${(error as Error).message}); rebuild it with compileBundle`,
      {
        cause: error,
      },
    );
  }
  const bundle = assertBundleShape(parsed, path);
  cache.set(path, bundle);
  return bundle;
}

/** Forgets cached bundles (tests, and the local mode after editing rules.yaml). */
export function clearBundleCache(): void {
  cache.clear();
}

/** Minimal shape check: rules.json is produced by compileBundle, so this catches a wrong or truncated file, not a hand edit. */
function assertBundleShape(value: unknown, path: string): RulesBundle {
  const problems: string[] = [];
  const v = value as Partial<Record<keyof RulesBundle, unknown>> | null;
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    problems.push('top level is not an object');
  } else {
    if (typeof v.bundleHash !== 'string' || !/^[0-9a-f]{64}$/.test(v.bundleHash)) {
      problems.push('bundleHash is not a sha256 hex string');
    }
    if (!Array.isArray(v.inventoryHosts)) problems.push('inventoryHosts is not a list');
    const config = v.config as Record<string, unknown> | null | undefined;
    if (typeof config !== 'object' || config === null) {
      problems.push('config is missing');
    } else {
      if (!Array.isArray(config.rules)) problems.push('config.rules is not a list');
      if (typeof config.optIn !== 'object' || config.optIn === null) problems.push('config.optIn is missing');
      if (typeof config.hold !== 'object' || config.hold === null) problems.push('config.hold is missing');
      if (typeof config.groupsTag !== 'string') problems.push('config.groupsTag is missing');
      if (typeof config.defaults !== 'object' || config.defaults === null)
        problems.push('config.defaults is missing');
    }
  }
  if (problems.length > 0) {
    throw new BundleError(
      `${path} is not a rules bundle (${problems.join('; ')}); rebuild it with compileBundle`,
    );
  }
  return value as RulesBundle;
}
