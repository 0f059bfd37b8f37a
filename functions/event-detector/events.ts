// The EventBridge events the detector accepts, validated before anything is read or written: EC2 state
// changes, and tag changes on an EC2 instance or on an SSM managed node (hybrid, `mi-…`: service `ssm`,
// resource type `managed-instance`, ARN arn:aws:ssm:<region>:<account>:managed-instance/mi-…).
// A malformed event fails with an InvalidInputError that says what and where (and lands in the DLQ).
// zod/mini: tree-shakeable (~20 KB bundled where the classic API costs ~450 KB).
import * as z from 'zod/mini';
import { EC2_INSTANCE_ID, MANAGED_NODE_ID, unanchored } from '../core/instance-id.js';
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

const INSTANCE_ARN = new RegExp(
  `^arn:aws[a-z-]*:ec2:[a-z0-9-]+:\\d{12}:instance/(${unanchored(EC2_INSTANCE_ID)})$`,
);
const MANAGED_INSTANCE_ARN = new RegExp(
  `^arn:aws[a-z-]*:ssm:[a-z0-9-]+:\\d{12}:managed-instance/(${unanchored(MANAGED_NODE_ID)})$`,
);

/** The resources whose tag changes matter, and how their ARN names the instance. */
const TAGGED = {
  instance: { service: 'ec2', arn: INSTANCE_ARN },
  'managed-instance': {
    service: 'ssm',
    arn: MANAGED_INSTANCE_ARN,
  },
} as const;
export type TaggedResourceType = keyof typeof TAGGED;

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
    'instance-id': z.string().check(z.regex(EC2_INSTANCE_ID, 'expected an EC2 instance id (i-…)')),
    state: z.enum(EC2_STATES),
  }),
});

const tagChangeSchema = z
  .object({
    ...envelope,
    'detail-type': z.literal('Tag Change on Resource'),
    source: z.literal('aws.tag'),
    resources: z.array(z.string()).check(z.minLength(1)),
    detail: z.object({
      'changed-tag-keys': z.array(z.string()),
      tags: z.record(z.string(), z.string()),
      service: z.enum(['ec2', 'ssm']),
      'resource-type': z.enum(['instance', 'managed-instance']),
    }),
  })
  .check(
    z.refine((event) => TAGGED[event.detail['resource-type']].service === event.detail.service, {
      message:
        'expected service ec2 with resource-type instance, or service ssm with resource-type managed-instance',
      path: ['detail', 'service'],
    }),
    z.refine((event) => event.resources.some((arn) => TAGGED[event.detail['resource-type']].arn.test(arn)), {
      message:
        'expected an EC2 instance ARN (…:instance/i-…) or SSM managed node ARN (…:managed-instance/mi-…) matching detail.resource-type',
      path: ['resources'],
    }),
  );

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
      /** `i-…` for an EC2 instance, `mi-…` for an SSM managed node (hybrid). */
      readonly instanceId: string;
      readonly resourceType: TaggedResourceType;
      readonly changedKeys: readonly string[];
      /** The instance's tags right after the change (the event's snapshot; DescribeInstances is the truth). */
      readonly tags: Readonly<Record<string, string>>;
      readonly time: string;
    };

export function parseDetectorEvent(event: unknown): DetectorEvent {
  const parsed = eventSchema.safeParse(event);
  if (!parsed.success) {
    throw new InvalidInputError(
      'event-detector: not an "EC2 Instance State-change Notification" or a "Tag Change on Resource" event of an ec2 instance or ssm managed-instance ' +
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
  const resourceType = data.detail['resource-type'];
  const instanceId = data.resources
    .map((arn) => TAGGED[resourceType].arn.exec(arn)?.[1])
    .find((id) => id !== undefined) as string;
  return {
    kind: 'tag-change',
    instanceId,
    resourceType,
    changedKeys: data.detail['changed-tag-keys'],
    tags: data.detail.tags,
    time: data.time,
  };
}
