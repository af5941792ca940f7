// aedes-persistence-redis ships no types; this is the part of it that ingest uses.
declare module 'aedes-persistence-redis' {
  import type { Redis } from 'ioredis';

  interface RedisPersistence {
    destroy(): Promise<void>;
  }

  /** The persistence aedes 1.x takes: promise methods, Readable streams, `async setup`. */
  export default function aedesPersistenceRedis(options?: {
    conn?: Redis;
    maxSessionDelivery?: number;
    packetTTL?: (packet: unknown) => number;
  }): RedisPersistence;
}
