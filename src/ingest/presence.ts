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
}

export function createPresence(deps: {
  devices: DeviceDirectory;
  bus: EventBus;
  clock: Clock;
  log: Logger;
}): Presence {
  const { devices, bus, clock, log } = deps;
  // A device may hold more than one connection (client ids are free); it is offline when the last one goes.
  const connections = new Map<string, number>();

  function set(deviceId: string, online: boolean, source: OfflineSource, at: number): void {
    const record = devices.get(deviceId);
    if (!record || record.online === online) return;
    try {
      devices.setOnline(deviceId, online, at);
    } catch (err) {
      // presence is bookkeeping: a failed write must not take the message path or the broker down
      log.error({ err, deviceId, online }, 'presence update failed');
      return;
    }
    if (online) bus.emit('device.online', { deviceId, at });
    else bus.emit('device.offline', { deviceId, at, source });
  }

  return {
    connected(session) {
      connections.set(session.id, (connections.get(session.id) ?? 0) + 1);
      set(session.id, true, 'device', clock.now());
    },
    status: set,
    disconnected(session) {
      const left = (connections.get(session.id) ?? 1) - 1;
      if (left > 0) {
        connections.set(session.id, left);
        return;
      }
      connections.delete(session.id);
      set(
        session.id,
        false,
        session.offlineSource ?? (session.keepaliveTimedOut ? 'keepalive' : 'device'),
        clock.now(),
      );
    },
  };
}
