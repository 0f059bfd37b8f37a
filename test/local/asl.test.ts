// Intrinsic resolution: what local mode and the tests rely on to turn a template into plain JSON.
import { describe, expect, it } from 'vitest';
import {
  extractAsl,
  forLocalRunner,
  LOCAL_TIMEOUT_FIELD,
  placeholderArn,
  resolveIntrinsics,
  TemplateResolutionError,
} from '../../scripts/local/asl.js';

const template = {
  Parameters: { Image: { Type: 'String', Default: 'ami-123' } },
  Resources: {
    Fn: { Type: 'AWS::Lambda::Function', Properties: {} },
    Named: { Type: 'AWS::StepFunctions::StateMachine', Properties: { StateMachineName: 'Prov' } },
    Topic: { Type: 'AWS::SNS::Topic', Properties: {} },
    Table: { Type: 'AWS::DynamoDB::Table', Properties: {} },
    Bucket: { Type: 'AWS::S3::Bucket', Properties: {} },
  },
};

describe('resolveIntrinsics', () => {
  it('resolves pseudo parameters, Ref and GetAtt to placeholders', () => {
    expect(resolveIntrinsics({ Ref: 'AWS::Region' }, template)).toBe('us-east-1');
    expect(resolveIntrinsics({ Ref: 'AWS::AccountId' }, template)).toBe('123456789012');
    expect(resolveIntrinsics({ Ref: 'AWS::Partition' }, template, { partition: 'aws-cn' })).toBe('aws-cn');
    expect(resolveIntrinsics({ Ref: 'Fn' }, template)).toBe('Fn');
    expect(resolveIntrinsics({ 'Fn::GetAtt': ['Fn', 'Arn'] }, template)).toBe(
      'arn:aws:lambda:us-east-1:123456789012:function:Fn',
    );
    expect(resolveIntrinsics({ 'Fn::GetAtt': 'Table.Arn' }, template)).toBe(
      'arn:aws:dynamodb:us-east-1:123456789012:table/Table',
    );
    expect(resolveIntrinsics({ Ref: 'Topic' }, template)).toBe('arn:aws:sns:us-east-1:123456789012:Topic');
    expect(resolveIntrinsics({ Ref: 'Image' }, template)).toBe('ami-123');
  });

  it('uses an explicit resource name when the template sets one', () => {
    expect(resolveIntrinsics({ Ref: 'Named' }, template)).toBe(
      'arn:aws:states:us-east-1:123456789012:stateMachine:Prov',
    );
  });

  it('resolves Fn::Join, Fn::Sub (with and without variables), Fn::Select and Fn::Split, nested', () => {
    const joined = {
      'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':s3:::', { Ref: 'Bucket' }, '/*']],
    };
    expect(resolveIntrinsics(joined, template)).toBe('arn:aws:s3:::bucket/*');
    // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation Fn::Sub syntax.
    const sub = '${AWS::Region}/${Fn.Arn}';
    expect(resolveIntrinsics({ 'Fn::Sub': sub }, template)).toBe(
      'us-east-1/arn:aws:lambda:us-east-1:123456789012:function:Fn',
    );
    // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation Fn::Sub syntax.
    const [withVars, literal] = ['x-${Name}-${!Literal}', 'x-Fn-${!Literal}'];
    expect(resolveIntrinsics({ 'Fn::Sub': [withVars, { Name: { Ref: 'Fn' } }] }, template)).toBe(literal);
    expect(resolveIntrinsics({ 'Fn::Select': [1, { 'Fn::Split': [',', 'a,b,c'] }] }, template)).toBe('b');
    expect(resolveIntrinsics({ deep: [{ v: { Ref: 'AWS::Region' } }] }, template)).toEqual({
      deep: [{ v: 'us-east-1' }],
    });
  });

  it('lets the caller decide how a resource resolves (local mode: real names)', () => {
    const value = resolveIntrinsics({ 'Fn::GetAtt': ['Fn', 'Arn'] }, template, {
      resolveReference: (id, attribute) => (id === 'Fn' && attribute === 'Arn' ? 'local:fn' : undefined),
    });
    expect(value).toBe('local:fn');
  });

  it('fails on unknown references and unsupported intrinsics instead of guessing', () => {
    expect(() => resolveIntrinsics({ Ref: 'Nope' }, template)).toThrow(TemplateResolutionError);
    expect(() => resolveIntrinsics({ 'Fn::ImportValue': 'x' }, template)).toThrow(
      /Unsupported intrinsic Fn::ImportValue/,
    );
  });

  it('builds service-shaped placeholder ARNs', () => {
    expect(placeholderArn('Q', 'AWS::SQS::Queue')).toBe('arn:aws:sqs:us-east-1:123456789012:Q');
    expect(placeholderArn('R', 'AWS::IAM::Role')).toBe('arn:aws:iam::123456789012:role/R');
  });
});

describe('extractAsl', () => {
  const definition = (body: unknown) => ({
    Resources: {
      Fn: { Type: 'AWS::Lambda::Function', Properties: {} },
      Machine: { Type: 'AWS::StepFunctions::StateMachine', Properties: { DefinitionString: body } },
    },
  });

  it('joins the DefinitionString and resolves the references inside it', () => {
    const asl = extractAsl(
      definition({
        'Fn::Join': [
          '',
          [
            '{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"',
            { 'Fn::GetAtt': ['Fn', 'Arn'] },
            '","End":true}}}',
          ],
        ],
      }),
    );
    expect(asl).toEqual({
      StartAt: 'A',
      States: {
        A: { Type: 'Task', Resource: 'arn:aws:lambda:us-east-1:123456789012:function:Fn', End: true },
      },
    });
  });

  it('requires exactly one state machine, or the logical id of one', () => {
    expect(() => extractAsl({ Resources: {} })).toThrow(/found 0/);
    const two = {
      Resources: {
        A: {
          Type: 'AWS::StepFunctions::StateMachine',
          Properties: { DefinitionString: '{"StartAt":"x","States":{}}' },
        },
        B: {
          Type: 'AWS::StepFunctions::StateMachine',
          Properties: { DefinitionString: '{"StartAt":"y","States":{}}' },
        },
      },
    };
    expect(() => extractAsl(two)).toThrow(/found 2/);
    expect(extractAsl(two, 'B')).toEqual({ StartAt: 'y', States: {} });
  });
});

describe('forLocalRunner', () => {
  it('carries a Lambda Task timeout beside its payload, and refuses a timeout path on any other Task', () => {
    const asl = {
      StartAt: 'T',
      States: {
        T: { Type: 'Task', Resource: 'arn:x', TimeoutSecondsPath: '$.t', Parameters: { a: 1 }, End: true },
      },
    };
    expect(() => forLocalRunner(asl)).toThrow(/TimeoutSecondsPath \$\.t on a Task without a Lambda Payload/);
    const lambda = {
      ...asl,
      States: { T: { ...asl.States.T, Parameters: { FunctionName: 'f', Payload: { 'n.$': '$.n' } } } },
    };
    const local = forLocalRunner(lambda).States.T;
    expect(local.TimeoutSecondsPath).toBe(`$.${LOCAL_TIMEOUT_FIELD}`);
    expect(local.Parameters).toEqual({
      FunctionName: 'f',
      Payload: { 'n.$': '$.n' },
      [`${LOCAL_TIMEOUT_FIELD}.$`]: '$.t',
    });
    expect(lambda.States.T.TimeoutSecondsPath).toBe('$.t');
    expect(lambda.States.T.Parameters).not.toHaveProperty(`${LOCAL_TIMEOUT_FIELD}.$`);
  });
});
