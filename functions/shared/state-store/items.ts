// How one instance is stored (docs/adr/0006-three-items-per-instance.md): the state item and its FACTS
// and RUN siblings, sha256 hashes packed as 32 raw bytes, and the conversions from stored items back to
// the records, fleet entries and history events the store returns.
import type { FleetEntry, HistoryEvent, InstanceRecord } from '../state-store-api.js';
import { FACTS_SK, FLEET_INDEX, RUN_SK, STATE_SK, STATUS_INDEX, TTL_ATTRIBUTE } from '../table-schema.js';

/** Attributes on the state item that are storage plumbing, not part of InstanceRecord. */
const PLUMBING = new Set(['pk', 'sk', FLEET_INDEX.partitionKey, STATUS_INDEX.sortKey]);
/** InstanceRecord fields kept on the FACTS item (written at creation and when the facts change). */
export const FACTS_FIELDS = ['facts', 'accountId', 'region', 'createdAt'] as const;
/** InstanceRecord fields kept on the RUN item; shown only while it belongs to the record's generation. */
const RUN_FIELDS = ['matchedRules', 'playbooks'] as const;
/** sha256 hex values stored as 32 raw bytes (any other value is stored as given). */
const HASH_FIELDS = ['factsHash', 'fingerprint', 'lastSuccessFingerprint'] as const;

export type Item = Record<string, unknown>;

/** The items of one instance, as stored. */
export interface Parts {
  readonly state: Item;
  readonly facts?: Item;
  readonly run?: Item;
}

export function stateKey(instanceId: string): Item {
  return { pk: instanceId, sk: STATE_SK };
}

/** Groups items by instance into Parts; instances without a state item are left out. */
export function assemble(items: readonly Item[]): Parts[] {
  const byId = new Map<string, { state?: Item; facts?: Item; run?: Item }>();
  for (const item of items) {
    const id = String(item.pk);
    const parts = byId.get(id) ?? {};
    if (item.sk === STATE_SK) parts.state = item;
    else if (item.sk === FACTS_SK) parts.facts = item;
    else if (item.sk === RUN_SK) parts.run = item;
    byId.set(id, parts);
  }
  const out: Parts[] = [];
  for (const { state, facts, run } of byId.values()) {
    if (state) out.push({ state, ...(facts ? { facts } : {}), ...(run ? { run } : {}) });
  }
  return out;
}

/** 64 hex digits (a sha256) → its 32 bytes; anything else unchanged. */
export function packHash(value: string): string | Uint8Array {
  return /^[0-9a-f]{64}$/.test(value) ? new Uint8Array(Buffer.from(value, 'hex')) : value;
}

function unpackHash(value: unknown): unknown {
  return value instanceof Uint8Array ? Buffer.from(value).toString('hex') : value;
}

/**
 * The InstanceRecord of an instance's items: the state item's fields, the facts snapshot, and the RUN
 * item's plan and results when they belong to the current generation (a claim starts a new one).
 */
export function toRecord(parts: Parts): InstanceRecord {
  const { state, facts, run } = parts;
  const record: Item = { instanceId: state.pk };
  for (const field of FACTS_FIELDS) if (facts?.[field] !== undefined) record[field] = facts[field];
  if (run && run.generation === state.generation) {
    for (const field of RUN_FIELDS) if (run[field] !== undefined) record[field] = run[field];
  }
  for (const [key, value] of Object.entries(state)) if (!PLUMBING.has(key)) record[key] = value;
  for (const field of HASH_FIELDS) if (record[field] !== undefined) record[field] = unpackHash(record[field]);
  return record as unknown as InstanceRecord;
}

export function toFleetEntry(item: Item): FleetEntry {
  const entry: Item = { instanceId: item.pk };
  for (const name of FLEET_INDEX.projectedAttributes) if (item[name] !== undefined) entry[name] = item[name];
  for (const field of HASH_FIELDS) if (entry[field] !== undefined) entry[field] = unpackHash(entry[field]);
  return entry as unknown as FleetEntry;
}

export function toHistoryEvent(item: Item): HistoryEvent {
  const { pk: _pk, sk: _sk, [TTL_ATTRIBUTE]: _ttl, ...event } = item;
  return event as unknown as HistoryEvent;
}

/** Plain data without `undefined` members (the marshaller refuses them unless told otherwise). */
export function plain<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

/**
 * The scalar attributes (strings, numbers, booleans) of an item in the wire format, as an error returns it
 * (ALL_OLD is not unmarshalled); nested values are left out.
 */
export function scalars(raw: Record<string, unknown> | undefined): Item | undefined {
  if (!raw) return undefined;
  const item: Item = {};
  for (const [key, value] of Object.entries(raw)) {
    const wire = value as { S?: string; N?: string; BOOL?: boolean };
    if (wire.S !== undefined) item[key] = wire.S;
    else if (wire.N !== undefined) item[key] = Number(wire.N);
    else if (wire.BOOL !== undefined) item[key] = wire.BOOL;
  }
  return item;
}
