// `npm run bench`: the docs/architecture.md "Budgets" figures, measured on the local stack (scripts/local/stack.ts) from the
// deployable artifacts in cdk.out. Three runs, each on a fresh stack:
//   1. happy path — M instances (default min(N, 200)), no faults: transitions and API calls per instance;
//   2. burst — N instances launched at once, every event delivered 1–3 times in a seeded random order,
//      20% of SSM and Step Functions calls throttled: nothing lost, nothing duplicated;
//   3. steady-state sweep — 10,000 provisioned instances (seeded), ONE sweep: its API calls and writes.
// Plus the size of each bundled function. See docs/benchmarks.md for how to read the figures.
//
//   npm run bench -- [--instances N] [--happy-instances M] [--sweep-instances K] [--seed S] [--json] [--keep]
//
// Progress goes to stderr; stdout gets the report (with --json: one JSON object and nothing else).
// Exit 0 when every budget holds, 1 when one does not (the report says which), 2 when the run failed.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { buildReport, bundleFigures, formatReport } from './bench/report.js';
import { runSteadySweep } from './bench/sweep.js';
import { runWorkload } from './bench/workload.js';
import { ensureAssembly, LOCAL_DIR } from './local/assembly.js';
import { assertJava } from './local/dynamodb-local.js';
import { readLocalStack } from './local/template.js';

const HELP = `Benchmark: the budgets of docs/architecture.md#budgets measured in local mode (simulated Ansible).

Usage: npm run bench -- [options]
  --instances <N>         burst size: N launches at once with duplicated, shuffled events and
                          20% SSM/Step Functions throttling (default 200)
  --happy-instances <M>   instances of the fault-free run (default min(N, 200))
  --sweep-instances <K>   provisioned instances under the steady-state sweep (default 10000)
  --seed <S>              seeds every random choice (default 42)
  --function-concurrency <C>  execution environments per function (default 2, the local stack's)
  --agent-concurrency <C>     parallel commands on the local SSM agent (default 2)
  --json                  print one JSON object on stdout (progress stays on stderr)
  --keep                  keep the runs' state directories under .local/bench-…
  --help                  this text
Needs Java >= 17 (DynamoDB Local). Exit 0 when every budget holds, 1 when one does not, 2 on error.`;

interface BenchOptions {
  readonly instances: number;
  readonly happyInstances: number;
  readonly sweepInstances: number;
  readonly seed: number;
  readonly functionConcurrency?: number;
  readonly agentConcurrency?: number;
  readonly json: boolean;
  readonly keep: boolean;
}

class UsageError extends Error {
  override name = 'UsageError';
}

function readOptions(argv: readonly string[], env: NodeJS.ProcessEnv): BenchOptions | 'help' {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      instances: { type: 'string' },
      'happy-instances': { type: 'string' },
      'sweep-instances': { type: 'string' },
      seed: { type: 'string' },
      'function-concurrency': { type: 'string' },
      'agent-concurrency': { type: 'string' },
      json: { type: 'boolean' },
      keep: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) return 'help';
  // `npm run bench --json --instances 1000` (without `--`) reaches us as npm_config_* variables.
  const npm = (name: string) => {
    const value = env[`npm_config_${name.replace(/-/g, '_')}`];
    return value === undefined || value === '' ? undefined : value;
  };
  const count = (name: string, fallback: number, min: number): number => {
    const raw = (values as Record<string, unknown>)[name] ?? npm(name);
    if (raw === undefined || raw === 'true') return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min)
      throw new UsageError(`--${name} must be an integer ≥ ${min}, got "${raw}".`);
    return n;
  };
  const instances = count('instances', 200, 1);
  const functionConcurrency = count('function-concurrency', 0, 1);
  const agentConcurrency = count('agent-concurrency', 0, 1);
  return {
    ...(functionConcurrency ? { functionConcurrency } : {}),
    ...(agentConcurrency ? { agentConcurrency } : {}),
    instances,
    happyInstances: count('happy-instances', Math.min(instances, 200), 1),
    sweepInstances: count('sweep-instances', 10_000, 1),
    seed: count('seed', 42, 0),
    json: values.json ?? npm('json') === 'true',
    keep: values.keep ?? npm('keep') === 'true',
  };
}

const log = (line: string) => process.stderr.write(`[bench] ${line}\n`);

async function main(): Promise<number> {
  let options: BenchOptions | 'help';
  try {
    options = readOptions(process.argv.slice(2), process.env);
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n\n${HELP}\n`);
    return 2;
  }
  if (options === 'help') {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  assertJava();
  const startedAt = Date.now();
  const stateRoot = options.keep ? join(LOCAL_DIR, `bench-${process.pid}`) : undefined;
  const stateDir = (name: string) => {
    if (!stateRoot) return undefined;
    const dir = join(stateRoot, name);
    mkdirSync(dir, { recursive: true });
    return dir;
  };

  const assembly = await ensureAssembly({ onProgress: (m) => log(m) });
  const bundles = bundleFigures(readLocalStack(assembly.dir));
  // Generous: a run that has not settled by then is stuck, and waitForIdle says on what.
  const idleTimeoutMs = (n: number) => Math.max(300_000, n * 3_000);
  const concurrency = {
    ...(options.functionConcurrency ? { functionConcurrency: options.functionConcurrency } : {}),
    ...(options.agentConcurrency ? { agentConcurrency: options.agentConcurrency } : {}),
  };

  log(`1/3 happy path: ${options.happyInstances} instances, no faults…`);
  const happyPath = await runWorkload({
    kind: 'happyPath',
    instances: options.happyInstances,
    seed: options.seed,
    stateDir: stateDir('happy-path'),
    idleTimeoutMs: idleTimeoutMs(options.happyInstances),
    ...concurrency,
    log,
  });
  log(`2/3 burst: ${options.instances} instances, duplicated and shuffled events, 20% SSM/SFN throttling…`);
  const burst = await runWorkload({
    kind: 'burst',
    instances: options.instances,
    seed: options.seed,
    stateDir: stateDir('burst'),
    idleTimeoutMs: idleTimeoutMs(options.instances),
    ...concurrency,
    log,
  });
  log(`3/3 steady-state sweep over ${options.sweepInstances} instances…`);
  const sweep = await runSteadySweep({
    instances: options.sweepInstances,
    seed: options.seed,
    stateDir: stateDir('sweep'),
    log,
  });

  const report = buildReport({
    seed: options.seed,
    // The local stack's defaults when not given (scripts/local/stack/options.ts).
    settings: {
      functionConcurrency: options.functionConcurrency ?? 2,
      agentConcurrency: options.agentConcurrency ?? 2,
      timeScale: 0.01,
    },
    happyPath,
    burst,
    sweep,
    bundles,
    wallSeconds: (Date.now() - startedAt) / 1000,
  });
  process.stdout.write(options.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatReport(report)}\n`);
  if (stateRoot) log(`State kept in ${stateRoot}`);
  return report.ok ? 0 : 1;
}

main().then(
  (code) => {
    // Exit explicitly: a stopped stack may still hold idle timers, and the figures are already out.
    process.exitCode = code;
    process.stdout.write('', () => process.exit(code));
  },
  (error: unknown) => {
    process.stderr.write(
      `[bench] failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(2);
  },
);
