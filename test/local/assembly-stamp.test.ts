// Local mode reuses a synthesized assembly only if it is the one local mode wrote: a cdk.out that the CDK
// CLI rewrote with other context (`npx cdk synth -c autoprov:sweepRateMinutes=1`) is synthesized again.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { staleReason, writeStamp } from '../../scripts/local/assembly.js';

describe('local-mode assembly stamp', () => {
  const dir = mkdtempSync(join(tmpdir(), 'autoprov-assembly-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('is current as written, stale when the sources change or another synth rewrote the folder', () => {
    expect(staleReason(dir, 'h1')).toBe('no local-mode assembly yet');
    writeFileSync(join(dir, 'manifest.json'), '{"version":"1"}');
    writeFileSync(
      join(dir, 'Stack.template.json'),
      '{"Resources":{"Rate":{"Properties":{"ScheduleExpression":"rate(5 minutes)"}}}}',
    );
    writeStamp(dir, 'h1', '/playbooks');

    expect(staleReason(dir, 'h1')).toBeUndefined();
    expect(staleReason(dir, 'h2')).toBe('the sources changed');

    // What `npx cdk synth -c autoprov:sweepRateMinutes=1` leaves: same sources, another template.
    writeFileSync(
      join(dir, 'Stack.template.json'),
      '{"Resources":{"Rate":{"Properties":{"ScheduleExpression":"rate(1 minute)"}}}}',
    );
    expect(staleReason(dir, 'h1')).toMatch(
      /was written by something else since \(e\.g\. npx cdk synth with other context\)/,
    );
  });
});
