// The two EventBridge events the detector accepts, validated before anything is read or written:
// a malformed event fails with an InvalidInputError that says what and where (and lands in the DLQ).
// zod/mini: tree-shakeable (~20 KB bundled where the classic API costs ~450 KB).
import * as z from 'zod/mini';
import { InvalidInputError } from '../shared/errors.js';

export const EC2_STATES = [
  'pending',
  'running',
  'stopping',
  'stopped',
  'shutting-down',
  'terminated',
] as const;
export type Ec2State = (typeof EC2_STATES)[number];

const INSTANCE_ID = /^i-[0-9a-f]{8,17}$/;
const INSTANCE_ARN = /^arn:aws[a-z-]*:ec2:[a-z0-9-]+:\d{12}:instance\/(i-[0-9a-f]{8,17})$/;

// Only what the detector reads is validated: an envelope field it never uses (`version`, `id`, `account`,
// `region`) must not send an otherwise good event to the DLQ.
const envelope = {
  time: z.string().check(z.minLength(1)),
};

const stateChangeSchema = z.object({
  ...envelope,
  'detail-type': z.literal('EC2 Instance State-change Notification'),
  source: z.literal('aws.ec2'),
  detail: z.object({
    'instance-id': z.string().check(z.regex(INSTANCE_ID, 'expected an EC2 instance id (i-…)')),
    state: z.enum(EC2_STATES),
  }),
});

const tagChangeSchema = z.object({
  ...envelope,
  'detail-type': z.literal('Tag Change on Resource'),
  source: z.literal('aws.tag'),
  resources: z.array(z.string()).check(
    z.minLength(1),
    z.refine(
      (resources) => resources.some((arn) => INSTANCE_ARN.test(arn)),
      'expected an EC2 instance ARN (…:instance/i-…)',
    ),
  ),
  detail: z.object({
    'changed-tag-keys': z.array(z.string()),
    tags: z.record(z.string(), z.string()),
    service: z.literal('ec2'),
    'resource-type': z.literal('instance'),
  }),
});

const eventSchema = z.discriminatedUnion('detail-type', [stateChangeSchema, tagChangeSchema]);

/** A validated event, reduced to what the detector decides on. */
export type DetectorEvent =
  | {
      readonly kind: 'state-change';
      readonly instanceId: string;
      readonly state: Ec2State;
      readonly time: string;
    }
  | {
      readonly kind: 'tag-change';
      readonly instanceId: string;
      readonly changedKeys: readonly string[];
      /** The instance's tags right after the change (the event's snapshot; DescribeInstances is the truth). */
      readonly tags: Readonly<Record<string, string>>;
      readonly time: string;
    };

export function parseDetectorEvent(event: unknown): DetectorEvent {
  const parsed = eventSchema.safeParse(event);
  if (!parsed.success) {
    throw new InvalidInputError(
      'event-detector: not an "EC2 Instance State-change Notification" or an ec2 instance "Tag Change on Resource" event ' +
        `(check the EventBridge rule's pattern):\n${z.prettifyError(parsed.error)}`,
    );
  }
  const data = parsed.data;
  if (data['detail-type'] === 'EC2 Instance State-change Notification') {
    return {
      kind: 'state-change',
      instanceId: data.detail['instance-id'],
      state: data.detail.state,
      time: data.time,
    };
  }
  const instanceId = data.resources
    .map((arn) => INSTANCE_ARN.exec(arn)?.[1])
    .find((id) => id !== undefined) as string;
  return {
    kind: 'tag-change',
    instanceId,
    changedKeys: data.detail['changed-tag-keys'],
    tags: data.detail.tags,
    time: data.time,
  };
}
