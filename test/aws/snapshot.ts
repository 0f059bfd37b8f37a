// The real-account test's snapshot (docs/adr/0010-real-account-test-kit.md): the CloudFormation templates of
// its two stacks, synthesized in-process (no AWS call, no bundling) and normalized so that they change only
// when the stacks do — not when a function's code or the playbooks change (asset hashes), nor on every
// synth (integ-tests gives each assertion a `salt` of Date.now() to force its re-run).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { buildIntegApp } from './provisioning.js';

export const SNAPSHOT_DIR = path.join(path.dirname(new URL(import.meta.url).pathname), 'snapshot');
export const UPDATE_COMMAND = 'npm run test:aws:update';

export type Template = Record<string, unknown>;

/** Asset hashes (sha256 hex): S3 keys of code and bundle zips, asset paths in metadata. */
const ASSET_HASH = /\b[0-9a-f]{64}\b/g;

/** The templates of the test's stacks by file name (`<artifact id>.template.json`), normalized. */
export function synthIntegTemplates(): Record<string, Template> {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'autoprov-integ-'));
  try {
    const { app } = buildIntegApp({ outdir, context: { 'aws:cdk:bundling-stacks': [] } });
    const assembly = app.synth();
    const templates: Record<string, Template> = {};
    for (const stack of assembly.stacks) {
      templates[stack.templateFile] = normalizeTemplate(stack.template as Template);
    }
    return templates;
  } finally {
    fs.rmSync(outdir, { recursive: true, force: true });
  }
}

export function normalizeTemplate(template: Template): Template {
  const normalize = (value: unknown, key?: string): unknown => {
    if (key === 'salt') return '<salt>';
    if (typeof value === 'string') return value.replace(ASSET_HASH, '<asset-hash>');
    if (Array.isArray(value)) return value.map((item) => normalize(item));
    if (value !== null && typeof value === 'object') {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, normalize(v, k)]));
    }
    return value;
  };
  return normalize(template) as Template;
}

export function readSnapshot(dir = SNAPSHOT_DIR): Record<string, Template> {
  if (!fs.existsSync(dir)) return {};
  const templates: Record<string, Template> = {};
  for (const file of fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.template.json'))
    .sort()) {
    templates[file] = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')) as Template;
  }
  return templates;
}

export function writeSnapshot(templates: Record<string, Template>, dir = SNAPSHOT_DIR): void {
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  for (const [file, template] of Object.entries(templates)) {
    fs.writeFileSync(path.join(dir, file), `${JSON.stringify(template, null, 2)}\n`);
  }
}

/** First path at which two JSON values differ (`Properties.Code.S3Key`), or undefined when equal. */
function firstDifference(a: unknown, b: unknown, at: string): string | undefined {
  if (isDeepStrictEqual(a, b)) return undefined;
  const bothObjects =
    a !== null &&
    b !== null &&
    typeof a === 'object' &&
    typeof b === 'object' &&
    Array.isArray(a) === Array.isArray(b);
  if (!bothObjects) return at || '(whole value)';
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])];
  for (const key of keys) {
    const found = firstDifference(
      (a as Record<string, unknown>)[key],
      (b as Record<string, unknown>)[key],
      at ? `${at}.${key}` : key,
    );
    if (found) return found;
  }
  return at || '(whole value)';
}

/**
 * What differs between the recorded and the synthesized templates, one line per change (empty: equal).
 * Each line names the file, the section, the logical id and the first differing property.
 */
export function snapshotDifferences(
  recorded: Record<string, Template>,
  synthesized: Record<string, Template>,
): string[] {
  const lines: string[] = [];
  const files = [...new Set([...Object.keys(recorded), ...Object.keys(synthesized)])].sort();
  for (const file of files) {
    const before = recorded[file];
    const after = synthesized[file];
    if (!before) {
      lines.push(`${file}: new stack, not in the snapshot`);
      continue;
    }
    if (!after) {
      lines.push(`${file}: in the snapshot, no longer synthesized`);
      continue;
    }
    const sections = [...new Set([...Object.keys(before), ...Object.keys(after)])];
    for (const section of sections) {
      const b = before[section];
      const a = after[section];
      if (isDeepStrictEqual(a, b)) continue;
      const isMap = (v: unknown): v is Record<string, unknown> =>
        v !== null && typeof v === 'object' && !Array.isArray(v);
      if (!isMap(a) || !isMap(b)) {
        lines.push(`${file}: ${section} changed`);
        continue;
      }
      for (const id of [...new Set([...Object.keys(b), ...Object.keys(a)])].sort()) {
        if (!(id in a)) lines.push(`${file}: ${section}.${id} removed`);
        else if (!(id in b)) lines.push(`${file}: ${section}.${id} added`);
        else {
          const where = firstDifference(b[id], a[id], '');
          if (where) lines.push(`${file}: ${section}.${id} changed at ${where}`);
        }
      }
    }
  }
  return lines;
}
