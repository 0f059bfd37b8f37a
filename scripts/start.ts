// Local mode (`npm start`): the whole stack on this machine with a simulated fleet, playing the demo in
// scripts/local/fleets/demo.yaml — watch instances get detected, matched, provisioned, retried, skipped,
// orphaned and notified before deploying anything. See scripts/local/stack.ts for what runs.
//
//   npm start -- [--fleet <file>] [--rules <playbooks dir | rules file>] [--check] [--json]
//                [--time-scale <factor>] [--timeout <seconds>] [--keep] [--serve] [--clean]
//
// (`npm start --json` works too: npm hands unknown flags over as npm_config_* variables.)
// Exit 0 when every instance reached the end state the demo file expects and every scenario step ran,
// 1 otherwise (the summary says what differed); 128+n on signal n (130 on Ctrl-C), 141 when stdout
// closes early (`npm start | head`). Every way out stops the local stack's child processes first.
import { existsSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_PLAYBOOKS_DIR, LOCAL_DIR, REPO_ROOT } from './local/assembly.js';
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
  --rules <path>         a rules file (its folder is the playbooks folder) or a playbooks folder, as in
                         autoprov validate/plan (default: the demo file's rules; "playbooks" for the
                         shipped rules)
  --check                check mode: ansible-playbook --check for every rule that does not say otherwise
  --json                 print one JSON document instead of the live log and tables
  --time-scale <factor>  multiply AWS durations (sweep rate, retry backoff, agent checks); default 0.01
  --timeout <seconds>    how long to wait for the fleet to settle; default 300, plus 20 per instance
                         beyond 10
  --keep                 keep the state directory (.local/run-…) even when the demo succeeds
  --clean                remove the state directories of earlier runs (.local/run-*) and exit
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
  readonly timeoutMs?: number;
  readonly keep: boolean;
  readonly serve: boolean;
  readonly clean: boolean;
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
      timeout: { type: 'string' },
      keep: { type: 'boolean' },
      serve: { type: 'boolean' },
      clean: { type: 'boolean' },
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
  const rawTimeout = values.timeout ?? npmValue('timeout');
  const timeout = rawTimeout === undefined ? undefined : Number(rawTimeout);
  if (timeout !== undefined && !(Number.isFinite(timeout) && timeout > 0)) {
    throw new UsageError(`--timeout must be a number of seconds > 0, got "${rawTimeout}".`);
  }
  const rules = values.rules ?? npmValue('rules');
  return {
    fleet: values.fleet ?? npmValue('fleet') ?? DEFAULT_DEMO,
    ...(rules ? { rules: rules === 'playbooks' ? DEFAULT_PLAYBOOKS_DIR : rules } : {}),
    check: values.check ?? npmFlag('check'),
    json: values.json ?? npmFlag('json'),
    ...(timeScale !== undefined ? { timeScale } : {}),
    ...(timeout !== undefined ? { timeoutMs: timeout * 1000 } : {}),
    keep: values.keep ?? npmFlag('keep'),
    serve: values.serve ?? npmFlag('serve'),
    clean: values.clean ?? npmFlag('clean'),
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
  out();
  out(formatNotifications(report));
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

/** Where the run's notification messages are written in full: beside its state directory, kept after it. */
const notificationsFileOf = (stateDir: string) => `${stateDir}.notifications.txt`;

/** The SNS messages of the run, in full, to a file the summary names (it outlives the state directory). */
function writeNotifications(report: DemoReport): string {
  const file = notificationsFileOf(report.stateDir);
  const text = report.notificationMessages
    .map((n, i) => `--- ${i + 1}. ${n.subject ?? '(no subject)'}\n${n.message}\n`)
    .join('\n');
  writeFileSync(file, text || '(no notification was published)\n');
  return file;
}

function formatNotifications(report: DemoReport): string {
  const lines = [
    `Notifications (${report.notificationMessages.length}), full messages in ${notificationsFileOf(report.stateDir)}:`,
  ];
  for (const n of report.notificationMessages) {
    const first = n.message.split('\n').find((line) => line.trim() !== '') ?? '';
    lines.push(`  ${n.subject ?? first}`);
  }
  return lines.join('\n');
}

/** `--clean`: removes earlier runs' state directories and notification files (.local/run-*), not running ones. */
function cleanRuns(): string[] {
  if (!existsSync(LOCAL_DIR)) return [];
  const removed: string[] = [];
  for (const name of readdirSync(LOCAL_DIR)) {
    const match = /^run-[\d-]+-(\d+)(\.notifications\.txt)?$/.exec(name);
    if (!match) continue;
    if (pidAlive(Number(match[1]))) continue; // a run still in progress
    rmSync(join(LOCAL_DIR, name), { recursive: true, force: true });
    removed.push(join(LOCAL_DIR, name));
  }
  return removed;
}

function pidAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Exit codes of the signals that stop a run (128 + the signal's number, as a shell reports them). */
const SIGNAL_EXITS = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 } as const;

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
  if (options.clean) {
    const removed = cleanRuns();
    console.log(
      removed.length === 0
        ? `Nothing to clean in ${LOCAL_DIR}.`
        : `Removed ${removed.length} earlier run(s):\n${removed.map((r) => `  ${r}`).join('\n')}`,
    );
    return 0;
  }
  const missing = checkPrerequisites();
  if (missing.length > 0) {
    console.error(`Local mode cannot start:\n${missing.map((m) => `  ✖ ${m}`).join('\n')}`);
    return 1;
  }
  const demo = loadDemoFile(options.fleet);
  const json = options.json;
  // stdout may close early (`npm start | head -3`): then nothing more is written to it.
  let stdoutOpen = true;
  // In JSON mode stdout carries the one document; progress goes to stderr.
  const log = (line: string) => {
    if (json || !stdoutOpen) process.stderr.write(`${line}\n`);
    else process.stdout.write(`${line}\n`);
  };

  let stack: LocalStack | undefined;
  let interrupted = false;
  // Resolves once the stack is up (or start-up failed): a signal during start-up waits for it, then stops
  // it, so no child process (DynamoDB Local, function hosts) outlives this one.
  let startupSettled: () => void = () => undefined;
  const startup = new Promise<void>((resolve) => {
    startupSettled = resolve;
  });
  const shutdown = (message: string, code: number) => {
    if (interrupted) return;
    interrupted = true;
    log(message);
    void (async () => {
      await startup;
      await stack?.stop();
      log(stack ? `Stopped. State left in ${stack.stateDir}` : 'Stopped.');
      process.exit(code);
    })();
  };
  for (const [signal, code] of Object.entries(SIGNAL_EXITS)) {
    process.once(signal, () =>
      shutdown(
        signal === 'SIGINT'
          ? '\nCtrl-C: stopping the local stack…'
          : `\n${signal}: stopping the local stack…`,
        code,
      ),
    );
  }
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    stdoutOpen = false;
    if (error.code === 'EPIPE') shutdown('stdout was closed: stopping the local stack…', 141);
    else shutdown(`stdout failed (${error.message}): stopping the local stack…`, 1);
  });

  if (!json) log(`${demo.title ?? 'Local mode'} — ${options.fleet}`);
  const startedAt = Date.now();
  let launchAt = startedAt;
  const demoRun = runDemo({
    demo,
    ...(options.rules ? { rules: options.rules } : {}),
    check: options.check,
    ...(options.timeScale ? { timeScale: options.timeScale } : {}),
    ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}),
    onProgress: (message) => log(message),
    onStarted: (s) => {
      stack = s;
      startupSettled();
      launchAt = Date.now();
      const mode = options.check ? ', check mode' : '';
      if (!json && !interrupted) log(`Running (time scale ${s.timeScale}${mode}); state in ${s.stateDir}\n`);
    },
    onChange: json ? undefined : (change) => log(formatChange(change, launchAt)),
  });
  demoRun.catch(() => startupSettled());
  const { report, stack: running } = await demoRun;
  stack = running;
  if (interrupted) return new Promise<number>(() => {}); // the signal handler stops the stack and exits
  const notificationsFile = writeNotifications(report);
  if (options.serve) {
    if (json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    else printReport(report, true);
    log(serveInstructions(running));
    await new Promise<never>(() => {}); // until Ctrl-C (the SIGINT handler stops the stack)
  }
  const keep = options.keep || !report.ok;
  await running.stop({ removeStateDir: !keep });
  if (interrupted) return new Promise<number>(() => {});
  if (json)
    process.stdout.write(`${JSON.stringify({ ...report, stateKept: keep, notificationsFile }, null, 2)}\n`);
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
