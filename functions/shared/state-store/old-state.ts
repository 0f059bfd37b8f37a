// What a refused conditional write returned (ALL_OLD), read from the wire format: the few fields a lost
// claim (claim.ts) and a refused fenced write (fencing.ts) are explained with.
import { STATUSES, type Status } from '../../core/types.js';

/** What a failed conditional write returned (ALL_OLD), read straight from the wire format. */
export interface OldState {
  readonly status?: Status;
  readonly generation?: number;
  readonly held?: boolean;
  readonly leaseExpiresAt?: string;
  readonly taskToken?: string;
  readonly playbookCount?: number;
}

/** The few scalar fields a loss is explained with, read from the raw (marshalled) ALL_OLD item. */
export function readOld(item: Record<string, unknown> | undefined): OldState {
  if (!item) return {};
  const s = (name: string): string | undefined => {
    const value = item[name] as { S?: string } | undefined;
    return value?.S;
  };
  const n = (value: unknown): number | undefined => {
    const raw = (value as { N?: string } | undefined)?.N;
    return raw === undefined ? undefined : Number(raw);
  };
  const command = (item.activeCommand as { M?: Record<string, { S?: string }> } | undefined)?.M;
  const playbooks = (item.playbooks as { L?: unknown[] } | undefined)?.L;
  const status = s('status');
  return {
    ...(status !== undefined && (STATUSES as readonly string[]).includes(status)
      ? { status: status as Status }
      : {}),
    ...(n(item.generation) === undefined ? {} : { generation: n(item.generation) }),
    held: (item.held as { BOOL?: boolean } | undefined)?.BOOL === true,
    ...(s('leaseExpiresAt') === undefined ? {} : { leaseExpiresAt: s('leaseExpiresAt') }),
    ...(command?.taskToken?.S === undefined ? {} : { taskToken: command.taskToken.S }),
    ...(playbooks === undefined ? {} : { playbookCount: playbooks.length }),
  };
}
