// Where the full Ansible output of every command goes: a CloudWatch log group (SSM writes one stream per
// step) and objects under `commands/` in the artifacts bucket, so nothing is lost to the 24,000-character
// truncation of the API (docs/architecture.md "SSM execution and extra vars"). Plus the managed policy instance profiles need for all of it.
import { ArnFormat, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { acknowledge, nagArn } from '../nag.js';
import { BUNDLE_PREFIX, COMMAND_OUTPUT_PREFIX } from './playbook-bundle.js';

export interface CommandOutputProps {
  /** The artifacts bucket holding the bundle and the command output. */
  readonly bucket: s3.IBucket;
  readonly retention: logs.RetentionDays;
}

export class CommandOutput extends Construct {
  public readonly logGroup: logs.LogGroup;
  /**
   * Attach to the instance profile of every instance to provision (next to AmazonSSMManagedInstanceCore):
   * read the playbook bundle, write command output to the bucket prefix and the log group.
   */
  public readonly instancePolicy: iam.ManagedPolicy;

  constructor(scope: Construct, id: string, props: CommandOutputProps) {
    super(scope, id);
    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.retention,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    const anyLogGroup = Stack.of(this).formatArn({
      service: 'logs',
      resource: 'log-group',
      resourceName: '*',
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    this.instancePolicy = new iam.ManagedPolicy(this, 'InstancePolicy', {
      description:
        'Ansible AutoProvisioner: lets an instance download the playbook bundle and write Run Command output. Attach it to instance profiles next to AmazonSSMManagedInstanceCore.',
      statements: [
        new iam.PolicyStatement({
          sid: 'ReadPlaybookBundle',
          actions: ['s3:GetObject'],
          resources: [props.bucket.arnForObjects(`${BUNDLE_PREFIX}*`)],
        }),
        new iam.PolicyStatement({
          // The SSM agent uploads every output object with the canned ACL bucket-owner-full-control
          // (aws/amazon-ssm-agent, agent/s3util/s3util.go, S3Upload: s3manager.UploadInput{ACL:
          // "bucket-owner-full-control"}; a PutObject, or CreateMultipartUpload for large files, carrying
          // x-amz-acl). S3's PutObject reference: "s3:PutObjectAcl - To successfully change the objects ACL
          // of your PutObject request, you must have the s3:PutObjectAcl"
          // (https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutObject.html). The bucket enforces bucket
          // ownership (ACLs disabled), so this cannot make an object readable by anyone else.
          sid: 'WriteCommandOutputObjects',
          actions: ['s3:PutObject', 's3:PutObjectAcl'],
          resources: [props.bucket.arnForObjects(`${COMMAND_OUTPUT_PREFIX}*`)],
        }),
        new iam.PolicyStatement({
          sid: 'CheckOutputBucketEncryption',
          actions: ['s3:GetEncryptionConfiguration'],
          resources: [props.bucket.bucketArn],
        }),
        new iam.PolicyStatement({
          sid: 'WriteCommandOutputLogs',
          actions: ['logs:CreateLogStream', 'logs:PutLogEvents', 'logs:DescribeLogStreams'],
          resources: [this.logGroup.logGroupArn],
        }),
        new iam.PolicyStatement({
          // The SSM agent looks the group up before writing; DescribeLogGroups is not scoped to one group.
          sid: 'FindCommandOutputLogGroup',
          actions: ['logs:DescribeLogGroups'],
          resources: [anyLogGroup],
        }),
      ],
    });
    const policy = this.instancePolicy;
    const bucketArn = nagArn(props.bucket);
    acknowledge(
      policy,
      `AwsSolutions-IAM5[Resource::${bucketArn}/${BUNDLE_PREFIX}*]`,
      'Read-only on the bundle prefix: the zip is content-addressed, so its exact key changes with every playbook change.',
    );
    acknowledge(
      policy,
      `AwsSolutions-IAM5[Resource::${bucketArn}/${COMMAND_OUTPUT_PREFIX}*]`,
      'Write-only on the command-output prefix (PutObject, and PutObjectAcl for the ACL the SSM agent sets on each upload): SSM chooses the object keys (command id, instance id, step).',
    );
    acknowledge(
      policy,
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:*]',
      'logs:DescribeLogGroups cannot be scoped to one log group; it only lists names. Writing is limited to the output group.',
    );
  }
}
