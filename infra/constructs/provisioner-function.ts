// One Lambda function of the provisioner, with the production defaults every function shares:
// Node 22 on ARM64, its own log group with retention, X-Ray tracing, an own role (no AWS managed
// policy), and a local esbuild bundle that includes the AWS SDK so its size is what gets deployed.
import * as path from 'node:path';
import { type Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as destinations from 'aws-cdk-lib/aws-lambda-destinations';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { acknowledge } from '../nag.js';
import { REPO_ROOT } from '../paths.js';
import { ASYNC_INVOKE_RETRY_ATTEMPTS, DEFAULT_FUNCTION_TIMEOUT } from '../retries.js';

/** File name handlers read the compiled rules from: `$LAMBDA_TASK_ROOT/rules.json`. */
export const RULES_FILE_NAME = 'rules.json';

/** esbuild's target for every function: the Lambda runtime's Node.js (NODEJS_22_X). */
export const BUNDLE_TARGET = 'node22';

export interface ProvisionerFunctionProps {
  /** Handler source, relative to the repository root, e.g. `functions/match/handler.ts`. */
  readonly entry: string;
  /**
   * Exported function name in the entry.
   * @default 'handler'
   */
  readonly handler?: string;
  /** One sentence for the console. */
  readonly description: string;
  /** Service name in the structured logs (POWERTOOLS_SERVICE_NAME). */
  readonly serviceName: string;
  /** Environment variables specific to this function (merged over the common ones). */
  readonly environment: Readonly<Record<string, string>>;
  /**
   * @default DEFAULT_FUNCTION_TIMEOUT (infra/retries.ts)
   */
  readonly timeout?: Duration;
  /**
   * @default 256
   */
  readonly memorySize?: number;
  /** Retention of the function's log group. */
  readonly logRetention: logs.RetentionDays;
  /**
   * Compiled rules file copied next to the bundled handler, for functions that match rules.
   * @default - no rules file in the bundle
   */
  readonly rulesFile?: string;
  /**
   * Asynchronous invocations (EventBridge, Scheduler, Lambda `Event`) that still fail after Lambda's own
   * retries go to this queue, so no event is dropped silently.
   * @default - the function is only invoked synchronously
   */
  readonly onFailureQueue?: sqs.IQueue;
}

export class ProvisionerFunction extends Construct {
  public readonly function: nodejs.NodejsFunction;
  public readonly role: iam.Role;
  public readonly logGroup: logs.LogGroup;
  private readonly wildcardReasons: string[] = [];

  constructor(scope: Construct, id: string, props: ProvisionerFunctionProps) {
    super(scope, id);

    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    // An own role instead of AWSLambdaBasicExecutionRole: it may write only to its own log group.
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `Runs the ${props.serviceName} function of the Ansible AutoProvisioner`,
    });
    this.logGroup.grantWrite(this.role);

    const rulesFile = props.rulesFile;
    this.function = new nodejs.NodejsFunction(this, 'Function', {
      entry: path.join(REPO_ROOT, props.entry),
      handler: props.handler ?? 'handler',
      projectRoot: REPO_ROOT,
      depsLockFilePath: path.join(REPO_ROOT, 'package-lock.json'),
      description: props.description,
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: props.memorySize ?? 256,
      timeout: props.timeout ?? DEFAULT_FUNCTION_TIMEOUT,
      role: this.role,
      logGroup: this.logGroup,
      tracing: lambda.Tracing.ACTIVE,
      environment: {
        ...props.environment,
        POWERTOOLS_SERVICE_NAME: props.serviceName,
        NODE_OPTIONS: '--enable-source-maps',
      },
      ...(props.onFailureQueue
        ? {
            onFailure: new destinations.SqsDestination(props.onFailureQueue),
            retryAttempts: ASYNC_INVOKE_RETRY_ATTEMPTS,
          }
        : {}),
      bundling: {
        format: nodejs.OutputFormat.ESM,
        // Lambda's runtime. For this code the output equals a node20 build byte for byte, so local mode on
        // Node 20 runs exactly what Lambda runs (docs/adr/0013-one-node-version-story.md; test/infra/bundle-target.test.ts).
        target: BUNDLE_TARGET,
        minify: true,
        sourceMap: true,
        sourcesContent: false,
        mainFields: ['module', 'main'],
        // AWS SDK v3 comes from the Lambda Node.js runtime (it ships every client and lib-dynamodb):
        // bundling it would put each function at 1.1-1.8 MB, over the 500 KB budget, and slow cold starts.
        // Local mode resolves the same imports from the repository's pinned node_modules (ADR 0005).
        bundleAwsSDK: false,
        externalModules: ['@aws-sdk/*'],
        // Some CommonJS dependencies call require(); give the ESM bundle one.
        banner:
          "import { createRequire as __autoprovCreateRequire } from 'node:module'; const require = __autoprovCreateRequire(import.meta.url);",
        commandHooks: {
          beforeBundling: () => [],
          beforeInstall: () => [],
          afterBundling: (_inputDir: string, outputDir: string) =>
            rulesFile ? [`cp "${rulesFile}" "${path.join(outputDir, RULES_FILE_NAME)}"`] : [],
        },
      },
    });

    // Tracing added X-Ray's PutTraceSegments/PutTelemetryRecords, which have no resource-level permissions.
    this.wildcardReasons.push(XRAY_REASON);
    this.acknowledgeWildcards();
    acknowledge(
      this.function,
      'AwsSolutions-L1',
      'Pinned to Node.js 22 on purpose: the bundles target it and are verified to run unchanged in local mode (docs/adr/0013-one-node-version-story.md).',
    );
  }

  /**
   * Allows actions that have no resource-level permissions (`Resource: *`), with the reason recorded in the
   * cdk-nag acknowledgment of this role's policy. Everything else must name its resources.
   */
  allowOnAnyResource(actions: readonly string[], why: string): void {
    this.role.addToPolicy(new iam.PolicyStatement({ actions: [...actions], resources: ['*'] }));
    this.wildcardReasons.push(why);
    this.acknowledgeWildcards();
  }

  // One acknowledgment per policy and finding: re-recorded with every reason so far (the last one wins).
  private acknowledgeWildcards(): void {
    acknowledge(
      this.role.node.findChild('DefaultPolicy'),
      'AwsSolutions-IAM5[Resource::*]',
      `Only actions without resource-level permissions use "*": ${this.wildcardReasons.join('; ')}.`,
    );
  }
}

const XRAY_REASON = 'xray:PutTraceSegments and xray:PutTelemetryRecords (tracing)';
