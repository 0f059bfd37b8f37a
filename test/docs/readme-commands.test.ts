// The README's commands work as written. Every command of a ```bash block of README.md is either run here,
// exactly as written, or listed below with the reason it is not: it needs an AWS account, or it is run by
// CI or by a named test. A new command in the README is run here unless someone lists it with a reason.
//
// `npx cdk deploy <args>` needs an account; what it deploys is what `npx cdk synth <args>` synthesizes
// (same app, same context, same bundling), so the test runs the synth with exactly the README's arguments
// and checks the template it wrote.
//
// The commands run in a scratch copy of the checkout (test/helpers/checkout.ts: they write cdk.out, which
// the local-mode suites read at the same time in the repository), with the CDK CLI kept offline (no version
// check, telemetry or notices, set through the environment and a user-level ~/.cdk.json).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Checkout, makeCheckout, runShell } from '../helpers/checkout.js';
import { repoRoot } from '../helpers/paths.js';

const README = readFileSync(join(repoRoot, 'README.md'), 'utf8');

/** The commands of the README's ```bash blocks: continuation lines joined, comments and blank lines dropped. */
function bashCommands(markdown: string): string[] {
  const commands: string[] = [];
  for (const block of markdown.matchAll(/^```bash\n([\s\S]*?)^```$/gm)) {
    const joined = (block[1] ?? '').replace(/\\\n\s*/g, '');
    for (const line of joined.split('\n')) {
      const command = stripComment(line).trim();
      if (command !== '') commands.push(command);
    }
  }
  return commands;
}

/** Drops a shell comment: a `#` at the start of a word, outside quotes. */
function stripComment(line: string): string {
  let quote: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quote) {
      if (c === quote) quote = undefined;
    } else if (c === "'" || c === '"') {
      quote = c;
    } else if (c === '#' && (i === 0 || /\s/.test(line[i - 1] ?? ''))) {
      return line.slice(0, i);
    }
  }
  return line;
}

/** Commands that need an AWS account (credentials and a real CloudFormation/EC2/SSM to talk to). */
const NEEDS_ACCOUNT: readonly { match: RegExp; reason: string }[] = [
  { match: /^aws /, reason: 'the AWS CLI acts on resources of a real account' },
  {
    match: /^([A-Z_]+=\S+ )*npm run test:aws( |$)/,
    reason:
      'the integration test kit: deploys the stack with a demo instance to a real account, then destroys it',
  },
  {
    match: /^npx cdk (deploy|bootstrap|destroy)( |$)/,
    reason: 'deploys to (or bootstraps, destroys in) a real account; its synth equivalent runs below',
  },
];

/** Commands run by CI or by another test instead of here, with where (a file that must contain `marker`). */
const ELSEWHERE: Readonly<Record<string, { reason: string; file: string; marker: string }>> = {
  'npm ci': {
    reason:
      'installs node_modules: CI runs it before the suite; here it would replace the packages the suite runs on',
    file: '.ci/run',
    marker: 'npm ci',
  },
  'npm test': { reason: 'this is the suite itself', file: '.ci/run', marker: 'npm test' },
  'npm run typecheck && npm run lint && npm run synth && npm test': {
    reason: 'what CI runs, step by step; npm test is this suite itself',
    file: '.ci/run',
    marker: 'npm run typecheck',
  },
  'npm run synth': {
    reason:
      "CI runs it as written, before the tests (a full synth with bundling and cdk-nag); the deploy command's synth equivalent runs here",
    file: '.ci/run',
    marker: 'npm run synth',
  },
  'npm start': {
    reason:
      'the demo: test/e2e/local-stack.test.ts runs `npm start --json` (the same demo, JSON report) and checks every end state',
    file: 'test/e2e/local-stack.test.ts',
    marker: "runProcess('npm', ['start', '--json'])",
  },
  'npm run bench': {
    reason:
      'the full-size benchmark takes many minutes; test/e2e/bench.test.ts runs the same script at a small size',
    file: 'test/e2e/bench.test.ts',
    marker: "runScript('scripts/bench.ts'",
  },
};

const COMMANDS = bashCommands(README);
const needsAccount = (command: string) => NEEDS_ACCOUNT.find((n) => n.match.test(command));
const RUN_HERE = COMMANDS.filter((c) => !needsAccount(c) && !(c in ELSEWHERE));
/** The README's deploy command, whose synth equivalent runs here. */
const DEPLOY = COMMANDS.find((c) => c.startsWith('npx cdk deploy '));

describe('README commands', () => {
  it('are found in the README (the extraction works)', () => {
    expect(COMMANDS).toContain('npm ci');
    expect(COMMANDS).toContain('npm run synth');
    expect(COMMANDS).toContain(
      'aws ec2 create-tags --resources i-0123456789abcdef0 --tags Key=autoprov:enabled,Value=true Key=autoprov:groups,Value=webservers Key=Environment,Value=production',
    );
    expect(DEPLOY).toBe(`npx cdk deploy -c autoprov:notificationEmails='["ops@example.com"]'`);
  });

  it('not run here are each in the README and run by CI or by the named test', () => {
    for (const [command, { file, marker }] of Object.entries(ELSEWHERE)) {
      expect(COMMANDS, `listed but not in the README: ${command}`).toContain(command);
      expect(readFileSync(join(repoRoot, file), 'utf8'), `${file} runs ${command}`).toContain(marker);
    }
  });

  it('that need an account are only AWS CLI calls, cdk deploy/bootstrap/destroy and npm run test:aws', () => {
    const account = COMMANDS.filter((c) => needsAccount(c));
    expect(account.length).toBeGreaterThan(0);
    for (const command of account) {
      expect(command).toMatch(
        /^(aws |npx cdk (deploy|bootstrap|destroy)( |$)|([A-Z_]+=\S+ )*npm run test:aws( |$))/,
      );
    }
    // Everything else is either run below or listed in ELSEWHERE.
    expect([...RUN_HERE, ...account, ...COMMANDS.filter((c) => c in ELSEWHERE)].sort()).toEqual(
      [...COMMANDS].sort(),
    );
    expect(RUN_HERE).toEqual(expect.arrayContaining(['npm run autoprov -- validate']));
  });
});

describe('README commands, run as written (scratch checkout, no AWS account)', () => {
  let checkout: Checkout;
  beforeAll(() => {
    checkout = makeCheckout();
  });
  afterAll(() => checkout?.remove());

  it("the deploy command's synth equivalent subscribes exactly the README's address", async () => {
    // Arrange: `npx cdk deploy <args>` → `npx cdk synth <args>`, the arguments untouched
    expect(DEPLOY).toBeDefined();
    const synth = (DEPLOY ?? '').replace(/^npx cdk deploy /, 'npx cdk synth ');

    // Act
    const run = await runShell(synth, checkout.dir, checkout.env);

    // Assess: the synth (with bundling and cdk-nag) passed, and the e-mail endpoint is the address itself
    expect(run.code, run.stderr.slice(-3000)).toBe(0);
    const templateFile = join(checkout.dir, 'cdk.out', 'AnsibleAutoProvisioner.template.json');
    const template = JSON.parse(readFileSync(templateFile, 'utf8')) as {
      Resources: Record<string, { Type: string; Properties?: Record<string, unknown> }>;
    };
    const subscriptions = Object.values(template.Resources)
      .filter((r) => r.Type === 'AWS::SNS::Subscription')
      .map((r) => [r.Properties?.Protocol, r.Properties?.Endpoint]);
    expect(subscriptions).toEqual([['email', 'ops@example.com']]);
  }, 300_000);

  it.each(RUN_HERE)(
    '%s',
    async (command) => {
      // Act
      const run = await runShell(command, checkout.dir, checkout.env);

      // Assess
      expect(run.code, `${command}\n${run.stdout.slice(-2000)}\n${run.stderr.slice(-3000)}`).toBe(0);
      // A --json example prints exactly one JSON document on stdout (no npm banner before it).
      if (/ --json( |$)/.test(command))
        expect(() => JSON.parse(run.stdout), run.stdout.slice(0, 500)).not.toThrow();
    },
    300_000,
  );
});
