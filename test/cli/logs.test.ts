// autoprov logs' reading side against mocked CloudWatch Logs: GetLogEvents paging from the head until the
// token repeats (as "GetLogEvents" documents:
// https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_GetLogEvents.html), a stream that
// is gone (retention), and the log group found in the record's console link.
import {
  CloudWatchLogsClient,
  GetLogEventsCommand,
  ResourceNotFoundException,
} from '@aws-sdk/client-cloudwatch-logs';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { followStream, logGroupOfUrl, readStream } from '../../cli/commands/logs.js';
import { commandLogUrl } from '../../functions/callback/log-url.js';

const logs = mockClient(CloudWatchLogsClient);
afterEach(() => logs.reset());

describe('autoprov logs, reading CloudWatch Logs', () => {
  it('reads every page from the head until the service returns the token it was given', async () => {
    logs
      .on(GetLogEventsCommand, { nextToken: undefined })
      .resolves({ events: [{ message: 'PLAY [all]' }, { message: 'TASK [a]' }], nextForwardToken: 'f/2' })
      .on(GetLogEventsCommand, { nextToken: 'f/2' })
      .resolves({ events: [{ message: 'fatal: [localhost]: FAILED!' }], nextForwardToken: 'f/3' })
      .on(GetLogEventsCommand, { nextToken: 'f/3' })
      .resolves({ events: [], nextForwardToken: 'f/3' });
    const lines: string[] = [];
    const read = await readStream(
      new CloudWatchLogsClient({ region: 'us-east-1' }),
      '/g',
      'c/i/runShellScript/stdout',
      (l) => lines.push(l),
    );
    expect(lines).toEqual(['PLAY [all]', 'TASK [a]', 'fatal: [localhost]: FAILED!']);
    expect(read).toEqual({ token: 'f/3', found: true });
    const calls = logs.commandCalls(GetLogEventsCommand).map((c) => c.args[0].input);
    expect(calls).toHaveLength(3);
    expect(calls.every((input) => input.startFromHead === true && input.logGroupName === '/g')).toBe(true);
  });

  it('reports a stream that is gone (expired by retention) as not found, not as an empty log', async () => {
    logs
      .on(GetLogEventsCommand)
      .rejects(
        new ResourceNotFoundException({ message: 'The specified log stream does not exist.', $metadata: {} }),
      );
    const read = await readStream(
      new CloudWatchLogsClient({ region: 'us-east-1' }),
      '/g',
      's',
      () => undefined,
    );
    expect(read.found).toBe(false);
  });

  it('finds the log group in the console link the callback records', () => {
    const url = commandLogUrl({
      region: 'eu-west-1',
      logGroup: 'AnsibleAutoProvisioner-CommandOutputLogs1234-AbCd',
      commandId: 'c-1',
      instanceId: 'i-1',
    });
    expect(logGroupOfUrl(url)).toBe('AnsibleAutoProvisioner-CommandOutputLogs1234-AbCd');
    expect(
      logGroupOfUrl(
        commandLogUrl({ region: 'eu-west-1', logGroup: '/aws/ssm/x y', commandId: 'c', instanceId: 'i' }),
      ),
    ).toBe('/aws/ssm/x y');
    expect(logGroupOfUrl('/local/path')).toBeUndefined();
  });
});

describe('autoprov logs --follow', () => {
  /**
   * A stream that grows: `lines` so far; GetLogEvents from a token returns what came after it and the
   * token of the end (the same token when nothing is new, as GetLogEvents documents).
   */
  function growingStream(): { lines: string[] } {
    const stream = { lines: [] as string[] };
    logs.on(GetLogEventsCommand).callsFake((input: { nextToken?: string }) => {
      const at = input.nextToken ? Number(input.nextToken.slice(2)) : 0;
      return {
        events: stream.lines.slice(at).map((message) => ({ message })),
        nextForwardToken: `f/${stream.lines.length}`,
      };
    });
    return stream;
  }

  it('prints every line once while the command runs, and the lines written after the last read before it ended', async () => {
    const stream = growingStream();
    stream.lines.push('PLAY [all]');
    const printed: string[] = [];
    const client = new CloudWatchLogsClient({ region: 'us-east-1' });
    const first = await readStream(client, '/g', 's', (l) => printed.push(l));
    // The command writes between polls, then writes its recap and ends after the last read made while it
    // ran (between that read and the next isRunning check).
    const timeline = [['TASK [a]'], ['TASK [b]', 'ok: [localhost]']];
    let polls = 0;

    await followStream(client, '/g', 's', (l) => printed.push(l), first.token, {
      isRunning: async () => {
        if (polls < 2) return true;
        stream.lines.push('PLAY RECAP');
        return false;
      },
      sleep: async () => {
        stream.lines.push(...(timeline[polls] ?? []));
        polls += 1;
      },
    });

    expect(printed).toEqual(['PLAY [all]', 'TASK [a]', 'TASK [b]', 'ok: [localhost]', 'PLAY RECAP']);
  });

  it('reads once more and stops when the command has already ended', async () => {
    const stream = growingStream();
    stream.lines.push('PLAY [all]', 'PLAY RECAP');
    const printed: string[] = [];
    let slept = 0;

    await followStream(
      new CloudWatchLogsClient({ region: 'us-east-1' }),
      '/g',
      's',
      (l) => printed.push(l),
      undefined,
      {
        isRunning: async () => false,
        sleep: async () => {
          slept += 1;
        },
      },
    );

    expect(printed).toEqual(['PLAY [all]', 'PLAY RECAP']);
    expect(slept).toBe(0);
  });
});
