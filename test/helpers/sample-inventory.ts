// The sample static inventory (playbooks/inventory/onprem.example.ini: three placeholder hybrid nodes).
// The shipped rules.yaml does not enable it (a plain deploy must not provision hosts that do not exist);
// local mode's demo does, through its `inventories` key. Tests that need the sample's nodes stage the
// playbooks the same way the demo does.
import { stagePlaybooks } from '../../scripts/local/assembly.js';

/** Path of the sample inventory, relative to the playbooks folder (as rules.yaml's `inventories` lists it). */
export const SAMPLE_INVENTORY = 'inventory/onprem.example.ini';

/** The managed-node ids the sample lists, in file order. */
export const SAMPLE_NODES = ['mi-0123456789abcdef0', 'mi-0abcdef1234567890', 'mi-0fedcba9876543210'] as const;

/** The shipped playbooks/ with the sample inventory enabled (a staged copy, as the demo synthesizes it). */
export function samplePlaybooksDir(): string {
  return stagePlaybooks({ inventories: [SAMPLE_INVENTORY] });
}
