// CDK app entry of the real-account test (`cdk deploy --app "npx tsx test/aws/app.ts"`, run by
// test/aws/run.ts): the app the CLI synthesizes and deploys.
import { buildIntegApp } from './provisioning.js';

buildIntegApp().app.synth();
