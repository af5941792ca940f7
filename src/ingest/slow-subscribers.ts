/**
 * Subscribers that stop reading (a worker's phone on a dead network, a frozen app): aedes writes every delivery
 * to the client's socket, and what the peer does not read piles up there. Deliveries to a socket over
 * `mqtt.subscriberQueueBytes` are dropped and counted (pipeline.ts); aedes' drain timeout cuts a socket whose
 * writes are refused. This guard cuts the rest: a socket that has had bytes waiting and none taken by the peer
 * for `mqtt.drainTimeoutMs` is closed, even when its backlog is below the stream's high-water mark (where aedes
 * never waits for a drain). The phone reconnects and its persistent session gets what it missed; the alert
 * itself is in the alert store, and the must-reach ladder does not wait for a phone that does not answer.
 */
import type { Duplex } from 'node:stream';
import { Counter, type Registry } from 'prom-client';
import type { Logger } from '../observability/logger.ts';

/** What the guard reads of a connection: its unsent bytes and, for TCP and TLS sockets, the bytes sent so far. */
type Watched = Duplex & { bytesWritten?: number };

interface Entry {
  conn: Watched;
  clientId: () => string | undefined;
  /** Bytes the peer has taken at the last look (sent minus still queued). */
  taken: number;
  /** Since when bytes have been waiting without any being taken (real time), or null. */
  stalledSince: number | null;
}

export interface SlowSubscriberGuard {
  /** Watch one connection until it closes. */
  watch(conn: Duplex, clientId: () => string | undefined): void;
  /** Look at every connection now (the guard does this by itself on a timer). */
  sweep(now?: number): void;
  close(): void;
}

export function createSlowSubscriberGuard(o: {
  /** Bytes waiting and none taken for this long (real milliseconds): the connection is cut off. */
  stallMs: number;
  metrics: Registry;
  log: Logger;
}): SlowSubscriberGuard {
  const entries = new Set<Entry>();
  const cutOff = new Counter({
    name: 'gridhub_ingest_slow_subscribers_cut_total',
    help: 'MQTT connections cut off because the peer stopped reading (bytes waiting, none taken, for mqtt.drainTimeoutMs)',
    registers: [o.metrics],
  });
  // A few looks per allowance: a frozen reader is cut between 1× and 1.25× the allowance after it stopped.
  const every = Math.max(20, Math.floor(o.stallMs / 4));
  let timer: NodeJS.Timeout | undefined;

  const takenOf = (conn: Watched) =>
    // bytesWritten counts what is still queued too; for streams without it (WebSocket) a shrinking queue is progress
    (conn.bytesWritten ?? 0) - conn.writableLength;

  function sweep(now = Date.now()): void {
    for (const e of entries) {
      const { conn } = e;
      if (conn.destroyed) {
        entries.delete(e);
        continue;
      }
      if (conn.writableLength === 0) {
        e.stalledSince = null;
        continue;
      }
      const taken = takenOf(conn);
      if (e.stalledSince === null || taken !== e.taken) {
        // bytes waiting, but the peer took some since the last look: slow is not frozen
        e.taken = taken;
        e.stalledSince = now;
        continue;
      }
      if (now - e.stalledSince < o.stallMs) continue;
      entries.delete(e);
      cutOff.inc();
      o.log.warn(
        { clientId: e.clientId(), queuedBytes: conn.writableLength, stallMs: o.stallMs },
        'subscriber stopped reading; connection cut off',
      );
      conn.destroy(new Error('subscriber stopped reading'));
    }
    if (entries.size === 0 && timer) {
      clearInterval(timer);
      timer = undefined;
    }
  }

  return {
    watch(conn, clientId) {
      const w = conn as Watched;
      const e: Entry = { conn: w, clientId, taken: takenOf(w), stalledSince: null };
      entries.add(e);
      conn.once('close', () => entries.delete(e));
      if (!timer) {
        timer = setInterval(sweep, every);
        timer.unref();
      }
    },
    sweep,
    close() {
      if (timer) clearInterval(timer);
      timer = undefined;
      entries.clear();
    },
  };
}
