// `autoprov rollout status|pause|resume|abort`, `autoprov pause` / `resume`, and what `status` shows of them,
// run in process against the in-memory store (test/cli/rollout.test.ts runs them on DynamoDB Local).
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { admittedClaims } from '../../cli/commands/retry.js';
import { FakeStateStore } from '../helpers/fake-store.js';
import { ec2Facts, runInProcess } from './harness.js';
import { createRollouts, SECOND_BUNDLE } from './rollout-fixture.js';

const fake = vi.hoisted(() => ({ store: undefined as unknown }));
vi.mock('../../cli/store.js', async (original) => ({
  ...(await original<typeof import('../../cli/store.js')>()),
  openStore: () => fake.store,
}));

const NOW = new Date('2025-11-20T10:00:00.000Z');
const LATER = new Date('2025-11-20T11:30:00.000Z');
const ENV = { AUTOPROV_TABLE: 'unit-table', AWS_REGION: 'us-east-1', USER: 'alice' };
const ID = 'r-3f9a0c41d2e7';

let store: FakeStateStore;

/** The CLI at 11:30 on the in-memory store; `answer` is typed at a prompt (stdin is then a terminal). */
const run = (args: string[], answer?: string) =>
  runInProcess(args, { env: ENV, now: () => LATER, ...(answer === undefined ? {} : { answer }) });

/** The second rollout midway: its canary succeeded, `default` paused after 2 failures, `rule:web` rolling. */
async function pausedAfterErrors(): Promise<void> {
  await createRollouts(store, NOW);
  store.setPool(ID, 'canary', { state: 'DONE', started: 1, succeeded: 1 });
  store.setPool(ID, 'default', { state: 'PAUSED', started: 3, inFlight: 1, failed: 2 });
  store.setPool(ID, 'rule:web', { started: 1, inFlight: 1 });
}

const laneStates = async () =>
  Object.fromEntries(Object.entries((await store.getRollout(ID))?.lanes ?? {}).map(([l, p]) => [l, p.state]));

beforeEach(() => {
  store = new FakeStateStore();
  fake.store = store;
});

describe('autoprov rollout status', () => {
  it('says there is no rollout (exit 0), and --json says null', async () => {
    const text = await run(['rollout', 'status']);
    expect(text).toMatchObject({ code: 0, stderr: '' });
    expect(text.stdout).toBe('No rollout: table unit-table has none yet.\n');

    const json = await run(['rollout', 'status', '--json']);
    expect(JSON.parse(json.stdout)).toEqual({ table: 'unit-table', rollout: null, pause: null });
  });

  it('shows the current rollout: what changed, the due count, each lane, and what to do when paused', async () => {
    await pausedAfterErrors();

    const result = await run(['rollout', 'status']);

    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout.split('\n')).toEqual([
      `Rollout ${ID}: PAUSED`,
      `  bundle     ${SECOND_BUNDLE}`,
      '  created    2025-11-20 10:00:00Z by sweep',
      '  changed    files changed: webserver.yml',
      '  due        7 instances',
      '  previous   r-aaaaaaaaaaaa',
      '  lanes:',
      '    canary    1/1 started, 0 running, 1 succeeded, 0 failed (pauses after 0), at most 2 at once — DONE',
      '    rule:web  1/2 started, 1 running, 0 succeeded, 0 failed (pauses after 0), at most 3 at once — ROLLING',
      '    default   3/4 started, 1 running, 0 succeeded, 2 failed (pauses after 1), at most 2 at once — PAUSED',
      '',
      'Paused: no instance of a paused lane starts; the ones not started keep their last run. Fix the cause,',
      'then `autoprov rollout resume` (each lane may fail as many again), or `autoprov rollout abort`.',
      '',
    ]);
  });

  it('--json is the documented shape: the rollout, its lanes in run order, and the global pause', async () => {
    await pausedAfterErrors();
    await store.setGlobalPause({ actor: 'cli:bob', now: NOW, reason: 'maintenance' });

    const document = JSON.parse((await run(['rollout', 'status', '--json'])).stdout);

    const lane = { inFlight: 0, started: 0, succeeded: 0, failed: 0, waitsForCanary: false };
    expect(document).toEqual({
      table: 'unit-table',
      pause: { since: NOW.toISOString(), actor: 'cli:bob', reason: 'maintenance' },
      rollout: {
        rolloutId: ID,
        bundleHash: SECOND_BUNDLE,
        state: 'PAUSED',
        createdAt: NOW.toISOString(),
        createdBy: 'sweep',
        due: 7,
        change: {
          summary: 'files changed: webserver.yml',
          rules: { added: [], removed: [], changed: [] },
          defaultsChanged: false,
          files: { added: [], removed: [], changed: ['webserver.yml'] },
        },
        notes: [],
        previousRolloutId: 'r-aaaaaaaaaaaa',
        superseded: null,
        paused: null,
        resumed: null,
        aborted: null,
        lanes: [
          {
            ...lane,
            lane: 'canary',
            state: 'DONE',
            total: 1,
            limit: 2,
            maxErrors: 0,
            started: 1,
            succeeded: 1,
            notStarted: 0,
          },
          {
            ...lane,
            lane: 'rule:web',
            state: 'ROLLING',
            total: 2,
            limit: 3,
            maxErrors: 0,
            inFlight: 1,
            started: 1,
            notStarted: 1,
          },
          {
            ...lane,
            lane: 'default',
            state: 'PAUSED',
            total: 4,
            limit: 2,
            maxErrors: 1,
            inFlight: 1,
            started: 3,
            failed: 2,
            notStarted: 1,
          },
        ],
      },
    });
  });

  it('marks the lanes that wait for the canaries, and shows a given rollout by --id (superseded)', async () => {
    await createRollouts(store, NOW);

    const current = await run(['rollout', 'status']);
    expect(current.stdout).toMatch(/^ {4}default .* — ROLLING \(waits for the canaries\)$/m);
    expect(current.stdout).toMatch(/^ {4}canary .* — ROLLING$/m);

    const old = await run(['rollout', 'status', '--id', 'r-aaaaaaaaaaaa']);
    expect(old.code).toBe(0);
    expect(old.stdout).toContain('Rollout r-aaaaaaaaaaaa: SUPERSEDED');
    expect(old.stdout).toContain(`  superseded by ${ID} at 2025-11-20 10:00:00Z`);
    expect(old.stdout).toMatch(/^ {4}default .* — ABORTED$/m);
  });

  it('fails on an unknown --id (exit 1), and on a missing or unknown action (exit 2)', async () => {
    const unknown = await run(['rollout', 'status', '--id', 'r-000000000000']);
    expect(unknown).toMatchObject({ code: 1, stdout: '' });
    expect(unknown.stderr).toContain(
      'error: no rollout r-000000000000 in table unit-table: `autoprov rollout status` shows the current one',
    );

    const none = await run(['rollout']);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('which action? autoprov rollout status|pause|resume|abort');
    expect(none.stderr).toContain("Run 'autoprov rollout --help' for usage.");

    const wrong = await run(['rollout', 'restart']);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain('unknown action "restart": use one of status, pause, resume, abort');
    expect((await run(['rollout', 'status', 'now'])).stderr).toContain('unexpected argument "now"');
  });
});

describe('autoprov rollout resume', () => {
  it('rolls the paused lanes again, with a threshold for as many new failures, and says so', async () => {
    await pausedAfterErrors();

    const result = await run(['rollout', 'resume']);

    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout.split('\n').slice(0, 3)).toEqual([
      `✔ Resumed rollout ${ID}:`,
      '  default: PAUSED → ROLLING; pauses after 3 failures (2 so far)',
      '',
    ]);
    expect(result.stdout).toContain(`Rollout ${ID}: ROLLING (7 due; files changed: webserver.yml)`);
    expect(await laneStates()).toEqual({ canary: 'DONE', default: 'ROLLING', 'rule:web': 'ROLLING' });
    expect((await store.getRollout(ID))?.resumedBy).toBe('cli:alice');
  });

  it('--json: the action, the lanes it changed and the rollout after it; a global pause is noted on stderr', async () => {
    await pausedAfterErrors();
    await store.setGlobalPause({ actor: 'cli:bob', now: NOW });

    const result = await run(['rollout', 'resume', '--id', ID, '--json']);

    expect(result.code).toBe(0);
    expect(result.stderr).toContain('the global pause is still set: nothing starts until `autoprov resume`');
    const document = JSON.parse(result.stdout);
    expect(Object.keys(document)).toEqual(['action', 'rolloutId', 'changed', 'rollout']);
    expect(document).toMatchObject({ action: 'resume', rolloutId: ID, changed: ['default'] });
    expect(document.rollout).toMatchObject({
      state: 'ROLLING',
      resumed: { at: LATER.toISOString(), by: 'cli:alice' },
    });
  });

  it('fails (exit 1, nothing written) when there is no rollout, nothing is paused, or it was aborted', async () => {
    const none = await run(['rollout', 'resume']);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('error: no rollout: table unit-table has none yet');

    await createRollouts(store, NOW);
    const rolling = await run(['rollout', 'resume']);
    expect(rolling.code).toBe(1);
    expect(rolling.stderr).toContain(
      `rollout ${ID} is not paused (canary ROLLING, rule:web ROLLING, default ROLLING): nothing to resume. A global pause is lifted with \`autoprov resume\`.`,
    );
    expect(store.calls).not.toContain('resumedRollout');

    await run(['rollout', 'abort', '--yes']);
    const aborted = await run(['rollout', 'resume']);
    expect(aborted.code).toBe(1);
    expect(aborted.stderr).toContain(
      `rollout ${ID} is already aborted (by cli:alice at 2025-11-20 11:30:00Z): nothing to resume`,
    );

    const superseded = await run(['rollout', 'resume', '--id', 'r-aaaaaaaaaaaa']);
    expect(superseded.stderr).toContain(
      `rollout r-aaaaaaaaaaaa was superseded by ${ID}: its lanes admit nothing more; nothing to resume`,
    );
  });
});

describe('autoprov rollout pause', () => {
  it('pauses the rolling lanes; a second pause has nothing to do', async () => {
    await pausedAfterErrors();

    const result = await run(['rollout', 'pause']);

    expect(result.code).toBe(0);
    expect(result.stdout).toContain(
      `✔ Paused rollout ${ID}:\n  rule:web: ROLLING → PAUSED; 1 not started wait, 1 running finish\n`,
    );
    expect(await laneStates()).toEqual({ canary: 'DONE', default: 'PAUSED', 'rule:web': 'PAUSED' });
    const again = await run(['rollout', 'pause']);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain(
      'is not rolling (canary DONE, rule:web PAUSED, default PAUSED): nothing to pause',
    );
  });
});

describe('autoprov rollout abort', () => {
  it('refuses without --yes when stdin is not a terminal, writing nothing', async () => {
    await pausedAfterErrors();

    const result = await run(['rollout', 'abort']);

    expect(result).toMatchObject({ code: 1, stdout: '' });
    expect(result.stderr).toContain(
      `error: refusing to abort rollout ${ID} without confirmation: stdin is not a terminal; add --yes to confirm`,
    );
    expect(store.calls).not.toContain('abortedRollout');
  });

  it('asks on a terminal: anything but y leaves the rollout as it is', async () => {
    await pausedAfterErrors();

    const result = await run(['rollout', 'abort'], 'n');

    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      `Abort rollout ${ID}? 2 due instances not started keep their last run; 2 running finish. [y/N] `,
    );
    expect(result.stderr).toContain(`error: rollout ${ID} not aborted: not confirmed`);
    expect(await laneStates()).toEqual({ canary: 'DONE', default: 'PAUSED', 'rule:web': 'ROLLING' });
  });

  it('aborts on y: every unfinished lane stops admitting, and it says what that leaves', async () => {
    await pausedAfterErrors();

    const result = await run(['rollout', 'abort'], 'y');

    expect(result.code).toBe(0);
    expect(result.stdout.split('\n').slice(0, 3)).toEqual([
      `✔ Aborted rollout ${ID}:`,
      '  rule:web: ROLLING → ABORTED; 1 not started keep their last run, 1 running finish',
      '  default: PAUSED → ABORTED; 1 not started keep their last run, 1 running finish',
    ]);
    expect(await laneStates()).toEqual({ canary: 'DONE', default: 'ABORTED', 'rule:web': 'ABORTED' });
  });

  it('--yes aborts without asking (--json), and a second abort is an error', async () => {
    await pausedAfterErrors();

    const result = await run(['rollout', 'abort', '--yes', '--json']);

    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(result.stdout)).toMatchObject({
      action: 'abort',
      rolloutId: ID,
      changed: ['rule:web', 'default'],
      rollout: { state: 'ABORTED', aborted: { at: LATER.toISOString(), by: 'cli:alice' } },
    });
    const again = await run(['rollout', 'abort', '-y']);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain(`rollout ${ID} is already aborted (by cli:alice at 2025-11-20 11:30:00Z)`);
  });

  it('has nothing to abort in a finished rollout', async () => {
    await createRollouts(store, NOW);
    for (const lane of ['canary', 'rule:web', 'default']) store.setPool(ID, lane, { state: 'DONE' });

    const result = await run(['rollout', 'abort', '--yes']);

    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      `rollout ${ID} has finished (canary DONE, rule:web DONE, default DONE): nothing to abort`,
    );
  });
});

describe('autoprov pause / resume', () => {
  it('pause sets the global pause once: a second pause keeps the first one, and says so', async () => {
    const first = await run(['pause', '--reason', 'bad baseline.yml']);
    expect(first).toMatchObject({ code: 0, stderr: '' });
    expect(first.stdout.split('\n')).toEqual([
      '✔ Paused: no new claims of any kind until `autoprov resume`; running executions finish.',
      'Paused since 2025-11-20 11:30:00Z by cli:alice: bad baseline.yml. No new claims of any kind; `autoprov resume` lifts it.',
      '',
    ]);
    expect(await store.getGlobalPause()).toEqual({
      since: LATER.toISOString(),
      actor: 'cli:alice',
      reason: 'bad baseline.yml',
    });

    const second = await run(['pause', '--reason', 'another', '--json']);
    expect(second.code).toBe(0);
    expect(JSON.parse(second.stdout)).toEqual({
      paused: true,
      changed: false,
      pause: { since: LATER.toISOString(), actor: 'cli:alice', reason: 'bad baseline.yml' },
    });
    expect((await run(['pause'])).stdout).toContain(
      'Already paused: nothing changed (the first pause is kept).',
    );
  });

  it('pause refuses an empty reason and a positional argument (exit 2)', async () => {
    expect((await run(['pause', '--reason', ' '])).stderr).toContain('--reason needs a text');
    expect((await run(['pause', 'now'])).code).toBe(2);
    expect(await store.getGlobalPause()).toBeUndefined();
  });

  it('resume lifts it once; without a pause it says so, and points at a paused rollout', async () => {
    await store.setGlobalPause({ actor: 'cli:bob', now: NOW, reason: 'maintenance' });

    const first = await run(['resume']);
    expect(first).toMatchObject({ code: 0, stderr: '' });
    expect(first.stdout).toBe(
      '✔ Resumed: claims are allowed again (paused since 2025-11-20 10:00:00Z by cli:bob: maintenance). The next sweep starts what is due.\n',
    );
    expect(await store.getGlobalPause()).toBeUndefined();

    await pausedAfterErrors();
    const second = await run(['resume']);
    expect(second.code).toBe(0);
    expect(second.stdout).toBe(
      `Not paused: nothing to resume.\nRollout ${ID} is still PAUSED: \`autoprov rollout resume\` resumes it.\n`,
    );
    expect(JSON.parse((await run(['resume', '--json'])).stdout)).toEqual({
      paused: false,
      changed: false,
      cleared: null,
    });
  });

  it('resume --json names the pause it cleared', async () => {
    await store.setGlobalPause({ actor: 'cli:bob', now: NOW });
    expect(JSON.parse((await run(['resume', '--json'])).stdout)).toEqual({
      paused: false,
      changed: true,
      cleared: { since: NOW.toISOString(), actor: 'cli:bob', reason: null },
    });
  });
});

describe('autoprov status with a rollout and a pause', () => {
  it('shows the pause and the rollout (one line per lane) above the table, and both in --json', async () => {
    store.seed({
      instanceId: 'i-0fff000000000001',
      facts: ec2Facts('i-0fff000000000001', 'web-1'),
      status: 'SUCCESS',
    });
    await pausedAfterErrors();
    await store.setGlobalPause({ actor: 'cli:bob', now: NOW, reason: 'maintenance' });

    const text = await run(['status']);

    expect(text.code).toBe(0);
    expect(text.stdout.split('\n').slice(0, 7)).toEqual([
      '1 instance: SUCCESS 1',
      'Paused since 2025-11-20 10:00:00Z by cli:bob: maintenance. No new claims of any kind; `autoprov resume` lifts it.',
      `Rollout ${ID}: PAUSED (7 due; files changed: webserver.yml)`,
      '  canary    1/1 started, 0 running, 1 succeeded, 0 failed (pauses after 0), at most 2 at once — DONE',
      '  rule:web  1/2 started, 1 running, 0 succeeded, 0 failed (pauses after 0), at most 3 at once — ROLLING',
      '  default   3/4 started, 1 running, 0 succeeded, 2 failed (pauses after 1), at most 2 at once — PAUSED',
      '',
    ]);
    const document = JSON.parse((await run(['status', '--json'])).stdout);
    expect(document.pause).toEqual({ since: NOW.toISOString(), actor: 'cli:bob', reason: 'maintenance' });
    expect(document.rollout).toMatchObject({ rolloutId: ID, state: 'PAUSED', due: 7 });
    expect(document.rollout.lanes).toHaveLength(3);
  });

  it('--json says null for both when neither is set', async () => {
    const document = JSON.parse((await run(['status', '--json'])).stdout);
    expect(document).toMatchObject({ pause: null, rollout: null, total: 0 });
  });
});

describe('retry claims with admission', () => {
  it('so the global pause refuses it, saying how to lift it; without a pause it claims', async () => {
    const instanceId = 'i-0fff000000000009';
    store.seed({ instanceId, facts: ec2Facts(instanceId, 'web-9'), status: 'FAILED', generation: 1 });
    await store.setGlobalPause({ actor: 'cli:bob', now: NOW });
    const claims = admittedClaims(store);
    const options = { reason: 'operator-retry', leaseSeconds: 60, actor: 'cli:alice', now: LATER } as const;

    const refused = await claims.claim(instanceId, options);
    expect(refused).toMatchObject({ won: false, reason: 'globally-paused' });
    expect(refused.won ? '' : refused.message).toContain('autoprov resume lifts it');

    await store.clearGlobalPause();
    expect(await claims.claim(instanceId, options)).toMatchObject({ won: true, generation: 2 });
  });
});
