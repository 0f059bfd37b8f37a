// Which events reach which function: the shared event fixtures (and variations of them) run through the
// EventBridge patterns extracted from the synthesized template, matched as EventBridge would.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { synthTemplate } from '../../infra/synth.js';
import { matchesEventPattern } from '../helpers/event-pattern.js';
import { functionOf, resolved, resources, type Template } from './template-helpers.js';

const FIXTURES = path.resolve(import.meta.dirname, '../fixtures/events');
const fixture = (name: string): Record<string, unknown> =>
  JSON.parse(fs.readFileSync(path.join(FIXTURES, name), 'utf8')) as Record<string, unknown>;

interface Route {
  readonly pattern: unknown;
  /** Service names of the functions the rule targets. */
  readonly targets: string[];
}

let template: Template;
let routes: Route[];
let ensureDocumentName: string;

beforeAll(() => {
  template = synthTemplate() as Template;
  const serviceOfArn = (arn: string) =>
    resources(template, 'AWS::Lambda::Function')
      .filter(([id]) => arn.endsWith(`:function:${id}`))
      .map(([, fn]) =>
        String((fn.Environment as { Variables: Record<string, unknown> }).Variables.POWERTOOLS_SERVICE_NAME),
      );
  routes = resources(template, 'AWS::Events::Rule').map(([, rule]) => ({
    pattern: resolved(template, rule.EventPattern),
    targets: (resolved(template, rule.Targets) as { Arn: string }[]).flatMap((t) => serviceOfArn(t.Arn)),
  }));
  const [docId] = resources(template, 'AWS::SSM::Document')[0] ?? [];
  ensureDocumentName = String(resolved(template, { Ref: docId }));
});

/** The functions an event reaches. */
const receivers = (event: unknown): string[] =>
  routes
    .filter((r) => matchesEventPattern(r.pattern, event))
    .flatMap((r) => r.targets)
    .sort();

const withDetail = (event: Record<string, unknown>, detail: Record<string, unknown>) => ({
  ...event,
  detail: { ...(event.detail as Record<string, unknown>), ...detail },
});

describe('event routing', () => {
  it('has four rules: three to the event detector, one to the callback', () => {
    expect(routes.map((r) => r.targets).sort()).toEqual([
      ['callback'],
      ['event-detector'],
      ['event-detector'],
      ['event-detector'],
    ]);
    // The targets resolve to real functions of the stack.
    expect(functionOf(template, 'event-detector')).toBeDefined();
  });

  it('sends EC2 running and terminated events to the event detector only', () => {
    expect(receivers(fixture('ec2-state-running.json'))).toEqual(['event-detector']);
    expect(receivers(fixture('ec2-state-terminated.json'))).toEqual(['event-detector']);
  });

  it('covers stopped, stopping and shutting-down but not pending', () => {
    const running = fixture('ec2-state-running.json');
    for (const state of ['stopped', 'stopping', 'shutting-down']) {
      expect(receivers(withDetail(running, { state })), state).toEqual(['event-detector']);
    }
    expect(receivers(withDetail(running, { state: 'pending' }))).toEqual([]);
  });

  it('sends an opt-in tag change on an EC2 instance to the event detector only', () => {
    expect(receivers(fixture('tag-change-ec2-instance.json'))).toEqual(['event-detector']);
  });

  it('also reacts to the hold tag, and ignores other tags and other resource types', () => {
    const tagChange = fixture('tag-change-ec2-instance.json');
    expect(receivers(withDetail(tagChange, { 'changed-tag-keys': ['Name', 'autoprov:hold'] }))).toEqual([
      'event-detector',
    ]);
    expect(receivers(withDetail(tagChange, { 'changed-tag-keys': ['Name', 'environment'] }))).toEqual([]);
    expect(receivers(withDetail(tagChange, { 'resource-type': 'volume' }))).toEqual([]);
    expect(receivers(withDetail(tagChange, { service: 'rds' }))).toEqual([]);
  });

  it('sends an opt-in or hold tag change on an SSM managed node (hybrid, mi-…) to the event detector only', () => {
    const managed = fixture('tag-change-ssm-managed-instance.json');
    expect(receivers(managed)).toEqual(['event-detector']);
    expect(receivers(withDetail(managed, { 'changed-tag-keys': ['autoprov:hold'] }))).toEqual([
      'event-detector',
    ]);
    expect(receivers(withDetail(managed, { 'changed-tag-keys': ['Name'] }))).toEqual([]);
    // Other SSM resources (documents, parameters…) are not instances.
    expect(receivers(withDetail(managed, { 'resource-type': 'document' }))).toEqual([]);
  });

  it('sends a terminal command invocation status of AWS-ApplyAnsiblePlaybooks to the callback only', () => {
    expect(receivers(fixture('ssm-command-invocation-status.json'))).toEqual(['callback']);
  });

  it('also routes our ensure-Ansible document, every terminal status, and nothing in progress', () => {
    const invocation = fixture('ssm-command-invocation-status.json');
    expect(receivers(withDetail(invocation, { 'document-name': ensureDocumentName }))).toEqual(['callback']);
    for (const status of ['Failed', 'TimedOut', 'Cancelled', 'Undeliverable', 'Terminated']) {
      expect(receivers(withDetail(invocation, { status })), status).toEqual(['callback']);
    }
    for (const status of ['Pending', 'InProgress', 'Delayed', 'Cancelling']) {
      expect(receivers(withDetail(invocation, { status })), status).toEqual([]);
    }
    expect(receivers(withDetail(invocation, { 'document-name': 'AWS-RunShellScript' }))).toEqual([]);
  });

  it('ignores the command-level (not invocation) status event', () => {
    expect(receivers(fixture('ssm-command-status.json'))).toEqual([]);
  });
});
