// Reading and writing the compiled rules bundle (rules.json). Kept apart from bundle.ts (which compiles
// rules.yaml with zod and yaml) so the Lambda handlers that only read the bundle stay small.
import { lstatSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { RulesBundle } from './types.js';

export const BUNDLE_FILE = 'rules.json';

export class BundleError extends Error {
  override name = 'BundleError';
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
