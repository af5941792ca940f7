import aedesPersistenceRedis from 'aedes-persistence-redis';
import { Redis } from 'ioredis';
import mqemitter from 'mqemitter';
import mqemitterRedis from 'mqemitter-redis';
import { INTEGRATION_READINGS_PREFIX } from '../domain/wire.ts';
import { createReadingRoutes } from './reading-routes.ts';
import { isDeviceTopic } from './topics.ts';

type Emitter = mqemitter.MQEmitter;
type Message = mqemitter.Message;
type Listener = (message: Message, done: () => void) => void;

/**
 * The message bus of a clustered broker. Everything the instances must share goes over Redis pub/sub
 * (mqemitter-redis): worker alarms, device errors, aedes' `$SYS` coordination (heartbeats, client take-over).
 * Device readings stay on the instance the device is connected to: that instance's ingest already consumed them
 * in authorizePublish, and sending every reading through Redis would cap the whole cluster at what one Redis
 * pub/sub channel carries. The same holds for the integration readings feed (`gh/integrations/readings/…`).
 * The price: an integration subscribed to `gh/+/telemetry` or to the feed on one instance sees the devices
 * connected to that instance only.
 *
 * Each listener is registered on both buses; each message is emitted on exactly one, so nothing is delivered
 * twice.
 */
export function createClusterEmitter(redisUrl: string, concurrency: number): Emitter {
  // device readings are emitted here only, and routed only while a local subscription can match them
  const local = createReadingRoutes(mqemitter({ concurrency, matchEmptyLevels: true }));
  const shared = mqemitterRedis({ connectionString: redisUrl, concurrency, matchEmptyLevels: true });
  const emitter: Emitter = {
    get current() {
      return local.current + shared.current;
    },
    get concurrent() {
      return local.concurrent + shared.concurrent;
    },
    on(topic: string, listener: Listener, callback?: () => void) {
      local.on(topic, listener, () => shared.on(topic, listener, callback));
      return emitter;
    },
    emit(message: Message, callback?: (error?: Error) => void) {
      if (isDeviceTopic(message.topic) || message.topic.startsWith(INTEGRATION_READINGS_PREFIX))
        local.emit(message, callback);
      else shared.emit(message, callback);
    },
    removeListener(topic: string, listener: Listener, callback?: () => void) {
      local.removeListener(topic, listener, () => shared.removeListener(topic, listener, callback));
    },
    close(callback: () => void) {
      local.close(() => shared.close(callback));
    },
  };
  return emitter;
}

/**
 * Sessions, subscriptions, offline QoS 1 messages (a worker's alarms while the phone is off), wills and
 * retained messages in Redis: shared by the instances and kept across restarts.
 */
export function createRedisPersistence(redisUrl: string): ReturnType<typeof aedesPersistenceRedis> {
  return aedesPersistenceRedis({ conn: new Redis(redisUrl) });
}
