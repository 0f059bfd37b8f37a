// The whole stack on one machine (docs/architecture.md "How local mode proves fidelity"): the synthesized,
// bundled assembly in cdk.out run against local AWS stand-ins (scripts/local/README.md says what each one
// emulates and how faithfully). Used by `npm start`, the end-to-end tests and the benchmark through the
// handle `startLocalStack` returns. This file is the public entry; the parts live in scripts/local/stack/:
//   compose.ts        startLocalStack: starts the parts below in order, registers their shutdown
//   options.ts        the options and their defaults, the run's directories
//   storage.ts        DynamoDB Local, the counting proxy, the table, the harness's StateStore
//   emulators.ts      the service stand-ins configured from the template (IAM, S3, SNS, SSM + agent, …)
//   documents.ts      which SSM documents local mode runs
//   functions.ts      the local AWS endpoint and the bundled functions behind it
//   async-invoker.ts  Lambda's asynchronous retries, then dead letters
//   triggers.ts       EventBridge rules and the sweep schedule
//   workflow.ts       the state machine in the local runner
//   change-feed.ts    live InstanceChange events
//   handle.ts         the LocalStack handle: counters, executions, waitForIdle, the clock, stop
export { SSM_ONLY_INSTANCE_PROFILE } from '../../cli/fleet-file.js';
export { type DeadLetter, describeError } from './stack/async-invoker.js';
export { type InstanceChange, statusDetail } from './stack/change-feed.js';
export { startLocalStack } from './stack/compose.js';
export type { LocalCommand, LocalExecution, LocalStack } from './stack/handle.js';
export type { LocalStackOptions } from './stack/options.js';
