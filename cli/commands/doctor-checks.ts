// The checks behind `autoprov doctor`, one function each, taking only the collaborators they need.
// Each returns ✔/✖/! lines with a one-line fix; an AWS error while checking is a "!" (could not
// check, and why), never a crash, so one missing permission does not hide the other answers.
// They live in doctor/ by concern: the state record, the host, its SSM agent, the stack.

export { agentCheck, checkAgent } from './doctor/agent-checks.js';
export type { Check } from './doctor/check.js';
export {
  checkAnsibleInstall,
  checkBundlePolicy,
  checkEc2Instance,
  checkInventory,
  describeEc2Instance,
  hybridPolicyNote,
  instanceProfileName,
  isGone,
} from './doctor/host-checks.js';
export { checkLastExecution, checkRecord } from './doctor/record-checks.js';
export { checkQueues, checkRecentFailures } from './doctor/stack-checks.js';
