// The direction of imports (docs/architecture.md "Layout and import direction"): the product — cli/,
// functions/, infra/ — never imports the local stack or other dev tooling in scripts/, and the pure core
// imports no AWS SDK and no Lambda types.
import { posix } from 'node:path';
import { describe, expect, it } from 'vitest';
import { sourceFiles } from './source-files.js';

/** Every module specifier a file imports or re-exports (static, dynamic and side-effect imports). */
function specifiers(text: string): string[] {
  const found: string[] = [];
  const patterns = [
    /\b(?:import|export)\s[^'"]*?\sfrom\s*['"]([^'"]+)['"]/g,
    /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g,
    /^\s*import\s*['"]([^'"]+)['"]/gm,
  ];
  for (const pattern of patterns) for (const match of text.matchAll(pattern)) found.push(match[1] as string);
  return found;
}

/** `path` → the repository-relative paths of the repository files it imports. */
function localImports(path: string, text: string): string[] {
  return specifiers(text)
    .filter((s) => s.startsWith('.'))
    .map((s) => posix.normalize(posix.join(posix.dirname(path), s)));
}

describe('import direction', () => {
  const product = [...sourceFiles('cli'), ...sourceFiles('functions'), ...sourceFiles('infra')];

  it('finds the product sources it checks', () => {
    expect(product.length).toBeGreaterThan(50);
    expect(
      specifiers("import { a } from './a.js';\nimport type { B } from \"../b.js\";\nawait import('./c.js');"),
    ).toEqual(['./a.js', '../b.js', './c.js']);
  });

  it('never imports scripts/ from cli/, functions/ or infra/', () => {
    const offending = product.flatMap((file) =>
      localImports(file.path, file.text)
        .filter((target) => target.startsWith('scripts/'))
        .map((target) => `${file.path} → ${target.replace(/\.js$/, '.ts')}`),
    );
    expect(offending).toEqual([]);
  });

  it('imports no AWS SDK and no Lambda types in functions/core', () => {
    const offending = sourceFiles('functions/core').flatMap((file) =>
      specifiers(file.text)
        .filter(
          (s) => s.startsWith('@aws-sdk/') || s === 'aws-lambda' || s.startsWith('@aws-lambda-powertools/'),
        )
        .map((s) => `${file.path} → ${s}`),
    );
    expect(offending).toEqual([]);
  });
});
