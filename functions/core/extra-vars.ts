// The character sets allowed into AWS-ApplyAnsiblePlaybooks' ExtraVariables (docs/architecture.md "SSM execution and extra vars").
// The document pastes ExtraVariables inside `-e "..."` in bash as root: only these characters are
// ever sent raw. Anything else is encoded (`<key>_b64`) or dropped by `ssm-parameters.ts`.

/** A value that bash cannot interpret inside double quotes, and that the document's allowedPattern accepts. */
export const SAFE_VALUE = /^[A-Za-z0-9_.,/@%+=-]*$/;
/** An Ansible variable name. */
export const SAFE_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Longest value sent raw or encoded; longer values are dropped (SSM parameters have size limits). */
export const MAX_VALUE_LENGTH = 1024;

export function isSafeKey(key: string): boolean {
  return SAFE_KEY.test(key);
}

export function isSafeValue(value: string): boolean {
  return value.length <= MAX_VALUE_LENGTH && SAFE_VALUE.test(value);
}
