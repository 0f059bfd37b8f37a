// Local mode (`npm start`): the whole stack on this machine with a simulated fleet, playing the demo in
// scripts/local/fleets/demo.yaml — watch instances get detected, matched, provisioned, retried, skipped,
// orphaned and notified before deploying anything. See scripts/local/stack.ts for what runs.
//
//   npm start -- [--fleet <file>] [--rules <playbooks dir | rules file>] [--check] [--json]
//                [--time-scale <factor>] [--keep]
//
// (`npm start --json` works too: npm hands unknown flags over as npm_config_* variables.)
// Exit 0 when every instance reached the end state the demo file expects, 1 otherwise, 130 on Ctrl-C.
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_PLAYBOOKS_DIR, REPO_ROOT } from './local/assembly.js';
import { type DemoReport, loadDemoFile, runDemo } from './local/demo.js';
import { assertJava } from './local/dynamodb-local.js';
import {
  formatChange,
  formatDuration,
  formatHistory,
  formatLocations,
  formatSummary,
} from './local/progress.js';
import { assertAnsible } from './local/ssm-agent.js';
import type { LocalStack } from './local/stack.js';

const DEFAULT_DEMO = join(REPO_ROOT, 'scripts', 'local', 'fleets', 'demo.yaml');

const HELP = `Local mode: the Ansible AutoProvisioner stack on this machine, with a simulated fleet.

Usage: npm start -- [options]
  --fleet <file>         demo or fleet file (default scripts/local/fleets/demo.yaml)
  --rules <path>         a playbooks folder or a rules file laid over playbooks/
                         (default: the demo file's rules; "playbooks" for the shipped rules)
  --check                check mode: ansible-playbook --check for every rule that does not say otherwise
  --json                 print one JSON document instead of the live log and tables
  --time-scale <factor>  multiply AWS durations (sweep rate, retry backoff, agent checks); default 0.01
  --keep                 keep the state directory (.local/run-…) even when the demo succeeds
  --serve                after the demo, keep the local stack running and print how to point the
                         autoprov CLI at it (status, history, plan, retry…); Ctrl-C stops it
  --help                 this text
Needs Java >= 17 (DynamoDB Local) and ansible-playbook (the local SSM agent runs playbooks for real).`;

interface CliOptions {
  readonly fleet: string;
  readonly rules?: string;
  readonly check: boolean;
  readonly json: boolean;
  readonly timeScale?: number;
  readonly keep: boolean;
  readonly serve: boolean;
}

class UsageError extends Error {
  override name = 'UsageError';
}

/** Flags from the command line, falling back to npm_config_* (what `npm start --flag` turns them into). */
function readOptions(argv: readonly string[], env: NodeJS.ProcessEnv): CliOptions | 'help' {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      fleet: { type: 'string' },
      rules: { type: 'string' },
      check: { type: 'boolean' },
      json: { type: 'boolean' },
      'time-scale': { type: 'string' },
      keep: { type: 'boolean' },
      serve: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: false,
  });
  const npmFlag = (name: string) => env[`npm_config_${name}`] === 'true';
  const npmValue = (name: string) => {
    const value = env[`npm_config_${name.replace(/-/g, '_')}`];
    return value && value !== 'true' ? value : undefined;
  };
  if (values.help) return 'help';
  const rawScale = values['time-scale'] ?? npmValue('time-scale');
  const timeScale = rawScale === undefined ? undefined : Number(rawScale);
  if (timeScale !== undefined && !(timeScale > 0 && timeScale <= 1)) {
    throw new UsageError(`--time-scale must be a number in (0, 1], got "${rawScale}".`);
  }
  const rules = values.rules ?? npmValue('rules');
  return {
    fleet: values.fleet ?? npmValue('fleet') ?? DEFAULT_DEMO,
    ...(rules ? { rules: rules === 'playbooks' ? DEFAULT_PLAYBOOKS_DIR : rules } : {}),
    check: values.check ?? npmFlag('check'),
    json: values.json ?? npmFlag('json'),
    ...(timeScale !== undefined ? { timeScale } : {}),
    keep: values.keep ?? npmFlag('keep'),
    serve: values.serve ?? npmFlag('serve'),
  };
}

/** Prerequisites first, each with how to install it. */
function checkPrerequisites(): string[] {
  const missing: string[] = [];
  for (const check of [assertJava, () => assertAnsible()]) {
    try {
      check();
    } catch (error) {
      missing.push((error as Error).message);
    }
  }
  return missing;
}

/** The AWS SDK warns once per process that Node 20 support ends in 2027: noise in a demo's output. */
function quietNodeVersionWarning(): void {
  const emit = process.emitWarning.bind(process);
  process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
    const text = `${String(warning)} ${JSON.stringify(rest[0] ?? '')}`;
    if (text.includes('NodeVersionSupportWarning') || text.includes('require node >=22')) return;
    (emit as (...args: unknown[]) => void)(warning, ...rest);
  }) as typeof process.emitWarning;
}

function printReport(report: DemoReport, kept: boolean): void {
  const out = (line = '') => process.stdout.write(`${line}\n`);
  out();
  out(
    `${report.ok ? '✔ Demo finished as expected' : '✖ Demo did NOT reach its expected end states'} in ${formatDuration(report.wallMs)} (start-up ${formatDuration(report.startupMs)}${report.synthesized ? ', synthesized' : ''}).`,
  );
  out();
  out(formatSummary(report));
  for (const problem of report.problems) out(`✖ ${problem}`);
  if (report.finalSweep) {
    out();
    out(
      `Final sweep: nothing left to do (${report.finalSweep.dynamoDbWrites} DynamoDB writes). ${report.executions.length} executions, ${report.notifications} notifications, ${report.deadLetters} dead letters.`,
    );
  }
  if (report.history) {
    out();
    out(
      `Audit history of ${report.history.name ?? report.history.instanceId} (${report.history.instanceId}):`,
    );
    out(formatHistory(report.history.events));
  }
  out();
  out(formatLocations(report, kept));
}

async function main(): Promise<number> {
  quietNodeVersionWarning();
  let options: CliOptions | 'help';
  try {
    options = readOptions(process.argv.slice(2), process.env);
  } catch (error) {
    console.error(`${(error as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (options === 'help') {
    console.log(HELP);
    return 0;
  }
  const missing = checkPrerequisites();
  if (missing.length > 0) {
    console.error(`Local mode cannot start:\n${missing.map((m) => `  ✖ ${m}`).join('\n')}`);
    return 1;
  }
  const demo = loadDemoFile(options.fleet);
  const json = options.json;
  // In JSON mode stdout carries the one document; progress goes to stderr.
  const log = (line: string) => (json ? process.stderr : process.stdout).write(`${line}\n`);

  let stack: LocalStack | undefined;
  let interrupted = false;
  process.once('SIGINT', () => {
    interrupted = true;
    log('\nCtrl-C: stopping the local stack…');
    void (async () => {
      await stack?.stop();
      log(stack ? `Stopped. State left in ${stack.stateDir}` : 'Stopped.');
      process.exit(130);
    })();
  });

  if (!json) log(`${demo.title ?? 'Local mode'} — ${options.fleet}`);
  const startedAt = Date.now();
  let launchAt = startedAt;
  const { report, stack: running } = await runDemo({
    demo,
    ...(options.rules ? { rules: options.rules } : {}),
    check: options.check,
    ...(options.timeScale ? { timeScale: options.timeScale } : {}),
    onProgress: (message) => log(message),
    onStarted: (s) => {
      stack = s;
      launchAt = Date.now();
      if (interrupted) void s.stop();
      const mode = options.check ? ', check mode' : '';
      if (!json) log(`Running (time scale ${s.timeScale}${mode}); state in ${s.stateDir}\n`);
    },
    onChange: json ? undefined : (change) => log(formatChange(change, launchAt)),
  });
  stack = running;
  if (options.serve) {
    if (json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    else printReport(report, true);
    log(serveInstructions(running));
    await new Promise<never>(() => {}); // until Ctrl-C (the SIGINT handler stops the stack)
  }
  const keep = options.keep || !report.ok;
  await running.stop({ removeStateDir: !keep });
  if (json) process.stdout.write(`${JSON.stringify({ ...report, stateKept: keep }, null, 2)}\n`);
  else printReport(report, keep);
  return report.ok ? 0 : 1;
}

/** The environment that points the autoprov CLI (or the AWS CLI) at the running local stack. */
function serveInstructions(stack: LocalStack): string {
  // The CLI finds the table, state machine, queue and policy from the stack's outputs, as when deployed
  // (the local endpoint answers DescribeStacks with the template's Outputs).
  const env = stack.cliEnv();
  const exports = Object.entries(env)
    .map(([key, value]) => `  export ${key}=${value}`)
    .join('\n');
  return `\nThe local stack keeps running. In another terminal, in this folder:\n${exports}\n  npm run autoprov -- status\n  npm run autoprov -- history <instance id>\n  npm run autoprov -- doctor <instance id>\n\nCtrl-C here stops it.`;
}

// Exit explicitly once stdout is flushed: an idle keep-alive socket must not hold the demo open.
main().then(
  (code) => process.stdout.write('', () => process.exit(code)),
  (error: unknown) => {
    console.error(error instanceof Error ? `${error.name}: ${error.message}` : String(error));
    process.stdout.write('', () => process.exit(1));
  },
);
