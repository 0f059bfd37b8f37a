// A bad setting through the real CDK CLI (`cdk synth -c …`, as an operator types it): refused with one
// line that says what and how to fix, no stack trace. The CLI passes every -c value as a string; the
// parsing itself is covered in settings.test.ts, the README's own deploy arguments in
// test/docs/readme-commands.test.ts.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { offlineCdkEnv, runShell } from '../helpers/checkout.js';
import { repoRoot } from '../helpers/paths.js';

const scratch = mkdtempSync(join(tmpdir(), 'autoprov-settings-cli-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('cdk synth with a bad setting (real CDK CLI)', () => {
  it('refuses a misspelt key in one line naming the nearest valid key, without a stack trace', async () => {
    // Act: the cloud assembly goes to a scratch folder (the repository's cdk.out belongs to local mode)
    const run = await runShell(
      `node_modules/.bin/cdk synth -o ${join(scratch, 'cdk.out')} -c autoprov:sweepRateMinute=10`,
      repoRoot,
      offlineCdkEnv(join(scratch, 'home')),
    );

    // Assess: our line, then only the CLI's own note that the app exited 1
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    const lines = run.stderr.split('\n').filter((line) => line.trim() !== '');
    expect(lines).toEqual([
      expect.stringMatching(
        /^Error: Unknown context key autoprov:sweepRateMinute: did you mean autoprov:sweepRateMinutes\? \(valid keys: [^)]+\)$/,
      ),
      'npx tsx infra/app.ts: Subprocess exited with error 1',
    ]);
  }, 120_000);
});
