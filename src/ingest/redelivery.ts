import { createHash, randomBytes } from 'node:crypto';
import type { EventJournal, SeenKey } from './journal.ts';

/** What redelivery reads and frees of the recorded identities (the journal, either form). */
export type SeenStore = Pick<EventJournal, 'seen' | 'forget' | 'settle' | 'prune'>;

/**
 * Recognising a redelivered event, so that one press opens one alert (design §3 and §6).
 *
 * What identifies an event:
 * - its `eventId`, when the device sends one: the same id from the same device within `eventIdWindowMs` is the
 *   same event, whatever the transport did (the only identity that also holds for the external-broker mode);
 * - otherwise its MQTT packet id with a digest of its payload, and the connection it came on. MQTT frees a
 *   packet id once its exchange completed, so the same id is a redelivery only when:
 *   - the PUBLISH carries DUP (a resend; QoS 2 retransmission before PUBREL), or
 *   - it arrives on a *new* connection while the one that brought the original ended without DISCONNECT (the
 *     device may have missed the PUBACK: a dropped network, a hub killed mid-load). Clients resend their
 *     unacknowledged messages first when they reconnect, and mqtt.js does so without setting DUP; or
 *   - it is QoS 2 and its exchange has not completed (no PUBREL yet): aedes would answer it with PUBREC only.
 *   A device that disconnects with DISCONNECT had its acknowledgements, so its ids are freed then
 *   (`settle`); a completed QoS 2 exchange frees its id at PUBREL (`released`). The same id on the same
 *   connection without DUP is a new message (a device reusing packet id 1 for every press).
 *
 * The identities are written to `ingest_seen` in the journal's group commit, so they hold across a restart.
 * Until that commit they are kept here (`staged`), so a resend arriving in the same socket read is recognised
 * too, and acknowledged only once its original is durable.
 */
export type DuplicateReason = 'dup_flag' | 'reconnect' | 'qos2_unreleased' | 'event_id';

/** How one PUBLISH reached the hub: what the broker knows beyond topic and payload. */
export interface Delivery {
  packetId: number;
  qos: number;
  dup: boolean;
  /** Identity of the connection (unique across restarts). */
  conn: string;
}

export interface Duplicate {
  reason: DuplicateReason;
  /** The original is not committed yet: acknowledge the duplicate after the commit, not before. */
  pending: boolean;
}

export interface RedeliveryOptions {
  journal: SeenStore;
  redeliveryWindowMs: number;
  eventIdWindowMs: number;
}

export interface Redelivery {
  /** A stable id for one connection (a client object), unique across hub restarts. */
  connectionId(client: object): string;
  digest(payload: Buffer): string;
  /** Is this PUBLISH a redelivery of an event taken before? */
  check(deviceId: string, delivery: Delivery, digest: string, now: number): Duplicate | null;
  /** Was an event with this `eventId` taken from this device within the window? */
  checkEventId(deviceId: string, eventId: string, now: number): Duplicate | null;
  /** Note the identities of a message being taken; visible at once, written by the next journal commit. */
  take(
    deviceId: string,
    delivery: Delivery | undefined,
    digest: string,
    eventIds: readonly string[],
    now: number,
  ): void;
  /**
   * What waits for the journal commit, handed to it: still recognised (as pending) until `clear` after the
   * commit (committed or failed). Identities taken meanwhile wait for the next commit.
   */
  staged(): SeenKey[];
  clear(): void;
  /** PUBREL of a QoS 2 message: its id is free again. */
  released(deviceId: string, conn: string, packetId: number): void;
  /** The device ended this connection with DISCONNECT: its packet ids are free again. */
  settled(deviceId: string, conn: string): void;
  /** Forget identities past their window, at most once a minute. */
  prune(now: number): void;
}

const PRUNE_EVERY_MS = 60_000;
const packetKey = (id: number) => `p:${id}`;
const eventKey = (id: string) => `e:${id}`;

export function createRedelivery(options: RedeliveryOptions): Redelivery {
  const { journal, redeliveryWindowMs, eventIdWindowMs } = options;
  // Connection ids carry this process's boot id, so a connection before a restart is never "the same".
  const boot = randomBytes(4).toString('hex');
  let nextConn = 1;
  const connIds = new WeakMap<object, string>();
  let stage = new Map<string, SeenKey>();
  // handed to a commit not yet settled (PostgreSQL's is awaited; SQLite's settles before anything else runs)
  let committing = new Map<string, SeenKey>();
  let lastPrune = 0;

  function lookup(deviceId: string, key: string): { row: SeenKey; pending: boolean } | undefined {
    const id = `${deviceId}\n${key}`;
    const staged = stage.get(id) ?? (committing.size > 0 ? committing.get(id) : undefined);
    if (staged) return { row: staged, pending: true };
    const row = journal.seen(deviceId, key);
    return row ? { row, pending: false } : undefined;
  }

  function put(row: SeenKey): void {
    stage.set(`${row.deviceId}\n${row.key}`, row);
  }

  return {
    connectionId(client) {
      let id = connIds.get(client);
      if (id === undefined) {
        id = `${boot}-${nextConn++}`;
        connIds.set(client, id);
      }
      return id;
    },
    digest: (payload) => createHash('sha1').update(payload).digest('base64'),
    check(deviceId, delivery, digest, now) {
      const found = lookup(deviceId, packetKey(delivery.packetId));
      if (!found || found.row.expiresAt <= now) return null;
      const { row, pending } = found;
      // QoS 2 until PUBREL: the id is in use, whatever the payload (aedes itself answers it with PUBREC only)
      if (delivery.qos === 2 && row.qos === 2 && row.conn === delivery.conn)
        return { reason: 'qos2_unreleased', pending };
      if (row.digest !== digest) return null;
      if (delivery.dup) return { reason: 'dup_flag', pending };
      if (row.conn !== delivery.conn) return { reason: 'reconnect', pending };
      return null;
    },
    checkEventId(deviceId, eventId, now) {
      const found = lookup(deviceId, eventKey(eventId));
      return found && found.row.expiresAt > now ? { reason: 'event_id', pending: found.pending } : null;
    },
    take(deviceId, delivery, digest, eventIds, now) {
      if (delivery)
        put({
          deviceId,
          key: packetKey(delivery.packetId),
          digest,
          conn: delivery.conn,
          qos: delivery.qos,
          expiresAt: now + redeliveryWindowMs,
        });
      for (const id of eventIds)
        put({ deviceId, key: eventKey(id), digest: '', conn: '', qos: 1, expiresAt: now + eventIdWindowMs });
    },
    staged() {
      if (stage.size === 0) return [];
      committing = stage;
      stage = new Map();
      return [...committing.values()];
    },
    clear() {
      if (committing.size > 0) committing = new Map();
    },
    released(deviceId, conn, packetId) {
      const key = packetKey(packetId);
      const found = lookup(deviceId, key);
      if (!found || found.row.conn !== conn || found.row.qos !== 2) return;
      stage.delete(`${deviceId}\n${key}`);
      committing.delete(`${deviceId}\n${key}`);
      journal.forget(deviceId, key);
    },
    settled(deviceId, conn) {
      journal.settle(deviceId, conn);
    },
    prune(now) {
      if (now - lastPrune < PRUNE_EVERY_MS) return;
      lastPrune = now;
      journal.prune(now);
    },
  };
}
