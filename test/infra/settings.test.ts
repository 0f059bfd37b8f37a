// Deployment settings (cdk.json context and `cdk synth -c key=value`): every value the CDK CLI can pass is
// parsed the way the README writes it, and every mistake is refused with a message naming the key.
// The same checks through the real CDK CLI: test/infra/settings-cli.test.ts and test/docs/readme-commands.test.ts.
import { App } from 'aws-cdk-lib';
import { describe, expect, it } from 'vitest';
import { readSettings, SETTINGS_KEYS, SettingsError } from '../../infra/settings.js';
import { projectContext } from '../../infra/synth.js';

/** readSettings on an app whose context is cdk.json's plus `context` (as `-c` would pass it: strings). */
const settings = (context: Record<string, unknown>) =>
  readSettings(new App({ context: { ...projectContext(), ...context } }).node);

const refusal = (context: Record<string, unknown>): string => {
  try {
    settings(context);
  } catch (error) {
    expect(error).toBeInstanceOf(SettingsError);
    return (error as Error).message;
  }
  throw new Error(`${JSON.stringify(context)} was accepted`);
};

describe('notification e-mails', () => {
  it("reads the README's -c value, a JSON array in a string, as the addresses it lists", () => {
    expect(
      settings({ 'autoprov:notificationEmails': '["ops@example.com"]' }).provisioner.notificationEmails,
    ).toEqual(['ops@example.com']);
    expect(
      settings({ 'autoprov:notificationEmails': '["ops@example.com", "oncall@example.com"]' }).provisioner
        .notificationEmails,
    ).toEqual(['ops@example.com', 'oncall@example.com']);
  });

  it('reads a comma list and a cdk.json list', () => {
    expect(
      settings({ 'autoprov:notificationEmails': 'ops@example.com, oncall@example.com' }).provisioner
        .notificationEmails,
    ).toEqual(['ops@example.com', 'oncall@example.com']);
    expect(
      settings({ 'autoprov:notificationEmails': ['ops@example.com'] }).provisioner.notificationEmails,
    ).toEqual(['ops@example.com']);
    expect(settings({}).provisioner.notificationEmails).toEqual([]);
  });

  it('refuses anything that is not an e-mail address, naming the key and the address', () => {
    expect(refusal({ 'autoprov:notificationEmails': 'ops@example.com, oncall' })).toBe(
      'Context autoprov:notificationEmails: "oncall" is not an e-mail address (write \'["a@example.com","b@example.com"]\' or a@example.com,b@example.com).',
    );
    expect(refusal({ 'autoprov:notificationEmails': "['ops@example.com']" })).toMatch(
      /^Context autoprov:notificationEmails is not a valid JSON array: \['ops@example.com'\]/,
    );
    expect(refusal({ 'autoprov:notificationEmails': '[1]' })).toMatch(/must be a list of e-mail addresses/);
  });
});

describe('unknown keys', () => {
  it('refuses an autoprov:* key the app does not read, naming the nearest valid key', () => {
    expect(refusal({ 'autoprov:sweepRateMinute': '10' })).toMatch(
      /^Unknown context key autoprov:sweepRateMinute: did you mean autoprov:sweepRateMinutes\? \(valid keys: autoprov:stackName, /,
    );
    expect(refusal({ 'autoprov:notificationEmail': 'ops@example.com' })).toMatch(
      /did you mean autoprov:notificationEmails\?/,
    );
    expect(refusal({ 'autoprov:SlackSecretArn': 'x' })).toMatch(/did you mean autoprov:slackSecretArn\?/);
  });

  it('accepts every key cdk.json sets, and context that is not ours', () => {
    const ours = Object.keys(projectContext()).filter((k) => k.startsWith('autoprov:'));
    expect(ours.length).toBeGreaterThan(10);
    for (const key of ours)
      expect(SETTINGS_KEYS as readonly string[]).toContain(key.slice('autoprov:'.length));
    expect(() => settings({ '@aws-cdk/core:newStyleStackSynthesis': true, demo: 'false' })).not.toThrow();
  });
});

describe('ranges', () => {
  it.each([
    [
      'leaseSeconds',
      '-1',
      'Context autoprov:leaseSeconds must be a whole number of seconds from 300 to 604800, got "-1".',
    ],
    [
      'leaseSeconds',
      '299',
      'Context autoprov:leaseSeconds must be a whole number of seconds from 300 to 604800, got "299".',
    ],
    [
      'sweepRateMinutes',
      '0',
      'Context autoprov:sweepRateMinutes must be a whole number of minutes from 1 to 1440, got "0".',
    ],
    [
      'sweepRateMinutes',
      '2.5',
      'Context autoprov:sweepRateMinutes must be a whole number of minutes from 1 to 1440, got "2.5".',
    ],
    [
      'historyDays',
      '0',
      'Context autoprov:historyDays must be a whole number of days from 1 to 3650, got "0".',
    ],
    [
      'historyDays',
      3651,
      'Context autoprov:historyDays must be a whole number of days from 1 to 3650, got 3651.',
    ],
    ['leaseSeconds', 'soon', 'Context autoprov:leaseSeconds must be a number, got "soon".'],
  ])('refuses %s=%s', (key, value, message) => {
    expect(refusal({ [`autoprov:${key}`]: value })).toBe(message);
  });

  it('accepts the bounds of every range', () => {
    const low = settings({
      'autoprov:leaseSeconds': '300',
      'autoprov:sweepRateMinutes': '1',
      'autoprov:historyDays': '1',
    });
    expect(low.provisioner).toMatchObject({ leaseSeconds: 300, sweepRateMinutes: 1, historyDays: 1 });
    const high = settings({
      'autoprov:leaseSeconds': 604800,
      'autoprov:sweepRateMinutes': 1440,
      'autoprov:historyDays': 3650,
    });
    expect(high.provisioner).toMatchObject({
      leaseSeconds: 604800,
      sweepRateMinutes: 1440,
      historyDays: 3650,
    });
  });
});

describe('secret ARNs', () => {
  const good = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:autoprov/slack-AbC123';

  it('accepts a complete Secrets Manager ARN', () => {
    expect(settings({ 'autoprov:slackSecretArn': good }).provisioner.slackSecretArn).toBe(good);
    expect(settings({ 'autoprov:telegramSecretArn': good }).provisioner.telegramSecretArn).toBe(good);
  });

  it.each([
    ['a secret name', 'autoprov/slack'],
    [
      'a partial ARN (no random suffix)',
      'arn:aws:secretsmanager:eu-west-1:123456789012:secret:autoprov/slack',
    ],
    ['another service', 'arn:aws:ssm:eu-west-1:123456789012:parameter/autoprov/slack-AbC123'],
    ['a short account', 'arn:aws:secretsmanager:eu-west-1:1234:secret:autoprov/slack-AbC123'],
  ])('refuses %s with its own message', (_, arn) => {
    for (const key of ['slackSecretArn', 'telegramSecretArn']) {
      expect(refusal({ [`autoprov:${key}`]: arn })).toBe(
        `Context autoprov:${key} must be the complete ARN of a Secrets Manager secret (arn:aws:secretsmanager:<region>:<account>:secret:<name>-<6 characters>, as \`aws secretsmanager describe-secret\` prints it), got "${arn}".`,
      );
    }
  });
});

describe('stack name', () => {
  it('allows a name whose state machine "<name>-Provisioning" has at most 80 characters', () => {
    const longest = `A${'b'.repeat(66)}`;
    expect(settings({ 'autoprov:stackName': longest }).stackName).toBe(longest);
    expect(refusal({ 'autoprov:stackName': `${longest}c` })).toBe(
      `Context autoprov:stackName is 68 characters, at most 67 allowed: the state machine "${longest}c-Provisioning" would exceed Step Functions' 80-character limit.`,
    );
  });

  it.each(['my_stack', '1stack', 'stack name', '-stack'])(
    'refuses %j (not a CloudFormation stack name)',
    (name) => {
      expect(refusal({ 'autoprov:stackName': name })).toBe(
        `Context autoprov:stackName must start with a letter and contain only letters, digits and hyphens (a CloudFormation stack name), got "${name}".`,
      );
    },
  );
});
