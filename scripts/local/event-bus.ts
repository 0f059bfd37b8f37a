// A local stand-in for the default EventBridge bus: rules (pattern + target) as the stack declares them,
// asynchronous delivery, and optional faults EventBridge is allowed to produce — at-least-once
// delivery (duplicates with the same event id), no ordering guarantee, and (beyond EventBridge's
// contract, to prove the sweep covers it) lost events. Faults use a seeded RNG so a run is reproducible.
// EventBridge's side: "Event delivery from AWS services" (durable delivery is at least once, best effort may
// lose an event, https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-service-event-delivery-level.html).

import { matchesEventPattern } from './event-pattern.js';
import { createRng, type Rng } from './rng.js';

/** The EventBridge envelope, as in test/fixtures/events. */
export interface BusEvent {
  readonly version: string;
  readonly id: string;
  readonly 'detail-type': string;
  readonly source: string;
  readonly account: string;
  readonly time: string;
  readonly region: string;
  readonly resources: readonly string[];
  readonly detail: Readonly<Record<string, unknown>>;
}

export type BusTarget = (event: BusEvent) => Promise<unknown> | unknown;

export interface BusRule {
  readonly name: string;
  /** EventBridge event pattern (the rule's `EventPattern`). */
  readonly eventPattern: Readonly<Record<string, unknown>>;
  readonly target: BusTarget;
}

export interface BusFaults {
  /** Deliver each event this many times, drawn uniformly (e.g. [1, 3]). Default [1, 1]. */
  readonly duplicates?: readonly [number, number];
  /** Shuffle each batch of pending deliveries. Default false. */
  readonly shuffle?: boolean;
  /** Fraction of events never delivered (0–1). Default 0. */
  readonly dropRate?: number;
  /** Random extra delay per delivery in ms, [min, max]; reorders across batches. Default [0, 0]. */
  readonly delayMs?: readonly [number, number];
  /** Events it returns true for are never delivered (e.g. every event about one instance). */
  readonly dropIf?: (event: BusEvent) => boolean;
}

export interface EventBusOptions {
  readonly faults?: BusFaults;
  readonly seed?: number;
  /** Called when a target throws (EventBridge would retry, then give up); default: keep in `failures`. */
  readonly onTargetError?: (rule: string, event: BusEvent, error: unknown) => void;
}

export interface EventBusStats {
  /** Events put on the bus. */
  published: number;
  /** Events the fault injector dropped. */
  dropped: number;
  /** Extra copies created by the duplicate fault. */
  duplicated: number;
  /** Target invocations, per rule name. */
  deliveries: Record<string, number>;
  /** Targets that threw, per rule name. */
  targetErrors: Record<string, number>;
}

export class EventBus {
  private readonly rules: BusRule[] = [];
  private readonly rng: Rng;
  private faults: Required<Omit<BusFaults, 'dropIf'>> & Pick<BusFaults, 'dropIf'>;
  private pending: BusEvent[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  private flushScheduled = false;
  private readonly listeners: ((event: BusEvent) => void)[] = [];
  readonly stats: EventBusStats = {
    published: 0,
    dropped: 0,
    duplicated: 0,
    deliveries: {},
    targetErrors: {},
  };
  readonly failures: { rule: string; event: BusEvent; error: unknown }[] = [];

  constructor(private readonly options: EventBusOptions = {}) {
    this.rng = createRng(options.seed ?? 1);
    this.faults = EventBus.withDefaults(options.faults);
  }

  /** Replaces the faults for events put from now on (a test can lose one phase's events, then stop). */
  setFaults(faults: BusFaults = {}): void {
    this.faults = EventBus.withDefaults(faults);
  }

  private static withDefaults(faults: BusFaults = {}): EventBus['faults'] {
    return {
      duplicates: faults.duplicates ?? [1, 1],
      shuffle: faults.shuffle ?? false,
      dropRate: faults.dropRate ?? 0,
      delayMs: faults.delayMs ?? [0, 0],
      ...(faults.dropIf ? { dropIf: faults.dropIf } : {}),
    };
  }

  addRule(rule: BusRule): void {
    // Validate the pattern now: a bad pattern should fail at wiring time, not silently never match.
    matchesEventPattern(rule.eventPattern, {});
    if (this.rules.some((r) => r.name === rule.name))
      throw new Error(`Rule ${rule.name} is already on the bus`);
    this.rules.push(rule);
  }

  /** Sees every published event before faults (for logs and assertions). */
  onPublish(listener: (event: BusEvent) => void): void {
    this.listeners.push(listener);
  }

  /** PutEvents: accepted now, delivered asynchronously. */
  put(...events: BusEvent[]): void {
    for (const event of events) {
      this.stats.published++;
      for (const listener of this.listeners) listener(event);
      if (this.faults.dropIf?.(event) || this.rng.chance(this.faults.dropRate)) {
        this.stats.dropped++;
        continue;
      }
      const copies = this.rng.int(this.faults.duplicates[0], this.faults.duplicates[1]);
      this.stats.duplicated += Math.max(0, copies - 1);
      for (let i = 0; i < copies; i++) this.pending.push(event);
    }
    this.scheduleFlush();
  }

  /** True while an event put is not yet delivered to its targets (what `drain` waits for). */
  get busy(): boolean {
    return this.pending.length > 0 || this.inFlight.size > 0 || this.flushScheduled;
  }

  /** Resolves once every event put so far (and any they caused to be put) has been delivered. */
  async drain(): Promise<void> {
    while (this.pending.length > 0 || this.inFlight.size > 0 || this.flushScheduled) {
      if (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
      else await new Promise((resolve) => setImmediate(resolve));
    }
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    const batch = this.pending;
    this.pending = [];
    if (this.faults.shuffle) this.rng.shuffle(batch);
    for (const event of batch) {
      for (const rule of this.rules) {
        if (!matchesEventPattern(rule.eventPattern, event)) continue;
        const delay = this.rng.int(this.faults.delayMs[0], this.faults.delayMs[1]);
        const delivery = this.deliver(rule, event, delay);
        this.inFlight.add(delivery);
        void delivery.finally(() => this.inFlight.delete(delivery));
      }
    }
  }

  private async deliver(rule: BusRule, event: BusEvent, delayMs: number): Promise<void> {
    if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
    this.stats.deliveries[rule.name] = (this.stats.deliveries[rule.name] ?? 0) + 1;
    try {
      // A structured clone per delivery: targets must not be able to mutate each other's copy.
      await rule.target(structuredClone(event));
    } catch (error) {
      this.stats.targetErrors[rule.name] = (this.stats.targetErrors[rule.name] ?? 0) + 1;
      if (this.options.onTargetError) this.options.onTargetError(rule.name, event, error);
      else this.failures.push({ rule: rule.name, event, error });
    }
  }
}
