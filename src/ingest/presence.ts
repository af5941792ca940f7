import type { Clock } from '../clock/clock.ts';
import type { EventBus } from '../domain/events.ts';
import type { DeviceDirectory } from '../domain/ports.ts';
import type { Logger } from '../observability/logger.ts';
import type { DeviceSession } from './session.ts';

export type OfflineSource = 'device' | 'will' | 'keepalive';

/**
 * Device presence from the broker's point of view: connected (CONNACK sent), said online/offline on its status
 * topic, went away. Writes go to the registry only on a change, and each change is one bus event.
 */
export interface Presence {
  connected(session: DeviceSession): void;
  status(deviceId: string, online: boolean, source: OfflineSource, at: number): void;
  disconnected(session: DeviceSession): void;
  /** Write the connects and disconnects still queued (batched mode); a no-op otherwise. */
  flush(): void;
}

/**
 * Connects and disconnects written together: after a restart every device reconnects at once, and one
 * autocommitted UPDATE per device (≈0.3 ms each, 3 s of event loop for 10 000) sat between the presses of the
 * devices already connected. Queued changes are written in one transaction per batch on the next turn.
 */
export interface PresenceBatching {
  /** Runs `fn` in one transaction of the database the directory writes to. */
  transaction(fn: () => void): void;
  /** Most changes written in one transaction; the rest go in the next turn (bounded event-loop blocks). */
  maxPerBatch?: number;
}

interface Change {
  deviceId: string;
  online: boolean;
  source: OfflineSource;
  at: number;
}

export function createPresence(deps: {
  devices: DeviceDirectory;
  bus: EventBus;
  clock: Clock;
  log: Logger;
  batching?: PresenceBatching;
}): Presence {
  const { devices, bus, clock, log, batching } = deps;
  const maxPerBatch = batching?.maxPerBatch ?? 500;
  // A device may hold more than one connection (client ids are free); it is offline when the last one goes.
  const connections = new Map<string, number>();
  const queued: Change[] = [];
  let scheduled: NodeJS.Immediate | undefined;

  /** Writes one change when it is one; returns the bus event to emit once the write is committed. */
  function write(c: Change): (() => void) | undefined {
    const record = devices.get(c.deviceId);
    if (!record || record.online === c.online) return undefined;
    try {
      devices.setOnline(c.deviceId, c.online, c.at);
    } catch (err) {
      // presence is bookkeeping: a failed write must not take the message path or the broker down
      log.error({ err, deviceId: c.deviceId, online: c.online }, 'presence update failed');
      return undefined;
    }
    const { deviceId, at, source } = c;
    return c.online
      ? () => bus.emit('device.online', { deviceId, at })
      : () => bus.emit('device.offline', { deviceId, at, source });
  }

  function writeBatch(): void {
    scheduled = undefined;
    if (queued.length === 0) return;
    const batch = queued.splice(0, maxPerBatch);
    if (queued.length > 0) scheduled = setImmediate(writeBatch);
    const events: (() => void)[] = [];
    try {
      batching?.transaction(() => {
        for (const c of batch) {
          const emit = write(c);
          if (emit) events.push(emit);
        }
      });
    } catch (err) {
      // the transaction's COMMIT failed: the directory's in-memory state is ahead of the table until the next
      // change of each device; say so, keep the broker up
      log.error({ err, changes: batch.length }, 'presence batch write failed');
    }
    for (const emit of events) emit();
  }

  /** Everything queued, now and in order (before a status change, which must land after them). */
  function flush(): void {
    if (scheduled) clearImmediate(scheduled);
    scheduled = undefined;
    while (queued.length > 0) writeBatch();
  }

  function change(c: Change): void {
    if (!batching) {
      write(c)?.();
      return;
    }
    queued.push(c);
    scheduled ??= setImmediate(writeBatch);
  }

  return {
    connected(session) {
      connections.set(session.id, (connections.get(session.id) ?? 0) + 1);
      change({ deviceId: session.id, online: true, source: 'device', at: clock.now() });
    },
    status(deviceId, online, source, at) {
      flush();
      write({ deviceId, online, source, at })?.();
    },
    disconnected(session) {
      const left = (connections.get(session.id) ?? 1) - 1;
      if (left > 0) {
        connections.set(session.id, left);
        return;
      }
      connections.delete(session.id);
      change({
        deviceId: session.id,
        online: false,
        source: session.offlineSource ?? (session.keepaliveTimedOut ? 'keepalive' : 'device'),
        at: clock.now(),
      });
    },
    flush,
  };
}
