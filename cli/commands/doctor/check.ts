// One line of `autoprov doctor`: a section, ✔/✖/! status, title, detail and the fix; and the "!" line
// for a check an AWS error prevented (could not check, and why, and the permission the CLI needs).
import { describeAwsError } from '../../aws.js';
import type { CheckLine } from '../../output.js';

export type Send<T extends { send: unknown }> = Pick<T, 'send'>;

export interface Check extends CheckLine {
  readonly section: 'instance' | 'stack';
}

export const check = (
  section: Check['section'],
  status: Check['status'],
  title: string,
  detail: string,
  fix?: string,
): Check => ({
  section,
  status,
  title,
  detail,
  ...(fix ? { fix } : {}),
});

export const couldNotCheck = (
  section: Check['section'],
  title: string,
  error: unknown,
  permission: string,
): Check =>
  check(
    section,
    'warn',
    title,
    `could not check: ${describeAwsError(error)}`,
    `the CLI's credentials need ${permission}`,
  );
