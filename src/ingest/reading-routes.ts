import type mqemitter from 'mqemitter';
import { DEVICE_CHANNELS, TOPIC_ROOT } from '../domain/wire.ts';
import { isDeviceTopic } from './topics.ts';

type Emitter = mqemitter.MQEmitter;
type Message = mqemitter.Message;
type Listener = (message: Message, done: () => void) => void;

const CHANNELS: ReadonlySet<string> = new Set(DEVICE_CHANNELS);

/**
 * Whether a subscription filter can match a device's own topic `gh/{deviceId}/telemetry|event|status`. A device's
 * errors topic, a worker's alarms topic and the integrations' feed cannot; `#`, `gh/+/telemetry`, `gh/d1/+`,
 * `gh/+/event/#` can. Any literal second level counts as a device id: the answer may say "can" where no device
 * exists, never "cannot" where one does.
 */
export function filterMatchesDeviceTopics(filter: string): boolean {
  const levels = filter.split('/');
  for (let i = 0; i < levels.length; i++) {
    const level = levels[i] as string;
    // `#` also matches its parent level, so `gh/d1/telemetry/#` matches `gh/d1/telemetry`
    if (level === '#') return true;
    if (i >= 3) return false;
    if (level === '+') continue;
    if (i === 0 && level !== TOPIC_ROOT) return false;
    if (i === 2 && !CHANNELS.has(level)) return false;
  }
  return levels.length === 3;
}

/**
 * The embedded broker's message bus (aedes' `mq`), routing device readings only while someone can receive them.
 *
 * The hub takes every device reading in `authorizePublish`; aedes then still routes each one through its
 * subscription trie (qlobber), 4–5 % of the hub's CPU under a telemetry flood, to find that nobody subscribed —
 * devices may subscribe only to their errors topic, workers only to their alarms. Only an integration or an
 * anonymous reader can subscribe to device topics. This counts the live subscriptions whose filter can match a
 * device topic and, while there are none, completes the emit of a device reading without matching it. Every
 * other message (alarms, device errors, the integrations' feed, `$SYS`) is routed as before, and so are device
 * readings as soon as one such subscription exists.
 */
export type ReadingRoutes = Emitter & {
  /** Live subscriptions whose filter can match a device topic (readings are routed while there are any). */
  readonly readingListeners: number;
};

export function createReadingRoutes(inner: Emitter): ReadingRoutes {
  let readingListeners = 0;
  const emitter: ReadingRoutes = {
    get current() {
      return inner.current;
    },
    get concurrent() {
      return inner.concurrent;
    },
    get readingListeners() {
      return readingListeners;
    },
    on(topic: string, listener: Listener, callback?: () => void) {
      if (filterMatchesDeviceTopics(topic)) readingListeners++;
      inner.on(topic, listener, callback);
      return emitter;
    },
    emit(message: Message, callback?: (error?: Error) => void) {
      if (readingListeners === 0 && isDeviceTopic(message.topic)) callback?.();
      else inner.emit(message, callback);
    },
    removeListener(topic: string, listener: Listener, callback?: () => void) {
      // uncounted once mqemitter has removed the listener (on a later tick): until then readings are matched
      inner.removeListener(topic, listener, () => {
        if (filterMatchesDeviceTopics(topic)) readingListeners--;
        callback?.();
      });
    },
    close(callback: () => void) {
      inner.close(callback);
    },
  };
  return emitter;
}
