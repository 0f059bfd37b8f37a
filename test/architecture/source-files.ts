// The repository's own TypeScript sources, read for the architecture tests (no test files, no node_modules).
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { repoRoot as REPO_ROOT } from '../helpers/paths.js';

export { REPO_ROOT };

/** Every `.ts` file under `dir` (relative to the repository root), as `{ path, text }`, path with `/`. */
export function sourceFiles(dir: string): { path: string; text: string }[] {
  const out: { path: string; text: string }[] = [];
  const walk = (absolute: string) => {
    for (const entry of readdirSync(absolute, { withFileTypes: true })) {
      if (entry.name === 'node_modules' || entry.name.startsWith('.')) continue;
      const child = join(absolute, entry.name);
      if (entry.isDirectory()) walk(child);
      else if (entry.name.endsWith('.ts'))
        out.push({
          path: relative(REPO_ROOT, child).split('\\').join('/'),
          text: readFileSync(child, 'utf8'),
        });
    }
  };
  walk(join(REPO_ROOT, dir));
  return out.sort((a, b) => a.path.localeCompare(b.path));
}
