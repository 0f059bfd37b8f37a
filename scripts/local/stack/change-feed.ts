// The local stack's live change feed: every write the DynamoDB proxy sees on an instance becomes an
// InstanceChange (a status move, or one playbook's result or attempt), read back from the record. `npm
// start` prints these lines; tests and the demo's triggers subscribe through the handle's onChange.
import type { Status } from '../../../functions/core/types.js';
import type { StateStore } from '../../../functions/shared/state-store.js';
import type { InstanceRecord } from '../../../functions/shared/state-store-api.js';

/** A change of an instance record, seen right after the write that made it. */
export interface InstanceChange {
  readonly at: Date;
  readonly instanceId: string;
  /** Name tag (fleet), if any. */
  readonly name?: string;
  /** `status`: the record's status changed; `playbook`: one playbook's result or attempt count changed. */
  readonly kind: 'status' | 'playbook';
  readonly from?: Status;
  readonly to: Status;
  /** For kind = playbook. */
  readonly playbook?: {
    readonly index: number;
    readonly file: string;
    readonly status: string;
    readonly attempts: number;
  };
  readonly detail: string;
  readonly record: InstanceRecord;
}

interface Snapshot {
  readonly status: Status;
  readonly playbooks: readonly string[];
}

/**
 * Turns the proxy's "this instance was written" signals into InstanceChange events: one read of the record
 * per write (serialized per instance, straight to DynamoDB Local), compared with the last one seen. Only
 * active while someone listens, so a benchmark without listeners pays nothing.
 */
export class ChangeFeed {
  private readonly listeners = new Set<(change: InstanceChange) => void>();
  private readonly last = new Map<string, Snapshot>();
  private readonly chains = new Map<string, Promise<void>>();
  private store?: StateStore;
  private nameOf: (id: string) => string | undefined = () => undefined;
  private closed = false;

  attach(store: StateStore, nameOf: (id: string) => string | undefined): void {
    this.store = store;
    this.nameOf = nameOf;
  }

  subscribe(listener: (change: InstanceChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  touched(instanceId: string): void {
    if (this.closed || this.listeners.size === 0 || !this.store) return;
    const previous = this.chains.get(instanceId) ?? Promise.resolve();
    const next = previous.then(() => this.read(instanceId)).catch(() => {});
    this.chains.set(instanceId, next);
    void next.finally(() => {
      if (this.chains.get(instanceId) === next) this.chains.delete(instanceId);
    });
  }

  async drain(): Promise<void> {
    while (this.chains.size > 0) await Promise.allSettled([...this.chains.values()]);
  }

  close(): void {
    this.closed = true;
  }

  private async read(instanceId: string): Promise<void> {
    if (this.closed || !this.store) return;
    const record = await this.store.getInstance(instanceId);
    if (!record || this.closed) return;
    const before = this.last.get(instanceId);
    const playbooks = (record.playbooks ?? []).map((p) => `${p.file}|${p.status}|${p.attempts}`);
    this.last.set(instanceId, { status: record.status, playbooks });
    const at = new Date();
    const name = this.nameOf(instanceId);
    const base = { at, instanceId, ...(name ? { name } : {}), record, to: record.status };
    const emit = (change: InstanceChange) => {
      for (const listener of this.listeners) listener(change);
    };
    for (const [index, p] of (record.playbooks ?? []).entries()) {
      const key = playbooks[index];
      if (p.status === 'Pending' || before?.playbooks[index] === key) continue;
      // A new match (new generation) resets the list to Pending: only real results are reported.
      emit({
        ...base,
        kind: 'playbook',
        ...(before ? { from: before.status } : {}),
        playbook: { index, file: p.file, status: p.status, attempts: p.attempts },
        detail: `${p.file} ${p.status}${p.attempts > 1 ? ` (attempt ${p.attempts})` : ''}${p.exitCode !== undefined && p.status !== 'Success' ? `, exit ${p.exitCode}` : ''}`,
      });
    }
    if (before?.status !== record.status) {
      emit({
        ...base,
        kind: 'status',
        ...(before ? { from: before.status } : {}),
        detail: statusDetail(record),
      });
    }
  }
}

/** One line of context for a status. */
export function statusDetail(record: InstanceRecord): string {
  const results = (record.playbooks ?? [])
    .map((p) => `${p.file} ${p.status}${p.attempts > 1 ? ` ×${p.attempts}` : ''}`)
    .join(', ');
  switch (record.status) {
    case 'PENDING':
      return `detected (${record.source})${record.held ? ', held' : ''}`;
    case 'RUNNING':
      return `claimed, generation ${record.generation}, execution ${record.executionName ?? '?'}`;
    case 'SUCCESS':
      return results;
    case 'PARTIAL':
    case 'FAILED':
      return [results, record.reason].filter(Boolean).join(' — ');
    case 'SKIPPED':
      return record.reason ?? 'no rule selects a playbook for this host';
    default:
      return record.reason ?? '';
  }
}
