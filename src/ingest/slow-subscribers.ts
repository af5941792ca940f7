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

/** A connection with bytes waiting for its peer, since the last look that saw some taken. */
interface Stall {
  /** Bytes the peer had taken at that look (sent minus still queued). */
  taken: number;
  /** When that was (real time). */
  since: number;
}

export interface SlowSubscriberGuard {
  /** Watch one connection until it closes (or `unwatch`). */
  watch(conn: Duplex): void;
  /** Stop watching a connection (it closed); the sweep also drops destroyed connections by itself. */
  unwatch(conn: Duplex): void;
  /** Look at every connection now (the guard does this by itself on a timer). */
  sweep(now?: number): void;
  close(): void;
}

export function createSlowSubscriberGuard(o: {
  /** Bytes waiting and none taken for this long (real milliseconds): the connection is cut off. */
  stallMs: number;
  metrics: Registry;
  log: Logger;
  /** The client id a connection logged in with, for the log line of a cut-off. */
  clientIdOf(conn: Duplex): string | undefined;
}): SlowSubscriberGuard {
  // Nothing per connection but its place in the set: state is kept only while bytes wait (an idle device has
  // none), so 10 000 idle connections cost no closures, listeners or records here (issue #19).
  const watched = new Set<Watched>();
  const stalls = new Map<Watched, Stall>();
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

  function unwatch(conn: Duplex): void {
    watched.delete(conn);
    stalls.delete(conn);
  }

  function sweep(now = Date.now()): void {
    for (const conn of watched) {
      if (conn.destroyed) {
        unwatch(conn);
        continue;
      }
      if (conn.writableLength === 0) {
        stalls.delete(conn);
        continue;
      }
      const taken = takenOf(conn);
      const stall = stalls.get(conn);
      if (stall === undefined || taken !== stall.taken) {
        // bytes waiting, but the peer took some since the last look: slow is not frozen
        stalls.set(conn, { taken, since: now });
        continue;
      }
      if (now - stall.since < o.stallMs) continue;
      unwatch(conn);
      cutOff.inc();
      o.log.warn(
        { clientId: o.clientIdOf(conn), queuedBytes: conn.writableLength, stallMs: o.stallMs },
        'subscriber stopped reading; connection cut off',
      );
      conn.destroy(new Error('subscriber stopped reading'));
    }
    if (watched.size === 0 && timer) {
      clearInterval(timer);
      timer = undefined;
    }
  }

  return {
    watch(conn) {
      watched.add(conn);
      if (!timer) {
        timer = setInterval(sweep, every);
        timer.unref();
      }
    },
    unwatch,
    sweep,
    close() {
      if (timer) clearInterval(timer);
      timer = undefined;
      watched.clear();
      stalls.clear();
    },
  };
}
