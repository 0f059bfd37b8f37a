// Reads a synthesized cloud assembly (cdk.out) into what local mode needs to run it: every Node.js Lambda
// function (handler, bundled asset directory, environment), the state machine's ASL, the EventBridge rules,
// the sweep schedule, the SSM documents, the state table, the topics, buckets and the playbook bundle.
// Every CloudFormation intrinsic — in the ASL, the environment variables and the event patterns alike — is
// resolved with ONE placeholder scheme (scripts/local/asl.ts resolveIntrinsics), so a function's STATE_MACHINE_ARN,
// the ARN the Step Functions emulator registers and the Lambda ARNs inside the ASL all agree by construction.

import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { CreateTableCommandInput } from '@aws-sdk/client-dynamodb';
import { zipSync } from 'fflate';
import { extractAsl, forLocalRunner, type ResolveOptions, resolveIntrinsics } from './asl.js';
import type { LocalAlarmSpec } from './services/cloudwatch.js';
import type { PolicyDocument, PolicyStatement } from './services/iam.js';
import { functionNameOf } from './services/lambda.js';

export class TemplateReadError extends Error {
  override name = 'TemplateReadError';
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
interface Resource {
  readonly Type: string;
  readonly Properties?: Record<string, Json>;
  readonly Metadata?: Record<string, Json>;
}
export interface CfnTemplate {
  readonly Resources: Record<string, Resource>;
  readonly Parameters?: Record<string, { readonly Default?: Json }>;
  readonly Outputs?: Record<string, { readonly Value: Json; readonly Description?: string }>;
}

/** One Node.js function of the stack, ready for the function host. */
export interface LocalFunctionSpec {
  readonly logicalId: string;
  /** What `Ref` resolves to: the name the ASL, the env vars and the Lambda emulator use. */
  readonly name: string;
  /** `file.export`, e.g. `index.handler`. */
  readonly handler: string;
  /** The bundled asset directory in the assembly. */
  readonly assetDir: string;
  /** Environment.Variables, intrinsics resolved. */
  readonly environment: Readonly<Record<string, string>>;
  readonly timeoutSeconds: number;
  readonly memoryMb: number;
  /** Retries of a failed asynchronous invocation: its AWS::Lambda::EventInvokeConfig, else Lambda's default. */
  readonly asyncRetryAttempts: number;
  /** POWERTOOLS_SERVICE_NAME, when set: the function's role (`sweep`, `callback`, …). */
  readonly serviceName?: string;
  /** Its execution role and the statements of the AWS::IAM::Policy resources attached to it, resolved. */
  readonly role?: { readonly name: string; readonly statements: readonly PolicyStatement[] };
}

export interface LocalRuleSpec {
  readonly logicalId: string;
  readonly eventPattern: Readonly<Record<string, unknown>>;
  /** Names of the target functions. */
  readonly targets: readonly string[];
}

export interface LocalScheduleSpec {
  readonly logicalId: string;
  /** From `rate(N minutes|hours|days)`. */
  readonly rateSeconds: number;
  /** Name of the target function. */
  readonly target: string;
  /** The target's Input, parsed. */
  readonly input: unknown;
  readonly maximumRetryAttempts: number;
}

export interface LocalDocumentSpec {
  readonly logicalId: string;
  readonly name: string;
  readonly documentType: string;
  readonly content: unknown;
}

export interface LocalBundleSpec {
  readonly bucket: string;
  readonly key: string;
  /** The https URL AWS-ApplyAnsiblePlaybooks downloads (SourceInfo path). */
  readonly url: string;
  /** Asset in the assembly: a directory (zipped on read) or a zip file. */
  readonly assetPath: string;
}

export interface LocalStackSpec {
  readonly assemblyDir: string;
  readonly stackName: string;
  readonly templateFile: string;
  readonly template: CfnTemplate;
  readonly region: string;
  readonly account: string;
  readonly functions: readonly LocalFunctionSpec[];
  readonly stateMachine: {
    readonly logicalId: string;
    readonly name: string;
    /** The placeholder ARN functions are configured with; register the machine under it. */
    readonly arn: string;
    /** ASL, intrinsics resolved, adapted for aws-local-stepfunctions (scripts/local/asl.ts forLocalRunner). */
    readonly definition: Record<string, unknown>;
  };
  readonly rules: readonly LocalRuleSpec[];
  readonly schedules: readonly LocalScheduleSpec[];
  readonly documents: readonly LocalDocumentSpec[];
  readonly table: { readonly create: CreateTableCommandInput; readonly ttlAttribute?: string };
  readonly topics: readonly string[];
  readonly buckets: readonly string[];
  readonly bundles: readonly LocalBundleSpec[];
  /** The stack's Outputs, resolved (what DescribeStacks returns once deployed). */
  readonly outputs: readonly {
    readonly key: string;
    readonly value: string;
    readonly description?: string;
  }[];
  /** Customer managed policies (ARN as `Ref` resolves it) with their documents, resolved. */
  readonly managedPolicies: readonly { readonly arn: string; readonly document: PolicyDocument }[];
  /** SQS queue URLs (what `Ref` of a queue resolves to). */
  readonly queues: readonly string[];
  /** AWS::SNS::TopicPolicy resources: the topics (ARNs) each one replaces the default policy of. */
  readonly topicPolicies: readonly LocalTopicPolicySpec[];
  /** The CloudWatch alarms, resolved. */
  readonly alarms: readonly LocalAlarmSpec[];
}

export interface LocalTopicPolicySpec {
  readonly logicalId: string;
  readonly topics: readonly string[];
  readonly document: PolicyDocument;
}

interface AssemblyManifest {
  readonly artifacts?: Record<
    string,
    { readonly type?: string; readonly properties?: { readonly templateFile?: string } }
  >;
}
interface AssetManifest {
  readonly files?: Record<
    string,
    { readonly source?: { readonly path?: string; readonly packaging?: string } }
  >;
}

const readJson = <T>(file: string): T => JSON.parse(readFileSync(file, 'utf8')) as T;

/** The one CloudFormation stack artifact of the assembly. */
function stackArtifact(assemblyDir: string): { stackName: string; templateFile: string } {
  const manifestFile = join(assemblyDir, 'manifest.json');
  if (!existsSync(manifestFile)) {
    throw new TemplateReadError(
      `${assemblyDir} is not a cloud assembly (no manifest.json): synthesize first.`,
    );
  }
  const stacks = Object.entries(readJson<AssemblyManifest>(manifestFile).artifacts ?? {}).filter(
    ([, a]) => a.type === 'aws:cloudformation:stack',
  );
  const [first] = stacks;
  if (stacks.length !== 1 || !first?.[1].properties?.templateFile) {
    throw new TemplateReadError(
      `Expected one CloudFormation stack in ${assemblyDir}, found ${stacks.map(([id]) => id).join(', ') || 'none'}.`,
    );
  }
  return { stackName: first[0], templateFile: join(assemblyDir, first[1].properties.templateFile) };
}

/**
 * `Fn::GetAtt [<BucketDeployment>, SourceObjectKeys]` is a list only known at deploy time; the keys are the
 * deployment's own SourceObjectKeys property. Substituted before anything is resolved, so `Fn::Select` works.
 */
function substituteDeploymentKeys(template: CfnTemplate): CfnTemplate {
  const keys = new Map<string, Json>();
  for (const [id, r] of Object.entries(template.Resources)) {
    if (r.Type === 'Custom::CDKBucketDeployment' && r.Properties?.SourceObjectKeys !== undefined) {
      keys.set(id, r.Properties.SourceObjectKeys);
    }
  }
  const visit = (node: Json): Json => {
    if (Array.isArray(node)) return node.map(visit);
    if (node === null || typeof node !== 'object') return node;
    const getAtt = node['Fn::GetAtt'];
    if (Array.isArray(getAtt) && getAtt[1] === 'SourceObjectKeys' && keys.has(String(getAtt[0]))) {
      return keys.get(String(getAtt[0])) as Json;
    }
    return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, visit(v)]));
  };
  return visit(template as unknown as Json) as unknown as CfnTemplate;
}

function rateSeconds(expression: string, where: string): number {
  const match = /^rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)$/.exec(expression.trim());
  if (!match) {
    throw new TemplateReadError(
      `${where}: only rate(...) schedules are supported locally, got "${expression}".`,
    );
  }
  const n = Number(match[1]);
  const unit = match[2] ?? 'minutes';
  return n * (unit.startsWith('minute') ? 60 : unit.startsWith('hour') ? 3600 : 86_400);
}

const resourcesOf = (template: CfnTemplate, type: string) =>
  Object.entries(template.Resources).filter(([, r]) => r.Type === type) as [string, Resource][];

/** The template's AWS::SNS::TopicPolicy resources, resolved (topic ARNs and the policy document). */
export function topicPoliciesOf(template: CfnTemplate, options: ResolveOptions = {}): LocalTopicPolicySpec[] {
  return resourcesOf(template, 'AWS::SNS::TopicPolicy').map(([id, r]) => {
    const p = resolveIntrinsics(r.Properties ?? {}, template, options) as {
      Topics?: unknown[];
      PolicyDocument?: PolicyDocument;
    };
    return {
      logicalId: id,
      topics: (p.Topics ?? []).map(String),
      document: p.PolicyDocument ?? { Statement: [] },
    };
  });
}

/** The template's CloudWatch alarms, resolved: name (AlarmName, else the logical id), ARN, actions. */
export function alarmsOf(template: CfnTemplate, options: ResolveOptions = {}): LocalAlarmSpec[] {
  const region = options.region ?? 'us-east-1';
  const account = options.account ?? '123456789012';
  return resourcesOf(template, 'AWS::CloudWatch::Alarm').map(([id, r]) => {
    const p = resolveIntrinsics(r.Properties ?? {}, template, options) as Record<string, unknown>;
    const name = typeof p.AlarmName === 'string' ? p.AlarmName : id;
    const actions = (key: string) => ((p[key] as unknown[] | undefined) ?? []).map(String);
    return {
      logicalId: id,
      name,
      arn: `arn:aws:cloudwatch:${region}:${account}:alarm:${name}`,
      ...(typeof p.AlarmDescription === 'string' ? { description: p.AlarmDescription } : {}),
      actionsEnabled: p.ActionsEnabled !== false && p.ActionsEnabled !== 'false',
      alarmActions: actions('AlarmActions'),
      okActions: actions('OKActions'),
      insufficientDataActions: actions('InsufficientDataActions'),
    };
  });
}

/**
 * One synthesized template being read: intrinsics resolved with the one placeholder scheme, and the
 * assembly's assets. Each part of the LocalStackSpec is read from it by its own function below.
 */
interface TemplateReader {
  readonly assemblyDir: string;
  readonly stackName: string;
  readonly templateFile: string;
  readonly template: CfnTemplate;
  readonly resolveOptions: ResolveOptions;
  readonly region: string;
  readonly account: string;
  readonly resolve: (value: unknown) => unknown;
  /** What `Ref` of a logical id resolves to. */
  readonly ref: (logicalId: string) => string;
  readonly arnOf: (value: unknown) => string;
  readonly byType: (type: string) => [string, Resource][];
  /** The asset's path in the assembly; fails when the assembly lacks it. */
  readonly assetPath: (hashOrKey: string, where: string) => string;
}

function templateReader(assemblyDir: string, options: ResolveOptions): TemplateReader {
  const { stackName, templateFile } = stackArtifact(assemblyDir);
  const raw = readJson<CfnTemplate>(templateFile);
  const template = substituteDeploymentKeys(raw);
  const resolveOptions: ResolveOptions = { stackName, ...options };
  const region = resolveOptions.region ?? 'us-east-1';
  const account = resolveOptions.account ?? '123456789012';
  const resolve = (value: unknown): unknown => resolveIntrinsics(value, template, resolveOptions);
  const ref = (logicalId: string): string => String(resolve({ Ref: logicalId }));
  const arnOf = (value: unknown): string => String(resolve(value));
  const byType = (type: string) =>
    Object.entries(template.Resources).filter(([, r]) => r.Type === type) as [string, Resource][];

  const assetsFile = join(assemblyDir, `${stackName}.assets.json`);
  const assets = existsSync(assetsFile) ? readJson<AssetManifest>(assetsFile) : { files: {} };
  const assetPath = (hashOrKey: string, where: string): string => {
    const hash = hashOrKey.replace(/\.zip$/, '');
    const path = assets.files?.[hash]?.source?.path ?? `asset.${hash}`;
    const full = join(assemblyDir, path);
    if (!existsSync(full)) {
      throw new TemplateReadError(
        `${where}: asset ${hash} is not in ${assemblyDir} (${path}). The assembly is incomplete: synthesize again with bundling on.`,
      );
    }
    return full;
  };
  return {
    assemblyDir,
    stackName,
    templateFile,
    template,
    resolveOptions,
    region,
    account,
    resolve,
    ref,
    arnOf,
    byType,
    assetPath,
  };
}

/** Reads the stack of a synthesized assembly. Fails with what is missing when the assembly is incomplete. */
export function readLocalStack(assemblyDir: string, options: ResolveOptions = {}): LocalStackSpec {
  const reader = templateReader(assemblyDir, options);
  const { stackName, templateFile, template, region, account, resolveOptions, resolve, ref, byType } = reader;
  const functions = functionsOf(reader);
  const stateMachine = stateMachineOf(reader);
  const { rules, schedules } = triggersOf(reader, functions);
  const documents = documentsOf(reader);
  const table = tableOf(reader);
  const bundles = bundlesOf(reader);
  return {
    assemblyDir,
    stackName,
    templateFile,
    template,
    region,
    account,
    functions,
    stateMachine,
    rules,
    schedules,
    documents,
    table,
    topics: byType('AWS::SNS::Topic').map(([id]) => ref(id)),
    buckets: byType('AWS::S3::Bucket').map(([id]) => ref(id)),
    bundles,
    outputs: Object.entries(template.Outputs ?? {}).map(([key, output]) => ({
      key,
      value: String(resolve(output.Value)),
      ...(output.Description ? { description: output.Description } : {}),
    })),
    managedPolicies: byType('AWS::IAM::ManagedPolicy').map(([id, r]) => ({
      arn: ref(id),
      document: resolve(r.Properties?.PolicyDocument) as PolicyDocument,
    })),
    queues: byType('AWS::SQS::Queue').map(([id]) => ref(id)),
    topicPolicies: topicPoliciesOf(template, resolveOptions),
    alarms: alarmsOf(template, resolveOptions),
  };
}

/** A function's `Role: { Fn::GetAtt: [<role>, Arn] }` → the role's name and its attached inline policies. */
function roleOf(
  { template, byType, resolve, ref }: TemplateReader,
  value: unknown,
): LocalFunctionSpec['role'] {
  const getAtt = (value as { 'Fn::GetAtt'?: unknown } | undefined)?.['Fn::GetAtt'];
  const roleId = Array.isArray(getAtt) && typeof getAtt[0] === 'string' ? getAtt[0] : undefined;
  if (roleId === undefined || template.Resources[roleId]?.Type !== 'AWS::IAM::Role') return undefined;
  const statements = byType('AWS::IAM::Policy')
    .filter(([, policy]) =>
      ((policy.Properties?.Roles ?? []) as Json[]).some(
        (r) => typeof r === 'object' && r !== null && (r as { Ref?: unknown }).Ref === roleId,
      ),
    )
    .flatMap(([, policy]) => (resolve(policy.Properties?.PolicyDocument) as PolicyDocument).Statement);
  return { name: ref(roleId), statements };
}

/** The stack's Node.js functions, each with its bundled asset, resolved environment, role and async retries. */
function functionsOf(reader: TemplateReader): LocalFunctionSpec[] {
  const { assemblyDir, byType, resolve, ref, assetPath } = reader;
  // "By default, Lambda retries an asynchronous invocation twice" (Lambda Developer Guide, "Configuring error
  // handling for asynchronous invocation", https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html);
  // an EventInvokeConfig's MaximumRetryAttempts (0-2) replaces that.
  const asyncRetries = new Map<string, number>();
  for (const [, r] of byType('AWS::Lambda::EventInvokeConfig')) {
    const p = r.Properties ?? {};
    if (typeof p.MaximumRetryAttempts === 'number')
      asyncRetries.set(String(resolve(p.FunctionName)), p.MaximumRetryAttempts);
  }
  const functions: LocalFunctionSpec[] = [];
  for (const [id, r] of byType('AWS::Lambda::Function')) {
    const p = r.Properties ?? {};
    // Only our Node.js functions; CDK's own helpers (the Python BucketDeployment handler) are emulated.
    if (!String(p.Runtime ?? '').startsWith('nodejs')) continue;
    const code = (p.Code ?? {}) as Record<string, Json>;
    const key = typeof code.S3Key === 'string' ? code.S3Key : undefined;
    const metaPath = r.Metadata?.['aws:asset:path'];
    const assetDir = key
      ? assetPath(key, `Function ${id}`)
      : typeof metaPath === 'string'
        ? join(assemblyDir, metaPath)
        : undefined;
    if (!assetDir || !statSync(assetDir).isDirectory()) {
      throw new TemplateReadError(
        `Function ${id}: its code is not a bundled asset directory in the assembly.`,
      );
    }
    const variables = ((p.Environment as Record<string, Json> | undefined)?.Variables ?? {}) as Record<
      string,
      Json
    >;
    const environment = Object.fromEntries(
      Object.entries(resolve(variables) as Record<string, unknown>).map(([k, v]) => [k, String(v)]),
    );
    const role = roleOf(reader, p.Role);
    functions.push({
      logicalId: id,
      ...(role ? { role } : {}),
      name: ref(id),
      handler: String(p.Handler ?? 'index.handler'),
      assetDir,
      environment,
      timeoutSeconds: typeof p.Timeout === 'number' ? p.Timeout : 3,
      memoryMb: typeof p.MemorySize === 'number' ? p.MemorySize : 128,
      asyncRetryAttempts: asyncRetries.get(ref(id)) ?? 2,
      ...(environment.POWERTOOLS_SERVICE_NAME ? { serviceName: environment.POWERTOOLS_SERVICE_NAME } : {}),
    });
  }
  return functions;
}

/** The one state machine: its placeholder ARN and its ASL, adapted for the local runner. */
function stateMachineOf(reader: TemplateReader): LocalStackSpec['stateMachine'] {
  const { template, templateFile, resolveOptions, byType, ref } = reader;
  const machines = byType('AWS::StepFunctions::StateMachine');
  const [machine] = machines;
  if (machines.length !== 1 || !machine) {
    throw new TemplateReadError(`Expected one state machine in ${templateFile}, found ${machines.length}.`);
  }
  const machineArn = ref(machine[0]);
  const stateMachine = {
    logicalId: machine[0],
    name: machineArn.split(':').at(-1) ?? machine[0],
    arn: machineArn,
    definition: forLocalRunner(extractAsl(template, machine[0], resolveOptions)),
  };
  return stateMachine;
}

/** The EventBridge rules with Lambda targets, and the schedules (rate rules and EventBridge Scheduler). */
function triggersOf(
  { byType, resolve, arnOf }: TemplateReader,
  functions: readonly LocalFunctionSpec[],
): { rules: LocalRuleSpec[]; schedules: LocalScheduleSpec[] } {
  const functionByArn = (arn: string, where: string): string => {
    const name = functionNameOf(arn);
    if (!functions.some((f) => f.name === name)) {
      throw new TemplateReadError(`${where}: target ${arn} is not one of the stack's Node.js functions.`);
    }
    return name;
  };

  const rules: LocalRuleSpec[] = [];
  const schedules: LocalScheduleSpec[] = [];
  for (const [id, r] of byType('AWS::Events::Rule')) {
    const p = r.Properties ?? {};
    if (p.State === 'DISABLED') continue;
    const targets = ((p.Targets ?? []) as Record<string, Json>[]).map((t) =>
      functionByArn(arnOf(t.Arn), `Rule ${id}`),
    );
    if (typeof p.ScheduleExpression === 'string') {
      for (const [i, target] of targets.entries()) {
        const input = ((p.Targets as Record<string, Json>[])[i]?.Input ?? '{}') as string;
        schedules.push({
          logicalId: id,
          rateSeconds: rateSeconds(p.ScheduleExpression, `Rule ${id}`),
          target,
          input: JSON.parse(input) as unknown,
          // A rule invokes its Lambda target asynchronously: the function's own async retries apply.
          maximumRetryAttempts: functions.find((f) => f.name === target)?.asyncRetryAttempts ?? 2,
        });
      }
      continue;
    }
    rules.push({ logicalId: id, eventPattern: resolve(p.EventPattern) as Record<string, unknown>, targets });
  }
  for (const [id, r] of byType('AWS::Scheduler::Schedule')) {
    const p = r.Properties ?? {};
    if (p.State === 'DISABLED') continue;
    const target = (p.Target ?? {}) as Record<string, Json>;
    const retry = (target.RetryPolicy ?? {}) as Record<string, Json>;
    schedules.push({
      logicalId: id,
      rateSeconds: rateSeconds(String(p.ScheduleExpression ?? ''), `Schedule ${id}`),
      target: functionByArn(arnOf(target.Arn), `Schedule ${id}`),
      input: JSON.parse(typeof target.Input === 'string' ? target.Input : '{}') as unknown,
      maximumRetryAttempts: typeof retry.MaximumRetryAttempts === 'number' ? retry.MaximumRetryAttempts : 185,
    });
  }
  return { rules, schedules };
}

/** The stack's SSM documents, content resolved. */
function documentsOf({ byType, ref, resolve }: TemplateReader): LocalDocumentSpec[] {
  return byType('AWS::SSM::Document').map(([id, r]) => ({
    logicalId: id,
    name: ref(id),
    documentType: String(r.Properties?.DocumentType ?? 'Command'),
    content: resolve(r.Properties?.Content),
  }));
}

/** The one DynamoDB table as CreateTable input (on-demand, its keys and indexes) and its TTL attribute. */
function tableOf({ templateFile, byType, resolve, ref }: TemplateReader): LocalStackSpec['table'] {
  const tables = byType('AWS::DynamoDB::Table');
  const [table] = tables;
  if (tables.length !== 1 || !table) {
    throw new TemplateReadError(`Expected one DynamoDB table in ${templateFile}, found ${tables.length}.`);
  }
  const tp = resolve(table[1].Properties ?? {}) as Record<string, unknown>;
  const ttl = tp.TimeToLiveSpecification as { AttributeName?: string; Enabled?: boolean } | undefined;
  const create = {
    TableName: ref(table[0]),
    AttributeDefinitions: tp.AttributeDefinitions,
    KeySchema: tp.KeySchema,
    BillingMode: 'PAY_PER_REQUEST',
    ...(tp.GlobalSecondaryIndexes ? { GlobalSecondaryIndexes: tp.GlobalSecondaryIndexes } : {}),
    ...(tp.LocalSecondaryIndexes ? { LocalSecondaryIndexes: tp.LocalSecondaryIndexes } : {}),
  } as CreateTableCommandInput;
  return { create, ...(ttl?.Enabled && ttl.AttributeName ? { ttlAttribute: ttl.AttributeName } : {}) };
}

/** The playbook bundle: each `extract: false` bucket deployment's zip object, with the asset it comes from. */
function bundlesOf({ region, byType, resolve, assetPath }: TemplateReader): LocalBundleSpec[] {
  return byType('Custom::CDKBucketDeployment').flatMap(([id, r]) => {
    const p = resolve(r.Properties ?? {}) as Record<string, unknown>;
    const keys = (p.SourceObjectKeys ?? []) as string[];
    const bucket = String(p.DestinationBucketName ?? '');
    const prefix = typeof p.DestinationBucketKeyPrefix === 'string' ? p.DestinationBucketKeyPrefix : '';
    if (p.Extract !== false && p.Extract !== 'false') {
      throw new TemplateReadError(`${id}: only extract: false deployments (one zip object) are supported.`);
    }
    return keys.map((sourceKey) => {
      const key = `${prefix}${sourceKey}`;
      return {
        bucket,
        key,
        url: `https://s3.${region}.amazonaws.com/${bucket}/${key}`,
        assetPath: assetPath(sourceKey, `Bucket deployment ${id}`),
      };
    });
  });
}

/** The bytes of a bundle asset: the zip itself, or the directory zipped (what the deployment uploads). */
export function bundleZip(assetPath: string): Uint8Array {
  if (!statSync(assetPath).isDirectory()) return readFileSync(assetPath);
  const files: Record<string, Uint8Array> = {};
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.isFile()) files[relative(assetPath, full).split('\\').join('/')] = readFileSync(full);
    }
  };
  walk(assetPath);
  // A fixed mtime: the same folder always gives the same bytes.
  return zipSync(files, { level: 6, mtime: new Date('2020-01-01T00:00:00Z') });
}
