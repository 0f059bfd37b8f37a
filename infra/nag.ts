// cdk-nag (AwsSolutions) on every synth, with acknowledgments that each name ONE CloudFormation resource
// and say why. Findings are read back from the cloud assembly's validation report so `npm run synth`
// fails on warnings too, not only on errors.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CfnResource, Stack, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';

const NAMESPACE = 'AwsSolutions';

/** Turns AwsSolutions checks on for everything under `scope` (an App or a Stage). */
export function addNagChecks(scope: IConstruct): void {
  Validations.of(scope).addPlugins(new AwsSolutionsChecks(scope));
}

/**
 * Acknowledges one cdk-nag finding (`AwsSolutions-IAM5[Resource::*]`, `AwsSolutions-SQS3`) on one resource.
 * An L2 construct is narrowed to its CloudFormation resource, so an acknowledgment never covers a subtree.
 */
export function acknowledge(construct: IConstruct, ruleId: string, reason: string): void {
  const resource = toCfnResource(construct);
  if (reason.trim().length < 20) {
    throw new Error(`cdk-nag acknowledgment ${ruleId} on ${resource.node.path} needs a real reason.`);
  }
  const id = ruleId.includes('::') ? ruleId : `${NAMESPACE}::${ruleId}`;
  Validations.of(resource).acknowledge({ id, reason });
}

/** How cdk-nag writes `Fn::GetAtt [<resource>, Arn]` in a finding id: `<LogicalId.Arn>`. */
export function nagArn(construct: IConstruct): string {
  const resource = toCfnResource(construct);
  return `<${Stack.of(resource).getLogicalId(resource)}.Arn>`;
}

function toCfnResource(construct: IConstruct): CfnResource {
  if (CfnResource.isCfnResource(construct)) return construct;
  const child = construct.node.defaultChild;
  if (child && CfnResource.isCfnResource(child)) return child;
  const resource = construct.node.tryFindChild('Resource');
  if (resource && CfnResource.isCfnResource(resource)) return resource;
  throw new Error(
    `Cannot acknowledge a cdk-nag finding on ${construct.node.path}: it is not a single resource.`,
  );
}

/** One finding in the validation report (errors and warnings alike). */
export interface NagFinding {
  readonly plugin: string;
  readonly rule: string;
  readonly severity: string;
  readonly description: string;
  readonly paths: readonly string[];
}

/** One acknowledged finding, as recorded in the validation report. */
export interface NagAcknowledged extends NagFinding {
  readonly acknowledgedId: string;
  readonly acknowledgedAt: string;
  readonly reason: string;
}

export interface NagReport {
  readonly findings: readonly NagFinding[];
  readonly acknowledged: readonly NagAcknowledged[];
}

interface RawViolation {
  readonly ruleName: string;
  readonly description?: string;
  readonly severity?: string;
  readonly violatingConstructs?: readonly { readonly constructPath: string }[];
  readonly acknowledgedId?: string;
  readonly acknowledgedAt?: string;
  readonly reason?: string;
}

interface RawReport {
  readonly pluginReports?: readonly {
    readonly pluginName: string;
    readonly violations?: readonly RawViolation[];
    readonly suppressedViolations?: readonly RawViolation[];
  }[];
}

/** The validation report CDK writes into the cloud assembly. */
export const NAG_REPORT_FILE = 'validation-report.json';

/** Reads the validation report CDK writes into the assembly directory (absent = no plugin reported). */
export function readNagReport(assemblyDir: string): NagReport {
  const file = path.join(assemblyDir, NAG_REPORT_FILE);
  if (!fs.existsSync(file)) return { findings: [], acknowledged: [] };
  const raw = JSON.parse(fs.readFileSync(file, 'utf8')) as RawReport;
  const findings: NagFinding[] = [];
  const acknowledged: NagAcknowledged[] = [];
  for (const report of raw.pluginReports ?? []) {
    for (const v of report.violations ?? []) findings.push(toFinding(report.pluginName, v));
    for (const v of report.suppressedViolations ?? []) {
      acknowledged.push({
        ...toFinding(report.pluginName, v),
        acknowledgedId: v.acknowledgedId ?? '',
        acknowledgedAt: v.acknowledgedAt ?? '',
        reason: v.reason ?? '',
      });
    }
  }
  return { findings, acknowledged };
}

function toFinding(plugin: string, v: RawViolation): NagFinding {
  return {
    plugin,
    rule: v.ruleName,
    severity: v.severity ?? 'unknown',
    description: v.description ?? '',
    paths: (v.violatingConstructs ?? []).map((c) => c.constructPath),
  };
}

/** Human-readable lines, one per finding and resource. */
export function formatFindings(findings: readonly NagFinding[]): string {
  return findings
    .flatMap((f) => f.paths.map((p) => `[${f.severity}] ${f.rule} at ${p}: ${f.description}`))
    .join('\n');
}
