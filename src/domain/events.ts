import type { Logger } from 'pino';
import type { PlacePath } from './places.ts';
import type { Reading } from './reading.ts';

/** One change of an alert as the live dashboards see it: the change and the alert as it was then. */
export interface AlertStreamMessage {
  type: string;
  alertId: string;
  at: number;
  place: PlacePath;
  /** Departments whistled into the alert (a department user sees only those). */
  departments: string[];
  alert: Record<string, unknown>;
}

/**
 * Observer events (live dashboard, metrics, integrations), named `domain.verb`. The pipeline itself never
 * depends on them: a failing listener is logged and the emit goes on.
 */
export interface HubEvents {
  'reading.accepted': Reading;
  'reading.rejected': { deviceId: string; topic: string; code: string; field?: string };
  'device.online': { deviceId: string; at: number };
  'device.offline': { deviceId: string; at: number; source: 'device' | 'will' | 'keepalive' };
  'alert.changed': { alertId: string; type: string; at: number };
  /** Published after the change's transaction commits; the dashboards' live stream is fed from it. */
  'alert.streamed': AlertStreamMessage;
}

type Listener<T> = (payload: T) => void;

export interface EventBus {
  on<K extends keyof HubEvents>(name: K, listener: Listener<HubEvents[K]>): () => void;
  emit<K extends keyof HubEvents>(name: K, payload: HubEvents[K]): void;
  listenerCount(name: keyof HubEvents): number;
}

export function createEventBus(log: Logger): EventBus {
  const listeners = new Map<keyof HubEvents, Set<Listener<never>>>();
  return {
    on(name, listener) {
      let set = listeners.get(name);
      if (!set) {
        set = new Set();
        listeners.set(name, set);
      }
      set.add(listener as Listener<never>);
      return () => set.delete(listener as Listener<never>);
    },
    emit(name, payload) {
      const set = listeners.get(name);
      if (!set) return;
      for (const l of set) {
        try {
          (l as Listener<typeof payload>)(payload);
        } catch (err) {
          log.error({ err, event: name }, 'event listener failed');
        }
      }
    },
    listenerCount: (name) => listeners.get(name)?.size ?? 0,
  };
}
