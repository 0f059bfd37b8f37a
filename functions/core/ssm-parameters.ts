// The one encoder for AWS-ApplyAnsiblePlaybooks parameters (docs/architecture.md "SSM execution and extra vars"). This is a security boundary:
// the document pastes ExtraVariables textually inside `-e "..."` in a bash script run as root, and
// its allowedPattern still lets `` ` `` and `$` through. (Newer agents honour the schema's
// `interpolationType: ENV_VAR` and pass it as an environment variable; we cannot rely on that.)
// So nothing leaves here unless every character is one bash leaves alone inside double quotes
// (extra-vars.ts), and every var not sent as-is is reported as an adjustment for the audit trail
// (VARS_ADJUSTED), never silently.
import { Buffer } from 'node:buffer';
import { isSafeKey, isSafeValue, MAX_VALUE_LENGTH, SAFE_VALUE } from './extra-vars.js';
import type { PlannedPlaybook } from './types.js';

export type Verbosity = '-v' | '-vv' | '-vvv' | '-vvvv';
const VERBOSITIES: readonly string[] = ['-v', '-vv', '-vvv', '-vvvv'];

/** What happened to one extra var that could not be sent as `key=value`. */
export interface VarAdjustment {
  readonly key: string;
  /** `encoded`: sent as `<key>_b64=<base64 of the UTF-8 value>`; `dropped`: not sent at all. */
  readonly action: 'encoded' | 'dropped';
  readonly reason: string;
  /** For `encoded`: the key it was sent under. */
  readonly sentAs?: string;
}

export interface ApplyPlaybooksInput {
  /** https URL of the playbooks bundle zip (the document downloads it with the instance profile). */
  readonly bundleUrl: string;
  readonly playbook: PlannedPlaybook;
  /** Host facts vars passed to every playbook; the playbook's own extraVars win on conflicts. */
  readonly hostVars: Readonly<Record<string, string>>;
  readonly installDependencies: boolean;
  /** Who the playbook runs for: always sent as autoprov_instance_id and autoprov_host_label. */
  readonly identity: { readonly instanceId: string; readonly name?: string };
  /** @default '-v' */
  readonly verbose?: Verbosity;
}

export interface ApplyPlaybooksParameters {
  /** SendCommand `Parameters`. */
  readonly parameters: Record<string, string[]>;
  /** Every var not sent raw, sorted by key. */
  readonly adjustments: VarAdjustment[];
}

/** A parameter we refuse to build: says which one, what was wrong and how to fix it. */
export class InvalidSsmParameterError extends Error {
  override name = 'InvalidSsmParameterError';
  constructor(
    readonly parameter: string,
    message: string,
  ) {
    super(`AWS-ApplyAnsiblePlaybooks ${parameter}: ${message}`);
  }
}

/**
 * A playbook path we send. Stricter than the document's own (unanchored) pattern: relative, each
 * segment starting with a letter, digit or `_` — so no `..`, no absolute path, and no leading `-`
 * that ansible-playbook would read as an option — and nothing a shell would interpret.
 */
export const SAFE_PLAYBOOK_FILE = /^(?:[A-Za-z0-9_][A-Za-z0-9_.-]*\/)*[A-Za-z0-9_][A-Za-z0-9_.-]*\.ya?ml$/;

/** The document's TimeoutSeconds pattern is `^[1-9][0-9]{0,6}$`. */
const MAX_TIMEOUT_SECONDS = 9_999_999;

const B64_SUFFIX = '_b64';
// Unpaired UTF-16 surrogates have no UTF-8 form: encoding would replace them and the playbook would
// decode a different string, so such values are dropped rather than silently altered.
const LONE_SURROGATE = /\p{Surrogate}/u;

/** Decode a `<key>_b64` value back to the original string (what Ansible's `b64decode` filter does). */
export function decodeB64Var(value: string): string {
  return Buffer.from(value, 'base64').toString('utf8');
}

function encodeB64(value: string): string {
  return Buffer.from(value, 'utf8').toString('base64');
}

function whyValueUnsafe(value: string): string {
  return value.length > MAX_VALUE_LENGTH
    ? `value is longer than ${MAX_VALUE_LENGTH} characters`
    : `value contains characters outside ${SAFE_VALUE.source}`;
}

/**
 * Ansible's own variables that `-e` (highest precedence) must not set. Connection variables from an
 * inventory written for SSH (`ansible_host`, `ansible_port`, `ansible_user`, `ansible_connection`,
 * `ansible_become_password`, …) would override the document's `-c local` or leak a password into the
 * command; magic variables are Ansible's to set. `ansible_python_interpreter` is the one kept: it is
 * about the host itself and is sometimes needed.
 */
const KEPT_ANSIBLE_VARS: ReadonlySet<string> = new Set(['ansible_python_interpreter']);
const MAGIC_VARS: ReadonlySet<string> = new Set([
  'hostvars',
  'groups',
  'group_names',
  'inventory_hostname',
  'inventory_hostname_short',
  'inventory_dir',
  'inventory_file',
  'playbook_dir',
  'play_hosts',
  'role_names',
  'omit',
]);

/** Why `key` is never sent as an extra var, or undefined when it may be. */
export function whyReserved(key: string): string | undefined {
  if (key.startsWith('ansible_') && !KEPT_ANSIBLE_VARS.has(key)) {
    return 'an Ansible connection/behaviour variable: SSM runs the playbook on the host itself (-c local), so it is not passed (with -e it would override that)';
  }
  if (MAGIC_VARS.has(key)) return 'an Ansible magic variable, set by Ansible itself; -e would override it';
  return undefined;
}

/**
 * Encode extra vars as ExtraVariables text: `k=v` pairs sorted by the key sent, joined by single
 * spaces. A pair goes raw only when the key is an Ansible name (not one of Ansible's own, whyReserved)
 * and the value non-empty and safe; otherwise it is encoded as `<key>_b64` or dropped, and reported
 * either way.
 */
export function encodeExtraVariables(vars: ReadonlyMap<string, string>): {
  text: string;
  adjustments: VarAdjustment[];
} {
  const sent = new Map<string, string>();
  const adjustments: VarAdjustment[] = [];
  const drop = (key: string, reason: string) => adjustments.push({ key, action: 'dropped', reason });
  for (const key of [...vars.keys()].sort()) {
    const value = vars.get(key) as string;
    const reserved = whyReserved(key);
    if (reserved !== undefined) {
      drop(key, reserved);
    } else if (!isSafeKey(key)) {
      drop(key, 'key is not a valid Ansible variable name (letters, digits, _; not starting with a digit)');
    } else if (value === '') {
      drop(key, 'value is empty (the document requires key=value with a non-empty value)');
    } else if (isSafeValue(value)) {
      sent.set(key, value);
    } else {
      const sentAs = `${key}${B64_SUFFIX}`;
      const unsafe = whyValueUnsafe(value);
      if (LONE_SURROGATE.test(value)) {
        drop(
          key,
          `${unsafe}, and it is not valid Unicode (unpaired surrogate), so it cannot be base64-encoded faithfully`,
        );
      } else if (vars.has(sentAs)) {
        drop(key, `${unsafe}, and its encoded form ${sentAs} would collide with the var of that name`);
      } else {
        const encoded = encodeB64(value);
        if (!isSafeKey(sentAs) || encoded.length > MAX_VALUE_LENGTH) {
          drop(
            key,
            `${unsafe}, and its base64 form is ${encoded.length} characters (max ${MAX_VALUE_LENGTH})`,
          );
        } else {
          sent.set(sentAs, encoded);
          adjustments.push({
            key,
            action: 'encoded',
            reason: `${unsafe}; sent base64-encoded (decode with the b64decode filter)`,
            sentAs,
          });
        }
      }
    }
  }
  const text = [...sent.keys()]
    .sort()
    .map((key) => `${key}=${sent.get(key)}`)
    .join(' ');
  return { text, adjustments };
}

function validateBundleUrl(bundleUrl: string): void {
  let url: URL;
  try {
    url = new URL(bundleUrl);
  } catch {
    throw new InvalidSsmParameterError(
      'SourceInfo',
      `bundle URL "${bundleUrl}" is not a URL; expected https://<bucket>.s3.<region>.amazonaws.com/<key>.`,
    );
  }
  if (url.protocol !== 'https:' || url.hostname === '') {
    throw new InvalidSsmParameterError('SourceInfo', `bundle URL must be an https URL, got "${bundleUrl}".`);
  }
  if (url.username !== '' || url.password !== '') {
    throw new InvalidSsmParameterError(
      'SourceInfo',
      'bundle URL must not carry credentials: the instance profile grants read access.',
    );
  }
}

function validatePlaybook(playbook: PlannedPlaybook): void {
  if (!SAFE_PLAYBOOK_FILE.test(playbook.file)) {
    throw new InvalidSsmParameterError(
      'PlaybookFile',
      `"${playbook.file}" (rule ${playbook.rule}) must be a relative .yml/.yaml path of letters, digits, _ . - and /, ` +
        'each segment starting with a letter, digit or _.',
    );
  }
  const timeout = playbook.timeoutSeconds;
  if (!Number.isInteger(timeout) || timeout < 1 || timeout > MAX_TIMEOUT_SECONDS) {
    throw new InvalidSsmParameterError(
      'TimeoutSeconds',
      `${timeout} for ${playbook.file} (rule ${playbook.rule}) must be a whole number from 1 to ${MAX_TIMEOUT_SECONDS}.`,
    );
  }
}

/**
 * The identity every playbook gets, set last so no tag, inventory var or extraVars can spoof it:
 * `autoprov_instance_id`, and `autoprov_host_label` — the Name tag (or inventory host name) when it is
 * safe to send raw, else the instance id (a Name that had to be encoded still arrives as tag_Name_b64).
 */
export function identityVars(identity: ApplyPlaybooksInput['identity']): Record<string, string> {
  if (!isSafeValue(identity.instanceId) || identity.instanceId === '') {
    throw new InvalidSsmParameterError(
      'ExtraVariables',
      `instance id "${identity.instanceId}" is not an EC2 instance or managed node id.`,
    );
  }
  const name = identity.name;
  const label = name !== undefined && name !== '' && isSafeValue(name) ? name : identity.instanceId;
  return { autoprov_instance_id: identity.instanceId, autoprov_host_label: label };
}

/**
 * Every var one playbook run is given, before encoding: the host's vars, the playbook's extraVars over
 * them, the identity last. A Map, not an object: keys come from tags and inventories and may be
 * `__proto__` and the like.
 */
export function mergeExtraVars(
  hostVars: Readonly<Record<string, string>>,
  extraVars: Readonly<Record<string, string>>,
  identity: ApplyPlaybooksInput['identity'],
): Map<string, string> {
  const vars = new Map<string, string>(Object.entries(hostVars));
  for (const [key, value] of Object.entries(extraVars)) vars.set(key, value);
  for (const [key, value] of Object.entries(identityVars(identity))) vars.set(key, value);
  return vars;
}

/** SendCommand parameters for one playbook run, and every extra var adjustment made on the way. */
export function buildApplyPlaybooksParameters(input: ApplyPlaybooksInput): ApplyPlaybooksParameters {
  const verbose = input.verbose ?? '-v';
  validateBundleUrl(input.bundleUrl);
  validatePlaybook(input.playbook);
  if (!VERBOSITIES.includes(verbose)) {
    throw new InvalidSsmParameterError('Verbose', `"${verbose}" must be one of ${VERBOSITIES.join(', ')}.`);
  }
  const vars = mergeExtraVars(input.hostVars, input.playbook.extraVars, input.identity);
  const { text, adjustments } = encodeExtraVariables(vars);
  return {
    parameters: {
      SourceType: ['S3'],
      SourceInfo: [JSON.stringify({ path: input.bundleUrl })],
      InstallDependencies: [input.installDependencies ? 'True' : 'False'],
      PlaybookFile: [input.playbook.file],
      ExtraVariables: [text],
      Check: [input.playbook.check ? 'True' : 'False'],
      Verbose: [verbose],
      TimeoutSeconds: [String(input.playbook.timeoutSeconds)],
    },
    adjustments,
  };
}
