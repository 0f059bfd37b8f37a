// Every local stand-in for an AWS service says which AWS documentation page it follows, so a reviewer can
// check its behaviour against AWS's own words rather than against the code it tests (the project's rule:
// "make the local stand-in behave as AWS's documentation says, and cite the page in a comment").
import { describe, expect, it } from 'vitest';
import { sourceFiles } from './source-files.js';

const AWS_DOC = /https:\/\/docs\.aws\.amazon\.com\/[^\s)]+/;

/** Stand-ins outside services/: the event bus, the function host, the SSM agent, the throttling proxy, the task tokens. */
const OTHER_STAND_INS = [
  'scripts/local/dynamodb-proxy.ts',
  'scripts/local/event-bus.ts',
  'scripts/local/event-pattern.ts',
  'scripts/local/function-host.ts',
  'scripts/local/sfn-task-tokens.ts',
  'scripts/local/ssm-agent.ts',
  'scripts/local/stack/async-invoker.ts',
];

describe('local AWS stand-ins', () => {
  const standIns = sourceFiles('scripts/local').filter(
    (file) => file.path.startsWith('scripts/local/services/') || OTHER_STAND_INS.includes(file.path),
  );

  it('are found (the folder holds the service emulators)', () => {
    const paths = standIns.map((file) => file.path);
    expect(paths).toContain('scripts/local/services/ssm.ts');
    expect(paths).toEqual(expect.arrayContaining(OTHER_STAND_INS));
  });

  it.each(standIns.map((file) => [file.path, file.text] as const))(
    '%s cites an AWS documentation page',
    (_, text) => {
      expect(AWS_DOC.test(text), 'cite the AWS API reference or guide page this stand-in follows').toBe(true);
    },
  );
});
