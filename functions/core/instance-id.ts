// What an instance id looks like: the one schema every component checks ids with. Pure.
// - An id from outside — an EC2 event, an inventory host, an ARN — must have one of AWS's own forms:
//   EC2 `i-` and hex digits (8 in old ids, 17 today), SSM managed (hybrid) node `mi-` and 17 hex digits.
// - An id passed between our own components (workflow payloads, a CLI argument naming a record) was
//   checked on the way in; there only its shape is checked (`i-`/`mi-` and hex), which is what keeps it
//   safe to put into an execution name, a DynamoDB key or a log line.
import * as z from 'zod/mini';

/** An EC2 instance id as EC2 events and ARNs carry it. */
export const EC2_INSTANCE_ID = /^i-[0-9a-f]{8,17}$/;
/** An SSM managed node id (hybrid activation). */
export const MANAGED_NODE_ID = /^mi-[0-9a-f]{17}$/;
/** The shape of any id the stack handles: `i-` or `mi-`, then hex digits. */
export const INSTANCE_ID_SHAPE = /^m?i-[0-9a-f]+$/;

/** True for an EC2 instance id (`i-…`) or an SSM managed node id (`mi-…`) in AWS's own form. */
export function isInstanceId(value: string): boolean {
  return EC2_INSTANCE_ID.test(value) || MANAGED_NODE_ID.test(value);
}

/** True for anything shaped like an id (`i-…`/`mi-…` and hex digits): a record key, a CLI argument. */
export function hasInstanceIdShape(value: string): boolean {
  return INSTANCE_ID_SHAPE.test(value);
}

/** `instanceId` of a workflow payload (the ids our own components pass on). */
export const instanceIdInput = z
  .string()
  .check(z.regex(INSTANCE_ID_SHAPE, 'expected an EC2 instance id (i-…) or managed node id (mi-…)'));

/** An id inside an ARN: the EC2 pattern without its anchors, for a capture group. */
export function unanchored(pattern: RegExp): string {
  return pattern.source.replace(/^\^/, '').replace(/\$$/, '');
}
