// The tier configuration itself (vitest.config.ts, docs/adr/0011-test-tiers-and-controlled-time.md). CI runs
// each tier alone (`npm run test:<tier>`), so a config that only breaks `npm test` — all three projects in one
// run — would pass CI: these checks are what stands between a config edit and a broken `npm test`.
import { describe, expect, it } from 'vitest';
import config from '../../vitest.config.js';

interface Project {
  readonly test?: {
    readonly name?: string;
    readonly maxWorkers?: number | string;
    readonly sequence?: { readonly groupOrder?: number };
  };
}

const root = config.test ?? {};
const projects = (root.projects ?? []) as Project[];

describe('test tiers (vitest projects)', () => {
  it('are unit, integration and e2e', () => {
    expect(projects.map((p) => p.test?.name)).toEqual(['unit', 'integration', 'e2e']);
  });

  it('share a sequence group only when they share maxWorkers (vitest refuses to start npm test otherwise)', () => {
    // Arrange
    const groups = new Map<number, Set<string>>();
    for (const project of projects) {
      const group = project.test?.sequence?.groupOrder ?? 0;
      const workers = String(project.test?.maxWorkers ?? root.maxWorkers);
      groups.set(group, (groups.get(group) ?? new Set()).add(workers));
    }

    // Assess
    for (const [group, workers] of groups) expect([...workers], `group ${group}`).toHaveLength(1);
  });
});
