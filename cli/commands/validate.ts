// `autoprov validate`: the rules file, its inventories, playbooks and extra vars (the same checks as
// `cdk synth`), then `ansible-playbook --syntax-check` on every referenced playbook when Ansible is
// installed — and a clear statement when it is not, so a green result never hides a skipped check.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describeAdjustment, fixFor } from '../../functions/core/playbook-vars.js';
import { observeSources } from '../../functions/core/reconcile.js';
import { type RulesIssue, RulesValidationError } from '../../functions/core/rules.js';
import { lintRules } from '../../functions/core/rules-lint.js';
import type { Ec2InstanceShape, RulesBundle } from '../../functions/core/types.js';
import { CliError, EXIT, stringOption } from '../args.js';
import { displayPath, loadLocalBundle, RULES_OPTION, rulesPathFrom } from '../bundle.js';
import type { Command, CommandContext } from '../context.js';
import { FleetFileError } from '../fleet-file.js';
import { type CheckLine, formatCheck } from '../output.js';
import { type HostPlan, instancesFromFleetFile, planHosts } from '../plan-hosts.js';

export interface SyntaxCheckResult {
  readonly playbook: string;
  readonly ok: boolean;
  /** ansible-playbook's own error text when it failed. */
  readonly output?: string;
}

export type SyntaxCheckReport =
  | { readonly ran: true; readonly ansibleVersion: string; readonly results: readonly SyntaxCheckResult[] }
  | { readonly ran: false; readonly reason: string };

const SYNTAX_TIMEOUT_MS = 120_000;

export const ANSIBLE_MISSING =
  'ansible-playbook is not installed (not on PATH), so the playbook syntax check was NOT run. ' +
  'Install it (e.g. `sudo apt-get install -y ansible-core` or `pipx install ansible-core`) and run validate again.';

/** `ansible-playbook --version`'s first line, or undefined when it cannot be run. */
export function ansibleVersion(env: Readonly<Record<string, string | undefined>>): string | undefined {
  const probe = spawnSync('ansible-playbook', ['--version'], { encoding: 'utf8', env: { ...env } });
  if (probe.error || probe.status !== 0) return undefined;
  return probe.stdout.split('\n')[0]?.trim() || 'ansible-playbook';
}

/** `ansible-playbook --syntax-check -i localhost, <playbook>` in the playbooks folder. */
export function syntaxCheck(
  playbooksDir: string,
  playbook: string,
  env: Readonly<Record<string, string | undefined>>,
): Promise<SyntaxCheckResult> {
  return new Promise((resolve) => {
    const child = spawn('ansible-playbook', ['--syntax-check', '-i', 'localhost,', playbook], {
      cwd: playbooksDir,
      env: { ...env, ANSIBLE_NOCOLOR: '1', ANSIBLE_FORCE_COLOR: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: SYNTAX_TIMEOUT_MS,
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
    });
    child.on('error', (error) => resolve({ playbook, ok: false, output: error.message }));
    child.on('close', (code, signal) => {
      if (code === 0) resolve({ playbook, ok: true });
      else {
        const why = signal
          ? `killed by ${signal} (timeout ${SYNTAX_TIMEOUT_MS / 1000} s)`
          : `exit code ${code}`;
        resolve({ playbook, ok: false, output: `${errorLines(output) || why}` });
      }
    });
  });
}

/** The lines of ansible's output that say what is wrong (its warnings about an empty inventory are noise). */
function errorLines(output: string): string {
  return output
    .split('\n')
    .filter(
      (line) => line.trim() !== '' && !/^\[WARNING\]: (No inventory|provided hosts list is empty)/.test(line),
    )
    .join('\n')
    .trim();
}

/** Every playbook the rules reference, once, in rule order. */
export function referencedPlaybooks(bundle: RulesBundle): string[] {
  return [...new Set(bundle.config.rules.flatMap((rule) => rule.playbooks.map((playbook) => playbook.file)))];
}

/**
 * Vars that cannot reach a playbook as written, as a run would record them (VARS_ADJUSTED): for every
 * inventory host and, when given, the opted-in instances of a fleet file (their colliding tag keys too).
 */
export function inventoryVarWarnings(
  bundle: RulesBundle,
  instances: readonly Ec2InstanceShape[] = [],
): CheckLine[] {
  const inventoryOf = new Map(bundle.inventoryHosts.map((host) => [host.instanceId, host.inventory]));
  const warnings: CheckLine[] = [];
  for (const host of validatedHosts(bundle, instances)) {
    const where =
      host.source === 'inventory'
        ? `${inventoryOf.get(host.instanceId)}: host ${host.name}`
        : `instance ${host.instanceId}${host.name === undefined ? '' : ` (${host.name})`}`;
    for (const adjustment of host.varsAdjusted) {
      warnings.push({
        status: 'warn',
        title: `${where}: var ${adjustment.key}`,
        detail: describeAdjustment(adjustment),
        fix: fixFor(adjustment),
      });
    }
  }
  return warnings;
}

/** Every inventory host, and the opted-in instances given, planned as `autoprov plan` plans them. */
function validatedHosts(bundle: RulesBundle, instances: readonly Ec2InstanceShape[]): HostPlan[] {
  return planHosts(bundle, observeSources(instances, bundle).observations, undefined);
}

/** The instances of `--fleet <file>`, as `autoprov plan --fleet` reads them. */
function fleetInstances(context: CommandContext): Ec2InstanceShape[] {
  const fleetFile = stringOption(context.args, 'fleet');
  if (fleetFile === undefined) return [];
  let text: string;
  try {
    text = readFileSync(resolve(context.cwd, fleetFile), 'utf8');
  } catch (error) {
    throw new CliError(`cannot read fleet file ${fleetFile}: ${(error as Error).message}`);
  }
  try {
    return instancesFromFleetFile(text, fleetFile);
  } catch (error) {
    if (error instanceof FleetFileError) throw new CliError(error.message);
    throw error;
  }
}

/**
 * The stack's context for the opt-in tag key: the nearest cdk.json above the working directory (else
 * above the rules file), as `cdk synth` there would read it.
 */
export function stackContextFor(cwd: string, rulesPath: string): { optInTagKey?: string; source?: string } {
  for (const start of [cwd, dirname(rulesPath)]) {
    for (let dir = start; ; dir = dirname(dir)) {
      const file = join(dir, 'cdk.json');
      if (existsSync(file)) {
        try {
          const context = (JSON.parse(readFileSync(file, 'utf8')) as { context?: Record<string, unknown> })
            .context;
          const key = context?.['autoprov:optInTagKey'];
          return typeof key === 'string' ? { optInTagKey: key, source: file } : { source: file };
        } catch {
          return {};
        }
      }
      if (dirname(dir) === dir) break;
    }
  }
  return {};
}

/** Rules that are valid but cannot do what they say (functions/core/rules-lint.ts), as warnings. */
export function ruleWarnings(bundle: RulesBundle, cwd: string, rulesPath: string): CheckLine[] {
  return lintRules(bundle, stackContextFor(cwd, rulesPath)).map((warning) => ({
    status: 'warn',
    ...warning,
  }));
}

async function runSyntaxChecks(
  context: CommandContext,
  playbooksDir: string,
  playbooks: readonly string[],
): Promise<SyntaxCheckReport> {
  const version = ansibleVersion(context.env);
  if (!version) return { ran: false, reason: ANSIBLE_MISSING };
  const results: SyntaxCheckResult[] = [];
  // Two at a time: each ansible-playbook start costs a second of CPU.
  const queue = [...playbooks];
  const worker = async () => {
    for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
      context.out.progress(`syntax-checking ${next}…`);
      results.push(await syntaxCheck(playbooksDir, next, context.env));
    }
  };
  await Promise.all([worker(), worker()]);
  results.sort((a, b) => playbooks.indexOf(a.playbook) - playbooks.indexOf(b.playbook));
  return { ran: true, ansibleVersion: version, results };
}

export const validateCommand: Command = {
  name: 'validate',
  usage: 'autoprov validate [--rules playbooks/rules.yaml] [--fleet fleet.yaml] [--json]',
  description: `Validates the rules file like \`cdk synth\` does: schema, referenced playbooks and inventories
exist and parse, extra vars can be sent safely. Then runs \`ansible-playbook --syntax-check\` on every
referenced playbook when ansible-playbook is installed (and says so clearly when it is not).
Vars that cannot be sent as written (encoded, dropped, colliding tag keys) are listed as warnings, for
the inventories' hosts and, with --fleet, the instances of a fleet file; --json lists every host's vars
as its playbooks get them. Exit code 1 when anything is wrong.`,
  options: {
    ...RULES_OPTION,
    fleet: {
      type: 'string',
      value: '<file>',
      description: 'also check the vars of the instances of a local-mode fleet file (YAML/JSON)',
    },
  },
  examples: ['autoprov validate', 'autoprov validate --rules ../other/playbooks/rules.yaml --json'],
  async run(context) {
    const { out } = context;
    const rulesPath = rulesPathFrom(context.args, context.cwd);
    const instances = fleetInstances(context);
    const shown = displayPath(context.cwd, rulesPath);
    let bundle: RulesBundle;
    try {
      bundle = loadLocalBundle(rulesPath);
    } catch (error) {
      if (!(error instanceof RulesValidationError)) throw error;
      const issues: RulesIssue[] = error.issues.map((issue) => ({
        ...issue,
        file: displayPath(context.cwd, issue.file),
      }));
      if (context.json) out.json({ rulesFile: shown, valid: false, issues, warnings: [], syntaxCheck: null });
      else {
        out.print(`${out.paint.red('✖')} ${shown}: ${issues.length} issue${issues.length === 1 ? '' : 's'}`);
        for (const issue of issues) out.print(`  ${issue.file}: ${issue.path}: ${issue.message}`);
      }
      return EXIT.findings;
    }

    const playbooksDir = dirname(rulesPath);
    const playbooks = referencedPlaybooks(bundle);
    const warnings = [
      ...ruleWarnings(bundle, context.cwd, rulesPath),
      ...inventoryVarWarnings(bundle, instances),
    ];
    const syntax = await runSyntaxChecks(context, playbooksDir, playbooks);
    out.clearProgress();
    const syntaxFailed = syntax.ran && syntax.results.some((result) => !result.ok);

    if (context.json) {
      out.json({
        rulesFile: shown,
        valid: !syntaxFailed,
        issues: [],
        summary: {
          rules: bundle.config.rules.length,
          playbooks,
          inventories: bundle.config.inventories,
          inventoryHosts: bundle.inventoryHosts.length,
          bundleHash: bundle.bundleHash,
        },
        warnings: warnings.map(({ title, detail }) => `${title}: ${detail}`),
        hosts: validatedHosts(bundle, instances).map(({ instanceId, name, source, vars }) => ({
          instanceId,
          ...(name === undefined ? {} : { name }),
          source,
          vars,
        })),
        syntaxCheck: syntax,
      });
      return syntaxFailed ? EXIT.findings : EXIT.ok;
    }

    const { paint } = out;
    const count = (n: number, word: string, plural = `${word}s`) => `${n} ${n === 1 ? word : plural}`;
    out.print(
      ...formatCheck(
        {
          status: 'ok',
          title: shown,
          detail: `${count(bundle.config.rules.length, 'rule')}, ${count(playbooks.length, 'playbook')}, ${count(bundle.config.inventories.length, 'inventory', 'inventories')} (${count(bundle.inventoryHosts.length, 'host')})`,
        },
        paint,
        '',
      ),
    );
    for (const warning of warnings) out.print(...formatCheck(warning, paint, ''));
    if (!syntax.ran) {
      out.print(...formatCheck({ status: 'warn', title: 'syntax check', detail: syntax.reason }, paint, ''));
      return EXIT.ok;
    }
    for (const result of syntax.results) {
      if (result.ok) {
        out.print(...formatCheck({ status: 'ok', title: result.playbook, detail: 'syntax OK' }, paint, ''));
        continue;
      }
      out.print(
        ...formatCheck(
          { status: 'fail', title: result.playbook, detail: 'ansible-playbook --syntax-check failed' },
          paint,
          '',
        ),
      );
      for (const line of (result.output ?? '').split('\n')) out.print(`    ${line}`);
    }
    out.print(paint.dim(`(${syntax.ansibleVersion})`));
    return syntaxFailed ? EXIT.findings : EXIT.ok;
  },
};
