/**
 * Owner routing of devices across hub instances (issue #18, "Rules that see the whole device"; external broker,
 * `GRIDHUB_MQTT_EXTERNAL_ROUTING=owner`, on a shared database). Each device is evaluated by one instance, its
 * owner by rendezvous hashing over the live instances (src/storage/membership.ts). After each lease renewal the
 * membership is read again; when it changed:
 *
 * - devices this instance loses to a newcomer are shadowed at once (ingest), and their rule state is written and
 *   given up with a note for the taker (`rules.release`, src/rules/handover.ts);
 * - devices it gains wait, shadowed, until they can be taken: at once when their previous owner died (its lease
 *   ran out: its rows are taken as a dead owner's), after its note when it lives (it releases them at its own
 *   next renewal). Then the rules adopt their stored state (a `for` started on the old owner completes here),
 *   ingest feeds the shadowed messages that came after the old owner stopped (its last renewal, or its note),
 *   in order, and the device's live traffic follows.
 *
 * Run by the lease's `afterRenewal`, before the orphan sweep, so that a dead owner's journaled events are
 * re-fed into the state this instance just adopted.
 */
import type { DeviceRecord } from './domain/records.ts';
import type { IngestRouting } from './ingest/ingest.ts';
import type { Logger } from './observability/logger.ts';
import type { RuleEngine } from './rules/engine.ts';
import type { Membership } from './storage/membership.ts';
import { ownerOf } from './storage/rendezvous.ts';

interface Waiting {
  /** The previous owner while it lives (its note is awaited); undefined once it is gone or when none was. */
  from: string | undefined;
  /** Shadowed messages after this time are fed at the take-over (dead owner: its last renewal). */
  since: number;
  /** This instance's clock when the wait began. */
  began: number;
}

export interface DeviceRouting {
  /** Whether this instance's membership view gives it the device (ingest's question, before hand-over waits). */
  owns(deviceId: string): boolean;
  /** Whether this instance evaluates the device now (the rules' question: owned and handed over). */
  evaluates(deviceId: string): boolean;
  /** The first read of the membership, before the rules engine and ingest are built. */
  init(now: number): Promise<void>;
  /** Hand the stages over once built; gives up, with notes, every device another instance owns. */
  attach(stages: { ingest: IngestRouting; rules: Pick<RuleEngine, 'release' | 'adopt'> }): Promise<void>;
  /** After each lease renewal: read the membership, hand devices over. */
  refresh(now: number): Promise<void>;
  /** When a live instance's lease runs out unless renewed (the lease's heartbeat wakes then, `nextWake`). */
  nextExpiry(now: number): number | undefined;
}

export function createDeviceRouting(deps: {
  membership: Membership;
  devices: { list(): DeviceRecord[]; get(id: string): DeviceRecord | undefined };
  /**
   * How long a device waits for its live previous owner's note before it is taken without it: a hand-over
   * takes one renewal of each side, so a longer wait means the note will not come (views that disagreed);
   * under the shadow's age, so that what the device said meanwhile is still there to be fed.
   */
  waitLimitMs: number;
  log: Logger;
}): DeviceRouting {
  const { membership, devices, waitLimitMs } = deps;
  const log = deps.log.child({ module: 'routing' });
  const me = membership.instanceId;
  const waiting = new Map<string, Waiting>();
  let stages: { ingest: IngestRouting; rules: Pick<RuleEngine, 'release' | 'adopt'> } | undefined;

  const owns = (deviceId: string) => membership.ownerOf(deviceId) === me;

  async function takeOver(now: number): Promise<void> {
    if (!stages || waiting.size === 0) return;
    const live = new Set(membership.live());
    for (const w of waiting.values()) if (w.from !== undefined && !live.has(w.from)) w.from = undefined;
    const candidates = [];
    const overdue = new Map<string, number>();
    for (const [deviceId, w] of waiting) {
      const d = devices.get(deviceId);
      if (!d) {
        waiting.delete(deviceId);
        continue;
      }
      // the previous owner kept waiting on for longer than a hand-over takes
      const lateFrom = w.from !== undefined && now - w.began >= waitLimitMs ? w.from : undefined;
      if (lateFrom !== undefined) overdue.set(lateFrom, (overdue.get(lateFrom) ?? 0) + 1);
      candidates.push({
        deviceId,
        from: w.from,
        overdue: lateFrom !== undefined,
        seed: {
          deviceId,
          deviceType: d.type,
          placeId: d.placeId,
          place: d.place,
          floor: d.floor,
          lastSeen: d.lastSeen,
        },
      });
    }
    for (const [from, count] of overdue)
      log.warn(
        { from, devices: count, waitLimitMs },
        'devices taken without their previous owner’s hand-over note: it did not release them in time',
      );
    const ready = await stages.rules.adopt(candidates);
    if (ready.size === 0) {
      log.info({ waiting: waiting.size }, 'devices wait for their previous owner to release them');
      return;
    }
    const since = new Map<string, number>();
    for (const [deviceId, releasedAt] of ready)
      since.set(deviceId, releasedAt ?? (waiting.get(deviceId) as Waiting).since);
    const taken = new Set(ready.keys());
    const replayed = await stages.ingest.take(taken, (id) => since.get(id) ?? Number.NEGATIVE_INFINITY);
    for (const id of taken) waiting.delete(id);
    log.info(
      { taken: taken.size, replayed, waiting: waiting.size, at: now },
      'devices taken over: rule state adopted, shadowed messages fed',
    );
  }

  return {
    owns,
    evaluates: (deviceId) => owns(deviceId) && !waiting.has(deviceId),
    nextExpiry: (now) => membership.nextExpiry(now),
    async init(now) {
      await membership.refresh(now);
      const live = membership.live();
      const others = live.filter((id) => id !== me);
      for (const d of devices.list()) {
        if (!owns(d.id)) continue;
        // who had it before this instance came: a live one hands it over; else it is this instance's now
        const from = ownerOf(d.id, others);
        if (from !== undefined) waiting.set(d.id, { from, since: now, began: now });
      }
      log.info(
        { instances: live, devices: devices.list().length, waiting: waiting.size },
        'device ownership: this instance evaluates its share of the devices',
      );
    },
    async attach(s) {
      stages = s;
      s.ingest.changed(waiting.keys());
      // what is not this instance's: its rows (from an earlier run under this name) given up, with notes, so
      // an instance that started at the same moment and waits for this one's hand-over is not kept waiting
      await s.rules.release(
        devices
          .list()
          .filter((d) => !owns(d.id))
          .map((d) => d.id),
      );
    },
    async refresh(now) {
      const change = await membership.refresh(now);
      if (!change || !stages) {
        await takeOver(now);
        return;
      }
      const before = change.before;
      const after = new Set(change.after);
      const lost: string[] = [];
      let gained = 0;
      for (const d of devices.list()) {
        const was = ownerOf(d.id, before) === me;
        const is = owns(d.id);
        if (was && !is) {
          // one still waiting was never evaluated here, yet the newcomer takes it from this instance (its view
          // had this one as the owner): its note is given all the same, or the newcomer would wait for ever
          waiting.delete(d.id);
          lost.push(d.id);
        } else if (!was && is) {
          gained++;
          const from = ownerOf(d.id, before);
          if (from !== undefined && after.has(from)) waiting.set(d.id, { from, since: now, began: now });
          else
            waiting.set(d.id, {
              from: undefined,
              since: (from === undefined ? undefined : change.lastAlive(from)) ?? Number.NEGATIVE_INFINITY,
              began: now,
            });
        }
      }
      log.info(
        {
          instances: change.after,
          joined: change.after.filter((id) => !before.includes(id)),
          left: before.filter((id) => !after.has(id)),
          gained,
          lost: lost.length,
        },
        'instances changed: devices handed over',
      );
      stages.ingest.changed(waiting.keys());
      // what ingest had already taken of the lost devices reaches the rules first (the telemetry queue drains in
      // the check phase), so that nothing of them is evaluated here after their state was given up
      await new Promise((resolve) => setImmediate(resolve));
      await stages.rules.release(lost);
      await takeOver(now);
    },
  };
}
