// CDK app entry (cdk.json "app"). Reads the deployment settings from context, runs cdk-nag on every synth,
// and fails the synth on ANY unacknowledged finding, warnings included. A bad setting prints one line
// (`Error: <what, which key, how to fix>`) and exits 1: no stack trace for a typo in `-c`.
import { App } from 'aws-cdk-lib';
import { addNagChecks, formatFindings, readNagReport } from './nag.js';
import { readSettings, SettingsError } from './settings.js';
import { AutoProvisionerStack } from './stack.js';

try {
  const app = new App();
  const settings = readSettings(app.node);
  addNagChecks(app);
  new AutoProvisionerStack(app, settings.stackName, {
    demo: settings.demo,
    provisioner: settings.provisioner,
  });
  const assembly = app.synth();

  const { findings } = readNagReport(assembly.directory);
  if (findings.length > 0) {
    console.error(`cdk-nag: ${findings.length} unacknowledged finding(s):\n${formatFindings(findings)}`);
    process.exitCode = 1;
  }
} catch (error) {
  if (!(error instanceof SettingsError)) throw error;
  console.error(`Error: ${error.message}`);
  process.exit(1);
}
