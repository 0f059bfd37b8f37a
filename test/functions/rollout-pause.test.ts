// A rollout lane that pauses is told once (docs/adr/0015-admission-slots-for-rollouts-and-quotas.md): the
// record step's outcome crosses the threshold, the store stamps the run with the pause, and the notify step
// sends the run's own alert plus one pause message (rollout, lane, failures, how to resume or abort). A
// duplicate notify, the sweep's refused-claim path and an orphaning are told at most once per pause. Also the
// record step's DRIFTED (a drift check that would change something).
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { openPool } from '../../functions/core/admission.js';
import { bundleContents, describeChange } from '../../functions/core/rollout-plan.js';
import type { HostFacts } from '../../functions/core/types.js';
import { type NotifyDeps, notify, notifyRolloutPaused } from '../../functions/notifier/notify.js';
import { recordOutcome } from '../../functions/record/record-outcome.js';
import type { DebugLogger } from '../../functions/shared/logger.js';
import type { PlaybookRecord } from '../../functions/shared/state-store-api.js';
import { FakeStateStore } from '../helpers/fake-store.js';

const NOW = new Date('2025-01-02T03:04:05.000Z');
const TOPIC = 'arn:aws:sns:eu-west-1:123456789012:autoprov-alerts';
const STATE_MACHINE = 'arn:aws:states:eu-west-1:123456789012:stateMachine:autoprov-provisioning';
const ROLLOUT = 'r-0123456789ab';
const quiet: DebugLogger = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };
const sns = mockClient(SNSClient);

const id = (n: number) => `i-0${n.toString(16).padStart(16, '0')}`;
const facts = (instanceId: string): HostFacts => ({
  instanceId,
  source: 'ec2',
  name: `web-${instanceId.slice(-2)}`,
  tags: {},
  groups: ['all'],
  vars: {},
});
const failedWebserver: PlaybookRecord = {
  file: 'webserver.yml',
  status: 'Failed',
  attempts: 3,
  exitCode: 2,
  outputTail:
    'TASK [Check the port] ****\nfatal: [localhost]: FAILED! => {"msg": "http_port must be 1-65535"}',
};

describe('the pause notification', () => {
  let store: FakeStateStore;

  beforeEach(async () => {
    sns.reset();
    sns.on(PublishCommand).resolves({ MessageId: 'm-1' });
    store = new FakeStateStore();
    const contents = bundleContents({ defaults: {}, rules: [{ name: 'web' }] }, 'a'.repeat(64), {
      'webserver.yml': 'h2',
    });
    const previous = bundleContents({ defaults: {}, rules: [{ name: 'web' }] }, 'f'.repeat(64), {
      'webserver.yml': 'h1',
    });
    await store.createRollout({
      plan: {
        rolloutId: ROLLOUT,
        bundleHash: 'a'.repeat(64),
        due: 4,
        notes: [],
        lanes: {
          default: {
            pool: openPool(
              { maxConcurrent: { kind: 'count', value: 4 }, maxErrors: { kind: 'count', value: 1 } },
              4,
            ),
          },
        },
      },
      contents,
      change: describeChange(previous, contents),
      actor: 'sweep',
      now: NOW,
    });
  });

  const deps = (): NotifyDeps => ({
    store,
    sns: new SNSClient({}),
    topicArn: TOPIC,
    stateMachineArn: STATE_MACHINE,
    channels: [],
    now: () => NOW,
    logger: quiet,
  });

  /** Instances re-provisioned in the rollout, each RUNNING at g2 with webserver.yml failed for good. */
  async function failingRuns(...ns: number[]): Promise<void> {
    for (const n of ns) {
      store.seed({ instanceId: id(n), facts: facts(id(n)), status: 'SUCCESS', generation: 1 });
      const claim = await store.claim(id(n), {
        reason: 'fingerprint-changed',
        leaseSeconds: 3600,
        actor: 'sweep',
        now: NOW,
        admission: { rollout: { rolloutId: ROLLOUT, lane: 'default' } },
      });
      expect(claim.won).toBe(true);
      await store.recordMatch(
        id(n),
        2,
        {
          playbooks: [
            {
              file: 'webserver.yml',
              extraVars: {},
              timeoutSeconds: 60,
              maxAttempts: 3,
              backoffSeconds: 1,
              check: false,
              rule: 'web',
            },
          ],
          matchedRules: ['web'],
          fingerprint: 'f'.repeat(64),
        },
        NOW,
      );
      await store.recordPlaybookResult(id(n), 2, 0, failedWebserver, NOW);
    }
  }

  /** The workflow's last two steps for one run: record the outcome, then notify. */
  async function recordAndNotify(n: number) {
    const output = await recordOutcome(
      { instanceId: id(n), generation: 2 },
      { store, now: () => NOW, logger: quiet },
    );
    return notify(output, deps());
  }

  const published = () =>
    sns.commandCalls(PublishCommand).map((call) => ({
      subject: call.args[0].input.Subject ?? '',
      message: call.args[0].input.Message ?? '',
    }));

  it('the run whose failure crosses maxErrors sends its alert and ONE pause message; the others only their own', async () => {
    // Arrange
    await failingRuns(1, 2, 3);

    // Act
    const first = await recordAndNotify(1);
    const second = await recordAndNotify(2);
    const third = await recordAndNotify(3);

    // Assert
    expect(first.rolloutPaused).toBeUndefined();
    expect(second.rolloutPaused).toEqual(['sns']);
    expect(third.rolloutPaused).toBeUndefined();
    const pauses = published().filter((m) => m.subject.includes('paused'));
    expect(published()).toHaveLength(4);
    expect(pauses).toHaveLength(1);
    expect(pauses[0]?.subject).toBe(`[autoprov] Rollout ${ROLLOUT} paused: lane default, 2 failed`);
    const text = pauses[0]?.message ?? '';
    expect(text).toContain(`Rollout: ${ROLLOUT}, lane default: PAUSED`);
    expect(text).toContain('Change: files changed: webserver.yml');
    expect(text).toContain('Failures (2):');
    expect(text).toContain(`  - ${id(1)}: FAILED — webserver.yml ended Failed after 3 attempts`);
    expect(text).toContain(`  - ${id(2)}: FAILED`);
    expect(text).toContain(`autoprov rollout resume --id ${ROLLOUT}`);
    expect(text).toContain(`autoprov rollout abort --id ${ROLLOUT}`);
  });

  it('a duplicate notify, or the sweep telling the same pause, sends nothing more; the next pause after a resume is told', async () => {
    // Arrange
    await failingRuns(1, 2, 3, 4);
    await recordAndNotify(1);
    const output = await recordOutcome(
      { instanceId: id(2), generation: 2 },
      { store, now: () => NOW, logger: quiet },
    );
    await notify(output, deps());

    // Act
    const duplicate = await notify(output, deps());
    const fromSweep = await notifyRolloutPaused(
      { kind: 'rollout-paused', rolloutId: ROLLOUT, lane: 'default' },
      deps(),
    );
    await store.resumeRollout(ROLLOUT, { actor: 'ops', now: NOW });
    await recordAndNotify(3);
    const nextPause = await recordAndNotify(4);

    // Assert
    expect(duplicate).toEqual({ sent: false, channels: [] });
    expect(fromSweep).toEqual({ sent: false, channels: [] });
    expect(nextPause.rolloutPaused).toEqual(['sns']);
    expect(
      published()
        .filter((m) => m.subject.includes('paused'))
        .map((m) => m.subject),
    ).toEqual([
      `[autoprov] Rollout ${ROLLOUT} paused: lane default, 2 failed`,
      `[autoprov] Rollout ${ROLLOUT} paused: lane default, 4 failed`,
    ]);
  });

  it('an orphaning that crosses the threshold is told with the ORPHANED alert', async () => {
    // Arrange
    await failingRuns(1, 2);
    await recordAndNotify(1);

    // Act
    const orphaned = await store.markOrphaned(id(2), 'terminated', 'event-detector', NOW);
    const output = await notify(
      { instanceId: id(2), generation: orphaned.generation ?? 0, status: 'ORPHANED', reason: 'terminated' },
      deps(),
    );

    // Assert
    expect(output.rolloutPaused).toEqual(['sns']);
    const pause = published().find((m) => m.subject.includes('paused'));
    expect(pause?.message).toContain(`  - ${id(2)}: ORPHANED — orphaned: terminated`);
  });
});

describe('a drift check', () => {
  const checked = (changes: number): PlaybookRecord => ({
    file: 'baseline.yml',
    status: 'Success',
    attempts: 1,
    check: true,
    ansible: {
      source: 'summary',
      check: true,
      recap: {
        localhost: { ok: 3, changed: changes, failed: 0, unreachable: 0, skipped: 0, rescued: 0, ignored: 0 },
      },
      failures: [],
      changes: Array.from({ length: changes }, (_, i) => ({ host: 'localhost', task: `task ${i + 1}` })),
    },
  });

  async function recordCheck(checkRun: boolean, playbook: PlaybookRecord) {
    const store = new FakeStateStore();
    store.seed({
      instanceId: id(1),
      facts: facts(id(1)),
      status: 'RUNNING',
      generation: 3,
      playbooks: [playbook],
      fingerprint: 'f'.repeat(64),
      ...(checkRun ? { checkRun: true } : {}),
    });
    const output = await recordOutcome(
      { instanceId: id(1), generation: 3 },
      { store, now: () => NOW, logger: quiet },
    );
    return { output, record: store.peek(id(1)) };
  }

  it('records DRIFTED with the tasks that would change, and notifies', async () => {
    // Act
    const { output, record } = await recordCheck(true, checked(2));

    // Assert
    expect(output).toEqual({ instanceId: id(1), generation: 3, status: 'DRIFTED', notify: true });
    expect(record).toMatchObject({
      status: 'DRIFTED',
      reason:
        'check mode: baseline.yml: task "task 1" would change on localhost; baseline.yml: task "task 2" would change on localhost',
    });
  });

  it('records SUCCESS when nothing would change, or when the run was not a drift check', async () => {
    // Act
    const inSync = await recordCheck(true, checked(0));
    const applied = await recordCheck(false, checked(2));

    // Assert
    expect(inSync.output.status).toBe('SUCCESS');
    expect(applied.output.status).toBe('SUCCESS');
  });
});
