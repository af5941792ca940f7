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
 * Connects and disconnects in bounded batches, one batch a turn of the event loop: after a restart every device
 * reconnects at once, and each change is a registry write and a bus event. Handled as they came, thousands of
 * them sat between the presses of the devices already connected; here at most `maxPerBatch` go per turn, the
 * rest in the next ones, in order (the registry writes a turn's changes in one transaction).
 */
export interface PresenceBatching {
  /** Most changes handed to the registry in one turn (64). */
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
  const maxPerBatch = batching?.maxPerBatch ?? 64;
  // A device may hold more than one connection (client ids are free); it is offline when the last one goes.
  const connections = new Map<string, number>();
  const queued: Change[] = [];
  let scheduled: NodeJS.Immediate | undefined;

  /** Writes one change when it is one; returns its bus event, emitted once the batch is handed over. */
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
    for (const c of batch) {
      const emit = write(c);
      if (emit) events.push(emit);
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
