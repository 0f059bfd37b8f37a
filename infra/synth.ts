// Synthesizes the stack in-process: for tests (bundling off, fast) and local mode (the same template the
// deployment gets). `npm run synth` goes through app.ts and the CDK CLI instead.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { App } from 'aws-cdk-lib';
import type { AutoProvisionerProps } from './constructs/auto-provisioner.js';
import { addNagChecks, NAG_REPORT_FILE, type NagReport, readNagReport } from './nag.js';
import { readSettings } from './settings.js';
import { AutoProvisionerStack } from './stack.js';

export interface SynthOptions {
  /** Context values, as in cdk.json (`autoprov:*`, `demo`). Merged over cdk.json's own context. */
  readonly context?: Readonly<Record<string, unknown>>;
  /**
   * Bundle the functions with esbuild (slow). Off: the template is the same except for asset hashes.
   * @default false
   */
  readonly bundling?: boolean;
  /**
   * Run the AwsSolutions checks and CDK's built-in CloudFormation validation (cdk.json
   * `@aws-cdk/core:validateAgainstDefaultRules`), and return the report. Off, the template is the same:
   * the validation only reads it, and costs about 4 s of CPU per synth. `npm run synth` always runs both.
   * @default false
   */
  readonly nag?: boolean;
  /** Construct props that override the ones read from context (e.g. a precompiled rules bundle). */
  readonly provisioner?: Partial<AutoProvisionerProps>;
  /** Adds constructs to the stack before synthesis (tests: prove a check catches something). */
  readonly extend?: (stack: AutoProvisionerStack) => void;
  /**
   * Cloud assembly directory.
   * @default a fresh temporary directory
   */
  readonly outdir?: string;
}

export interface SynthResult {
  /** The CloudFormation template, as deployed. */
  readonly template: Record<string, unknown>;
  readonly stack: AutoProvisionerStack;
  readonly assemblyDir: string;
  readonly nag: NagReport;
}

const CDK_JSON = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', 'cdk.json');

/** cdk.json's context, so in-process synths see what `cdk synth` sees. */
export function projectContext(): Record<string, unknown> {
  const json = JSON.parse(fs.readFileSync(CDK_JSON, 'utf8')) as { context?: Record<string, unknown> };
  return json.context ?? {};
}

export function synthApp(options: SynthOptions = {}): SynthResult {
  const outdir = options.outdir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'autoprov-cdk-'));
  const app = new App({
    outdir,
    builtinCloudFormationValidation: options.nag === true,
    context: {
      ...projectContext(),
      ...(options.bundling ? {} : { 'aws:cdk:bundling-stacks': [] }),
      ...options.context,
    },
  });
  const settings = readSettings(app.node);
  if (options.nag) addNagChecks(app);
  const stack = new AutoProvisionerStack(app, settings.stackName, {
    demo: settings.demo,
    provisioner: { ...settings.provisioner, ...options.provisioner },
  });
  options.extend?.(stack);
  try {
    app.synth();
  } catch (error) {
    // With findings, CDK writes the assembly and the report, then throws: the caller reads the report.
    if (!(options.nag && fs.existsSync(path.join(outdir, NAG_REPORT_FILE)))) throw error;
  }
  const templateFile = path.join(outdir, `${stack.artifactId}.template.json`);
  const template = JSON.parse(fs.readFileSync(templateFile, 'utf8')) as Record<string, unknown>;
  return { template, stack, assemblyDir: outdir, nag: readNagReport(outdir) };
}

/** The synthesized CloudFormation template (JSON) of the stack. */
export function synthTemplate(options: SynthOptions = {}): Record<string, unknown> {
  return synthApp(options).template;
}
