// Deployment settings from cdk.json context (or `cdk synth -c key=value`, which passes strings): parsed and
// checked once, with errors that name the context key to fix. Every `autoprov:*` key must be one this file
// reads (a typo is refused, naming the nearest valid key), and every value must be in its documented range
// (README "Settings").
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Node } from 'constructs';
import type { AnsibleInstallMode } from '../functions/core/types.js';
import type { AutoProvisionerProps } from './constructs/auto-provisioner.js';

const PREFIX = 'autoprov:';
const INSTALL_MODES: readonly AnsibleInstallMode[] = ['autoprov', 'document', 'preinstalled'];

/** Every `autoprov:*` context key the app reads; any other `autoprov:*` key is refused. */
export const SETTINGS_KEYS = [
  'stackName',
  'optInTagKey',
  'sweepRateMinutes',
  'notificationEmails',
  'ansibleInstall',
  'logRetentionDays',
  'historyDays',
  'leaseSeconds',
  'tableDeletionProtection',
  'slackSecretArn',
  'telegramSecretArn',
  'secretsKmsKeyArn',
  'demo',
] as const;
export type SettingsKey = (typeof SETTINGS_KEYS)[number];

/** The state machine is named `<stackName><STATE_MACHINE_SUFFIX>`. */
export const STATE_MACHINE_SUFFIX = '-Provisioning';
/** Step Functions: a state machine name has 1-80 characters (CreateStateMachine API reference). */
const STATE_MACHINE_NAME_MAX = 80;
/** CloudFormation: a stack name starts with a letter, has only letters, digits and hyphens, at most 128. */
const STACK_NAME = /^[A-Za-z][A-Za-z0-9-]*$/;
const STACK_NAME_MAX = 128;

/** Whole-number ranges, inclusive (README "Settings" documents them). */
export const RANGES = {
  /** EventBridge Scheduler rate: at least every minute, at most once a day. */
  sweepRateMinutes: { min: 1, max: 1440, unit: 'minutes' },
  /** History TTL and the command-output lifecycle: at least a day, at most ten years. */
  historyDays: { min: 1, max: 3650, unit: 'days' },
  /** A claim lease: at least 5 minutes (shorter only makes the sweep check live executions), at most 7 days. */
  leaseSeconds: { min: 300, max: 604_800, unit: 'seconds' },
} as const satisfies Partial<Record<SettingsKey, { min: number; max: number; unit: string }>>;

/** A complete Secrets Manager secret ARN: the name is followed by `-` and six random characters. */
const SECRET_ARN =
  /^arn:aws[a-z-]*:secretsmanager:[a-z]{2}(-[a-z]+)+-\d:\d{12}:secret:[A-Za-z0-9/_+=.@-]+-[A-Za-z0-9]{6}$/;
/** A plain address (local@domain.tld): no spaces, quotes, brackets or commas. */
const EMAIL = /^[^\s@",;<>[\]()]+@[^\s@",;<>[\]()]+\.[^\s@",;<>[\]()]+$/;

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
  refuseUnknownKeys(Object.keys((node.getAllContext() ?? {}) as Record<string, unknown>));
  const get = (key: SettingsKey): unknown => node.tryGetContext(`${PREFIX}${key}`);
  const retentionDays = optionalNumber(get('logRetentionDays'), 'logRetentionDays');
  const ansibleInstall = optionalString(get('ansibleInstall'), 'ansibleInstall');
  if (ansibleInstall !== undefined && !INSTALL_MODES.includes(ansibleInstall as AnsibleInstallMode)) {
    throw new SettingsError(
      `Context ${PREFIX}ansibleInstall must be one of ${INSTALL_MODES.join(', ')}, got "${ansibleInstall}".`,
    );
  }
  return {
    stackName: stackName(optionalString(get('stackName'), 'stackName') ?? 'AnsibleAutoProvisioner'),
    demo: optionalBoolean(node.tryGetContext('demo') ?? get('demo'), 'demo') ?? false,
    provisioner: {
      optInTagKey: optionalString(get('optInTagKey'), 'optInTagKey'),
      sweepRateMinutes: wholeNumber(get('sweepRateMinutes'), 'sweepRateMinutes'),
      notificationEmails: emails(get('notificationEmails'), 'notificationEmails'),
      ansibleInstall: ansibleInstall as AnsibleInstallMode | undefined,
      logRetention: retentionDays === undefined ? undefined : toRetention(retentionDays),
      historyDays: wholeNumber(get('historyDays'), 'historyDays'),
      leaseSeconds: wholeNumber(get('leaseSeconds'), 'leaseSeconds'),
      slackSecretArn: secretArn(get('slackSecretArn'), 'slackSecretArn'),
      telegramSecretArn: secretArn(get('telegramSecretArn'), 'telegramSecretArn'),
      secretsKmsKeyArn: kmsKeyArn(
        optionalString(get('secretsKmsKeyArn'), 'secretsKmsKeyArn'),
        'secretsKmsKeyArn',
      ),
      tableDeletionProtection: optionalBoolean(get('tableDeletionProtection'), 'tableDeletionProtection'),
    },
  };
}

/** Refuses `autoprov:*` keys the app does not read, naming the nearest valid one. */
function refuseUnknownKeys(contextKeys: readonly string[]): void {
  const known = new Set<string>(SETTINGS_KEYS);
  for (const key of contextKeys) {
    if (!key.startsWith(PREFIX)) continue;
    const name = key.slice(PREFIX.length);
    if (known.has(name)) continue;
    const nearest = [...SETTINGS_KEYS].sort(
      (a, b) =>
        editDistance(name.toLowerCase(), a.toLowerCase()) - editDistance(name.toLowerCase(), b.toLowerCase()),
    )[0];
    throw new SettingsError(
      `Unknown context key ${key}: did you mean ${PREFIX}${nearest}? (valid keys: ${SETTINGS_KEYS.map((k) => PREFIX + k).join(', ')})`,
    );
  }
}

/** Levenshtein distance. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      row.push(Math.min((previous[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, substitution));
    }
    previous = row;
  }
  return previous[b.length] ?? 0;
}

function stackName(name: string): string {
  if (!STACK_NAME.test(name) || name.length > STACK_NAME_MAX) {
    throw new SettingsError(
      `Context ${PREFIX}stackName must start with a letter and contain only letters, digits and hyphens (a CloudFormation stack name), got "${name}".`,
    );
  }
  const max = STATE_MACHINE_NAME_MAX - STATE_MACHINE_SUFFIX.length;
  if (name.length > max) {
    throw new SettingsError(
      `Context ${PREFIX}stackName is ${name.length} characters, at most ${max} allowed: the state machine "${name}${STATE_MACHINE_SUFFIX}" would exceed Step Functions' ${STATE_MACHINE_NAME_MAX}-character limit.`,
    );
  }
  return name;
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

function wholeNumber(value: unknown, key: keyof typeof RANGES): number | undefined {
  const n = optionalNumber(value, key);
  if (n === undefined) return undefined;
  const { min, max, unit } = RANGES[key];
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new SettingsError(
      `Context ${PREFIX}${key} must be a whole number of ${unit} from ${min} to ${max}, got ${JSON.stringify(value)}.`,
    );
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

function secretArn(value: unknown, key: SettingsKey): string | undefined {
  const arn = optionalString(value, key);
  if (arn === undefined) return undefined;
  if (!SECRET_ARN.test(arn)) {
    throw new SettingsError(
      `Context ${PREFIX}${key} must be the complete ARN of a Secrets Manager secret (arn:aws:secretsmanager:<region>:<account>:secret:<name>-<6 characters>, as \`aws secretsmanager describe-secret\` prints it), got "${arn}".`,
    );
  }
  return arn;
}

/**
 * E-mail addresses: a list in cdk.json; from `-c` (always a string) a JSON array (`'["a@example.com"]'`,
 * as the README writes it) or a comma-separated list. Every address is checked.
 */
function emails(value: unknown, key: SettingsKey): string[] | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  let list = value;
  if (typeof value === 'string') {
    if (value.trim().startsWith('[')) {
      try {
        list = JSON.parse(value);
      } catch {
        throw new SettingsError(
          `Context ${PREFIX}${key} is not a valid JSON array: ${value} (write '["a@example.com","b@example.com"]' or a@example.com,b@example.com).`,
        );
      }
    } else {
      list = value.split(',');
    }
  }
  if (!Array.isArray(list) || !list.every((v) => typeof v === 'string')) {
    throw new SettingsError(
      `Context ${PREFIX}${key} must be a list of e-mail addresses, got ${JSON.stringify(value)}.`,
    );
  }
  const addresses = list.map((v) => v.trim()).filter((v) => v.length > 0);
  for (const address of addresses) {
    if (!EMAIL.test(address)) {
      throw new SettingsError(
        `Context ${PREFIX}${key}: "${address}" is not an e-mail address (write '["a@example.com","b@example.com"]' or a@example.com,b@example.com).`,
      );
    }
  }
  return addresses;
}
