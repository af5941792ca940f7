import { Counter, Gauge, type Registry } from 'prom-client';
import type { DeviceChannel } from '../domain/wire.ts';

/**
 * Owner routing in the external-broker mode (`mqtt.externalRouting: owner`, src/ingest/README.md): every hub
 * instance receives every device message, and each evaluates only the devices it owns, so that a stateful rule
 * (a `for`, a window, an absence) sees all of one device's readings, as on one instance. Who owns which device
 * is decided outside ingest (rendezvous hashing over the live instances, src/storage/membership.ts, wired in
 * src/hub.ts): this file answers, per message, "mine or not", and keeps what it drops.
 *
 * The decision is cached per device (one Map lookup per message); the membership changes drop the cache.
 * Messages of devices this instance does not own are acknowledged at once and kept in a short shadow, bounded
 * by count and by age (longer than a lease, the time a dead owner's devices wait for their new owner): when
 * this instance gains a device, the shadow holds what the device said since its owner stopped evaluating it,
 * and `take` hands those messages over, in order, before the device's live traffic.
 */
export interface ShadowEntry {
  deviceId: string;
  channel: DeviceChannel;
  topic: string;
  payload: Buffer;
  qos: number;
  /** This instance's clock when the message arrived. */
  at: number;
}

export interface RoutingOptions {
  /** Whether this instance owns the device in the current membership (before any hand-over wait). */
  owns(deviceId: string): boolean;
  /** The shadow's bounds: at most `maxEntries` messages, none older than `maxAgeMs`. */
  maxEntries: number;
  maxAgeMs: number;
  metrics: Registry;
}

export interface Routing {
  /** Hot path: does this instance evaluate the device's messages now? */
  owned(deviceId: string): boolean;
  /** Keep a message of a device this instance does not evaluate (acknowledged, not decoded). */
  shadow(entry: ShadowEntry): void;
  /**
   * The membership changed: forget the cached answers. The devices in `waiting` are this instance's in the new
   * membership but are not handed over yet: their messages go on being shadowed until `take`.
   */
  changed(waiting: Iterable<string>): void;
  /**
   * Hand over `devices`: their shadowed messages from `since(deviceId, channel)` on (the moment their previous
   * owner stopped evaluating them, per channel), oldest first, taken out of the shadow; from the return on, they
   * are owned.
   */
  take(devices: ReadonlySet<string>, since: (entry: ShadowEntry) => number): ShadowEntry[];
  /** Messages in the shadow now. */
  readonly size: number;
}

export function createRouting(options: RoutingOptions): Routing {
  const { owns, maxEntries, maxAgeMs } = options;
  const registers = [options.metrics];
  const dropped = new Counter({
    name: 'gridhub_ingest_routed_away_total',
    help: 'Device messages this instance received but did not evaluate: another live instance owns the device (external broker, owner routing)',
    registers,
  });
  const replayed = new Counter({
    name: 'gridhub_ingest_shadow_replayed_total',
    help: 'Shadowed messages of devices this instance took over, evaluated after their owner stopped (owner routing)',
    registers,
  });
  const expired = new Counter({
    name: 'gridhub_ingest_shadow_expired_total',
    help: 'Shadowed messages dropped from the bounded shadow by count or age, never taken over (owner routing)',
    registers,
  });
  const shadowed = new Gauge({
    name: 'gridhub_ingest_shadow_messages',
    help: 'Messages of devices owned by other instances kept for a take-over (owner routing)',
    registers,
    collect() {
      this.set(size());
    },
  });
  void shadowed;

  let cache = new Map<string, boolean>();
  let waiting = new Set<string>();
  // a ring: `ring[head]` is the oldest; taken entries leave holes (undefined) that age out like the others
  const ring: (ShadowEntry | undefined)[] = new Array(maxEntries);
  let head = 0;
  /** Slots from `head` on, holes included; `held`: the messages among them. */
  let count = 0;
  let held = 0;
  const size = () => held;

  const dropOldest = () => {
    if (ring[head] !== undefined) {
      expired.inc();
      held--;
    }
    ring[head] = undefined;
    head = (head + 1) % maxEntries;
    count--;
  };

  return {
    owned(deviceId) {
      let mine = cache.get(deviceId);
      if (mine === undefined) {
        mine = !waiting.has(deviceId) && owns(deviceId);
        cache.set(deviceId, mine);
      }
      return mine;
    },
    shadow(entry) {
      dropped.inc();
      for (;;) {
        if (count === 0) break;
        const oldest = ring[head];
        if (oldest !== undefined && count < maxEntries && oldest.at > entry.at - maxAgeMs) break;
        dropOldest();
      }
      ring[(head + count) % maxEntries] = entry;
      count++;
      held++;
    },
    changed(next) {
      waiting = new Set(next);
      cache = new Map();
    },
    take(devices, since) {
      const out: ShadowEntry[] = [];
      for (let i = 0; i < count; i++) {
        const at = (head + i) % maxEntries;
        const e = ring[at];
        if (e === undefined || !devices.has(e.deviceId)) continue;
        ring[at] = undefined;
        held--;
        // at the cut-off's very millisecond it cannot be told whether the old owner still took it: fed again
        if (e.at >= since(e)) out.push(e);
      }
      for (const d of devices) {
        waiting.delete(d);
        cache.delete(d);
      }
      replayed.inc(out.length);
      return out;
    },
    get size() {
      return held;
    },
  };
}
