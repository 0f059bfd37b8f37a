// The demo's rules: the shipped rules.yaml enables no inventory (a plain deploy must not provision
// placeholder nodes), so the demo enables the sample one itself, and `npm start` still provisions the
// hybrid nodes its fleet registers.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileBundle } from '../../functions/core/bundle.js';
import { stagePlaybooks } from '../../scripts/local/assembly.js';
import { loadDemoFile } from '../../scripts/local/demo.js';
import { playbooksDir, repoRoot } from '../helpers/paths.js';
import { SAMPLE_INVENTORY } from '../helpers/sample-inventory.js';

describe("local mode's demo rules", () => {
  const demo = loadDemoFile(join(repoRoot, 'scripts', 'local', 'fleets', 'demo.yaml'));

  it('enable the sample inventory, whose hosts are exactly the hybrid nodes the demo registers', () => {
    expect(demo.inventories).toEqual([SAMPLE_INVENTORY]);
    const staged = stagePlaybooks({ inventories: demo.inventories });
    const bundle = compileBundle(staged);
    const hybrid = demo.fleet.instances.map((i) => i.instanceId).filter((id) => id?.startsWith('mi-'));
    expect(bundle.inventoryHosts.map((h) => h.instanceId).sort()).toEqual([...hybrid].sort());
    expect(hybrid).toHaveLength(3);
    // Only the inventories differ from the shipped rules.
    const shipped = compileBundle(playbooksDir);
    expect({ ...bundle.config, inventories: [] }).toEqual(shipped.config);
  });

  it('leave the shipped playbooks folder as it is when nothing is overridden', () => {
    expect(stagePlaybooks({})).toBe(playbooksDir);
    expect(compileBundle(playbooksDir).inventoryHosts).toEqual([]);
  });
});
