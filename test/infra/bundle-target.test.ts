// Functions are bundled for Lambda's Node 22 (docs/adr/0013-one-node-version-story.md) while local mode and
// the tests run on the machine's Node (20 today). That is only honest while a node22 build equals a node20
// build: this test builds every function both ways and fails the day they differ.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';
import { BUNDLE_TARGET } from '../../infra/constructs/provisioner-function.js';
import { repoRoot } from '../helpers/paths.js';

const entries = readdirSync(join(repoRoot, 'functions'), { withFileTypes: true })
  .filter((entry) => entry.isDirectory() && !['core', 'shared'].includes(entry.name))
  .map((entry) => `functions/${entry.name}/handler.ts`);

async function bundle(entry: string, target: string): Promise<string> {
  const result = await build({
    entryPoints: [join(repoRoot, entry)],
    bundle: true,
    write: false,
    platform: 'node',
    format: 'esm',
    minify: true,
    target,
    mainFields: ['module', 'main'],
    external: ['@aws-sdk/*'],
    logLevel: 'silent',
  });
  return result.outputFiles[0]?.text ?? '';
}

describe('bundle target', () => {
  it("is Lambda's runtime", () => {
    expect(BUNDLE_TARGET).toBe('node22');
  });

  it.each(entries)(
    '%s bundles the same for node22 as for node20, so local mode runs what Lambda runs',
    async (entry) => {
      const [lambda, local] = await Promise.all([bundle(entry, BUNDLE_TARGET), bundle(entry, 'node20')]);
      expect(lambda.length).toBeGreaterThan(1000);
      expect(lambda === local, `${entry}: the node22 bundle differs from the node20 one (ADR 0013)`).toBe(
        true,
      );
    },
  );
});
