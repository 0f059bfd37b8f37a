// CDK app entry (cdk.json "app"). Reads the deployment settings from context, runs cdk-nag on every synth,
// and fails the synth on ANY unacknowledged finding, warnings included.
import { App } from 'aws-cdk-lib';
import { addNagChecks, formatFindings, readNagReport } from './nag.js';
import { readSettings } from './settings.js';
import { AutoProvisionerStack } from './stack.js';

const app = new App();
const settings = readSettings(app.node);
addNagChecks(app);
new AutoProvisionerStack(app, settings.stackName, { demo: settings.demo, provisioner: settings.provisioner });
const assembly = app.synth();

const { findings } = readNagReport(assembly.directory);
if (findings.length > 0) {
  console.error(`cdk-nag: ${findings.length} unacknowledged finding(s):\n${formatFindings(findings)}`);
  process.exitCode = 1;
}
