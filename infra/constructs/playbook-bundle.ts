// The playbooks/ folder shipped as ONE zip object in a hardened bucket: AWS-ApplyAnsiblePlaybooks
// downloads it on the instance (SourceType S3) and unzips it there (docs/architecture.md "SSM execution and extra vars"). The same bucket takes the
// commands' full output under its own prefix.
import {
  Aws,
  BOOTSTRAP_QUALIFIER_CONTEXT,
  DefaultStackSynthesizer,
  Duration,
  Fn,
  RemovalPolicy,
  Stack,
} from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as s3deploy from 'aws-cdk-lib/aws-s3-deployment';
import { Construct } from 'constructs';
import { acknowledge, nagArn } from '../nag.js';

/** Key prefix of the bundle zip. */
export const BUNDLE_PREFIX = 'bundle/';
/** Key prefix SSM writes command output under (`commands/<execution name>/…`, set by the run-command λ). */
export const COMMAND_OUTPUT_PREFIX = 'commands/';

export interface PlaybookBundleProps {
  /** Folder to zip: the playbooks, rules.yaml and inventories. */
  readonly playbooksDir: string;
  /**
   * Days to keep command output objects and access logs.
   * @default 90
   */
  readonly retentionDays?: number;
}

export class PlaybookBundle extends Construct {
  /** Holds the bundle zip (`bundle/`) and command output (`commands/`). */
  public readonly bucket: s3.Bucket;
  /** Receives the server access logs of `bucket`. */
  public readonly accessLogsBucket: s3.Bucket;
  /** Key of the bundle zip (content-addressed: a new key for new playbooks). */
  public readonly bundleKey: string;
  /** https URL of the zip, the form AWS-ApplyAnsiblePlaybooks' SourceInfo `path` takes. */
  public readonly bundleUrl: string;
  /** `s3://bucket/key`, for people. */
  public readonly bundleS3Uri: string;
  public readonly deployment: s3deploy.BucketDeployment;

  constructor(scope: Construct, id: string, props: PlaybookBundleProps) {
    super(scope, id);
    // Deliver access logs through a bucket policy (ACLs stay disabled), whatever the app's feature flags.
    this.node.setContext('@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy', true);
    const retention = Duration.days(props.retentionDays ?? 90);

    this.accessLogsBucket = new s3.Bucket(this, 'AccessLogs', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      // Server access logging only delivers to SSE-S3 buckets.
      encryption: s3.BucketEncryption.S3_MANAGED,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      versioned: true,
      lifecycleRules: [{ expiration: retention, noncurrentVersionExpiration: Duration.days(1) }],
      removalPolicy: RemovalPolicy.RETAIN,
    });
    acknowledge(
      this.accessLogsBucket,
      'AwsSolutions-S1',
      'This bucket is the access-log destination itself; logging it to another bucket would only move the problem.',
    );

    this.bucket = new s3.Bucket(this, 'Artifacts', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      encryption: s3.BucketEncryption.S3_MANAGED,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      versioned: true,
      serverAccessLogsBucket: this.accessLogsBucket,
      serverAccessLogsPrefix: 'artifacts/',
      lifecycleRules: [
        { prefix: COMMAND_OUTPUT_PREFIX, expiration: retention },
        { noncurrentVersionExpiration: Duration.days(30) },
      ],
      removalPolicy: RemovalPolicy.RETAIN,
    });

    this.deployment = new s3deploy.BucketDeployment(this, 'Upload', {
      sources: [s3deploy.Source.asset(props.playbooksDir)],
      destinationBucket: this.bucket,
      destinationKeyPrefix: BUNDLE_PREFIX,
      // One zip object, unzipped on the instance by the SSM document.
      extract: false,
      // Keep earlier bundles: a run started before a deployment still downloads the zip it was given.
      prune: false,
      retainOnDelete: true,
      memoryLimit: 256,
    });
    // The handler copies the asset zip to `<prefix><basename of the asset key>` (asset keys are `<hash>.zip`).
    this.bundleKey = `${BUNDLE_PREFIX}${Fn.select(0, this.deployment.objectKeys)}`;
    this.acknowledgeDeploymentHandler();
    this.bundleUrl = `https://s3.${Aws.REGION}.${Aws.URL_SUFFIX}/${this.bucket.bucketName}/${this.bundleKey}`;
    this.bundleS3Uri = `s3://${this.bucket.bucketName}/${this.bundleKey}`;
  }

  // BucketDeployment's handler is a stack-level singleton CDK owns (Python runtime, basic execution role,
  // s3 action wildcards): acknowledged on its three resources, each finding by name.
  private acknowledgeDeploymentHandler(): void {
    const stack = Stack.of(this);
    const handler = stack.node.children.find((c) => c.node.id.startsWith('Custom::CDKBucketDeployment'));
    if (!handler) throw new Error('BucketDeployment handler not found: the CDK version changed its layout.');
    const role = handler.node.findChild('ServiceRole');
    const policy = role.node.findChild('DefaultPolicy');
    const why =
      'CDK-managed BucketDeployment handler, which copies the playbook zip into the artifacts bucket at deploy time';
    acknowledge(handler, 'AwsSolutions-L1', `${why}; its runtime is chosen and updated by aws-cdk-lib.`);
    acknowledge(
      role,
      'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
      `${why}; it only writes its own logs with this policy.`,
    );
    const qualifier =
      (stack.node.tryGetContext(BOOTSTRAP_QUALIFIER_CONTEXT) as string | undefined) ??
      DefaultStackSynthesizer.DEFAULT_QUALIFIER;
    const findings = [
      'Action::s3:GetObject*',
      'Action::s3:GetBucket*',
      'Action::s3:List*',
      'Action::s3:DeleteObject*',
      'Action::s3:Abort*',
      `Resource::arn:<AWS::Partition>:s3:::cdk-${qualifier}-assets-<AWS::AccountId>-<AWS::Region>/*`,
      `Resource::${nagArn(this.bucket)}/*`,
    ];
    for (const finding of findings) {
      acknowledge(
        policy,
        `AwsSolutions-IAM5[${finding}]`,
        `${why}: read the CDK asset, write the destination bucket.`,
      );
    }
  }
}
