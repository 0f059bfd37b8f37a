// The rules bundle built from the local playbooks folder, exactly as synth builds the deployed one
// (same validation, inventory merge and content hash), so plan's fingerprints compare with the records'.
import { existsSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { hashDirectory, mergeInventoryHosts } from '../functions/core/bundle.js';
import { loadInventoryFile } from '../functions/core/inventory.js';
import { loadRulesFile } from '../functions/core/rules.js';
import type { RulesBundle } from '../functions/core/types.js';
import { type ParsedArgs, stringOption } from './args.js';

export const DEFAULT_RULES_PATH = join('playbooks', 'rules.yaml');

export const RULES_OPTION = {
  rules: {
    type: 'string',
    value: '<file>',
    description: `rules file (its folder is the playbooks folder) or playbooks folder (default ${DEFAULT_RULES_PATH})`,
  },
} as const;

/**
 * `--rules <path>`: a rules file, whose folder is the playbooks folder, or a playbooks folder (its
 * rules.yaml). The same meaning in validate, plan, doctor and `npm start` (scripts/local/assembly.ts).
 */
export function resolveRulesPath(path: string): string {
  return existsSync(path) && statSync(path).isDirectory() ? join(path, 'rules.yaml') : path;
}

export function rulesPathFrom(args: ParsedArgs, cwd: string): string {
  return resolveRulesPath(resolve(cwd, stringOption(args, 'rules') ?? DEFAULT_RULES_PATH));
}

/** Throws RulesValidationError (with every issue) when the rules are invalid. */
export function loadLocalBundle(rulesPath: string): RulesBundle {
  const config = loadRulesFile(rulesPath);
  const dir = dirname(rulesPath);
  // Inventory paths as rules.yaml writes them (relative to the playbooks folder), for messages.
  const hosts = config.inventories.flatMap((file) =>
    loadInventoryFile(join(dir, file)).map((host) => ({ ...host, inventory: file })),
  );
  return { config, inventoryHosts: mergeInventoryHosts(hosts), bundleHash: hashDirectory(dir) };
}

/** A path as the operator thinks of it: relative to where they ran the command, unless it lies elsewhere. */
export function displayPath(cwd: string, path: string): string {
  const rel = relative(cwd, path);
  return rel === '' || rel.startsWith('..') || isAbsolute(rel) ? path : rel;
}
