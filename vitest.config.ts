// Three tiers, each its own vitest project and npm script (README "Development"):
//   unit         Node only: pure core, handlers with mocked clients or the in-memory store, CDK assertions,
//                the local emulators' own logic. CI runs it with Java and Ansible removed from PATH.
//   integration  DynamoDB Local (a Java runtime): the state store and the handlers on a real table; and the
//                project's Node tools run as child processes (cdk CLI, the autoprov bin, the test-kit recorder).
//   e2e          the local stack and real ansible-playbook / ansible-inventory.
// A test file belongs to exactly one tier: unit is every test file the other two do not claim.
import { defineConfig } from 'vitest/config';

/**
 * Files that need DynamoDB Local (test/global-setup.ts starts one for the tier), and the ones that run the
 * project's own Node tools as child processes (the real `cdk` CLI, `npm run test:aws:update`, the `autoprov`
 * bin): those need Node only, but each spends seconds starting processes, which the unit tier's budget
 * (in-process tests, under 90 s) has no room for.
 */
export const INTEGRATION_TESTS = [
  'test/**/*.ddb.test.ts',
  'test/infra/{integ-snapshot,settings-cli}.test.ts',
  'test/cli/autoprov.test.ts',
  'test/functions/{event-detector,sweep}.test.ts',
  'test/shared/**/*.test.ts',
  'test/cli/{doctor,history,plan,retry,rollout,status}.test.ts',
];

/** Files that need the local stack or real Ansible. */
export const E2E_TESTS = [
  'test/e2e/**/*.test.ts',
  'test/playbooks/**/*.test.ts',
  'test/docs/**/*.test.ts',
  'test/**/*.ansible.test.ts',
  'test/local/ssm.test.ts',
  'test/cli/validate.test.ts',
];

export default defineConfig({
  test: {
    setupFiles: ['test/setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // vitest's default is one worker per core but one: a single worker on this project's 2-core machines.
    maxWorkers: 2,
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['test/**/*.test.ts'],
          exclude: [...INTEGRATION_TESTS, ...E2E_TESTS],
        },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: INTEGRATION_TESTS,
          globalSetup: ['test/global-setup.ts'],
          // Thousands of DynamoDB Local writes and child processes: a loaded 2-core machine took 87 s for the
          // sweep's 2,001-instance pagination test, past the 60 s default. A safety net only, as for e2e.
          testTimeout: 300_000,
        },
      },
      {
        extends: true,
        // Real ansible-playbook runs take seconds each, more on a loaded machine: generous safety nets only,
        // never what a test's outcome depends on (the tests control time through the local stack's clock).
        // Three workers: an e2e file spends much of its time waiting (child processes, DynamoDB Local, the
        // SDK's backoff under injected throttling), and with two workers a core was idle about half the time.
        // A project with its own maxWorkers runs as its own group (vitest requires it): in `npm test`, e2e
        // runs after the unit and integration files.
        test: {
          name: 'e2e',
          include: E2E_TESTS,
          testTimeout: 300_000,
          hookTimeout: 600_000,
          maxWorkers: 3,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
