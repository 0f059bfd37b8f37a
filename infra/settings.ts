// Deployment settings from cdk.json context (or `cdk synth -c key=value`, which passes strings): parsed and
// checked once, with errors that name the context key to fix.
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Node } from 'constructs';
import type { AnsibleInstallMode } from '../functions/core/types.js';
import type { AutoProvisionerProps } from './constructs/auto-provisioner.js';

const PREFIX = 'autoprov:';
const INSTALL_MODES: readonly AnsibleInstallMode[] = ['autoprov', 'document', 'preinstalled'];

export class SettingsError extends Error {
  override name = 'SettingsError';
}

export interface DeploymentSettings {
  readonly stackName: string;
  /** Launch a demo instance that opts in (context `demo`). */
  readonly demo: boolean;
  readonly provisioner: AutoProvisionerProps;
}

export function readSettings(node: Node): DeploymentSettings {
  const get = (key: string): unknown => node.tryGetContext(`${PREFIX}${key}`);
  const retentionDays = optionalNumber(get('logRetentionDays'), 'logRetentionDays');
  const ansibleInstall = optionalString(get('ansibleInstall'), 'ansibleInstall');
  if (ansibleInstall !== undefined && !INSTALL_MODES.includes(ansibleInstall as AnsibleInstallMode)) {
    throw new SettingsError(
      `Context ${PREFIX}ansibleInstall must be one of ${INSTALL_MODES.join(', ')}, got "${ansibleInstall}".`,
    );
  }
  return {
    stackName: optionalString(get('stackName'), 'stackName') ?? 'AnsibleAutoProvisioner',
    demo: optionalBoolean(node.tryGetContext('demo') ?? get('demo'), 'demo') ?? false,
    provisioner: {
      optInTagKey: optionalString(get('optInTagKey'), 'optInTagKey'),
      sweepRateMinutes: optionalNumber(get('sweepRateMinutes'), 'sweepRateMinutes'),
      notificationEmails: stringList(get('notificationEmails'), 'notificationEmails'),
      ansibleInstall: ansibleInstall as AnsibleInstallMode | undefined,
      logRetention: retentionDays === undefined ? undefined : toRetention(retentionDays),
      historyDays: optionalNumber(get('historyDays'), 'historyDays'),
      leaseSeconds: optionalNumber(get('leaseSeconds'), 'leaseSeconds'),
      slackSecretArn: optionalString(get('slackSecretArn'), 'slackSecretArn'),
      telegramSecretArn: optionalString(get('telegramSecretArn'), 'telegramSecretArn'),
      secretsKmsKeyArn: kmsKeyArn(
        optionalString(get('secretsKmsKeyArn'), 'secretsKmsKeyArn'),
        'secretsKmsKeyArn',
      ),
      tableDeletionProtection: optionalBoolean(get('tableDeletionProtection'), 'tableDeletionProtection'),
    },
  };
}

function toRetention(days: number): logs.RetentionDays {
  const allowed = Object.values(logs.RetentionDays).filter((v): v is number => typeof v === 'number');
  if (!allowed.includes(days)) {
    throw new SettingsError(
      `Context ${PREFIX}logRetentionDays must be one of CloudWatch's retention periods (${allowed.join(', ')}), got ${days}.`,
    );
  }
  return days as logs.RetentionDays;
}

/** A KMS key ARN (single- or multi-Region key id); an alias ARN is refused: IAM authorizes the key itself. */
const KMS_KEY_ARN =
  /^arn:aws(?:-[a-z]+)*:kms:[a-z]{2}(?:-[a-z]+)+-\d:\d{12}:key\/(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})$/;

function kmsKeyArn(value: string | undefined, key: string): string | undefined {
  if (value === undefined || KMS_KEY_ARN.test(value)) return value;
  throw new SettingsError(
    `Context ${PREFIX}${key} must be the ARN of a KMS key, arn:aws:kms:<region>:<account>:key/<key id>, got "${value}". ` +
      'Use the key ARN (aws kms describe-key --key-id <alias or id> --query KeyMetadata.Arn), not an alias: IAM grants kms:Decrypt on the key itself.',
  );
}

function optionalString(value: unknown, key: string): string | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string')
    throw new SettingsError(`Context ${PREFIX}${key} must be a string, got ${JSON.stringify(value)}.`);
  return value;
}

function optionalNumber(value: unknown, key: string): number | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  const n = typeof value === 'string' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isFinite(n)) {
    throw new SettingsError(`Context ${PREFIX}${key} must be a number, got ${JSON.stringify(value)}.`);
  }
  return n;
}

function optionalBoolean(value: unknown, key: string): boolean | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value === 'boolean') return value;
  if (value === 'true') return true;
  if (value === 'false') return false;
  throw new SettingsError(`Context ${key} must be true or false, got ${JSON.stringify(value)}.`);
}

/** A JSON list in cdk.json, or a comma-separated string from `-c`. */
function stringList(value: unknown, key: string): string[] | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  const list = typeof value === 'string' ? value.split(',') : value;
  if (!Array.isArray(list) || !list.every((v) => typeof v === 'string')) {
    throw new SettingsError(
      `Context ${PREFIX}${key} must be a list of strings, got ${JSON.stringify(value)}.`,
    );
  }
  return list.map((v) => v.trim()).filter((v) => v.length > 0);
}
