// Child-process entry that synthesizes the stack WITH bundling into a given directory, for local mode
// (assembly.ts). In-process synthesis (infra/synth.ts) instead of the CDK CLI because it can point the
// stack at another playbooks folder (`--rules`), which cdk.json context cannot. cdk-nag is not run here:
// `npm run synth` and the infra tests own that check; the template is otherwise the one the CLI deploys.
//   usage: node --import tsx scripts/local/synth-assembly.ts <outdir> <playbooksDir>
import { synthApp } from '../../infra/synth.js';

const [outdir, playbooksDir] = process.argv.slice(2);
if (!outdir || !playbooksDir) {
  console.error('usage: synth-assembly.ts <outdir> <playbooksDir>');
  process.exit(2);
}
try {
  synthApp({ bundling: true, outdir, provisioner: { playbooksDir } });
} catch (error) {
  console.error(error instanceof Error ? error.message : String(error));
  process.exit(1);
}
