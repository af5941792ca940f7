import { randomUUID } from 'node:crypto';
import { type CompiledQuery, sql } from 'kysely';
import type pg from 'pg';
import type { SqlStore } from './sql-store.ts';

/** A row another instance changed: which table, which key. */
export interface Change {
  table: string;
  id: string;
  /** What happened to the row, when listeners need more than "read it again" (an alert's timeline type). */
  kind?: string;
  /** When it happened (the hub clock's epoch ms). */
  at?: number;
  /**
   * What a listener would otherwise read back from the store (an alert's view as the change left it): carried
   * when the whole notice fits in one notification, else left out, and the listener reads the row instead.
   */
  data?: unknown;
}

/**
 * How the in-memory caches hear that another instance changed a row they hold. On PostgreSQL: NOTIFY on one
 * channel, with this instance's id so it ignores its own; a dedicated connection LISTENs. On SQLite one process
 * owns the file, so there is nobody to tell and nothing to hear.
 */
export interface ChangeFeed {
  /** Tell the other instances; after the write it follows has committed. */
  announce(change: Change): Promise<void>;
  /**
   * The announcement of `changes` as one statement to run inside the transaction that makes them: PostgreSQL
   * delivers it at that commit and drops it with a rollback, so a change that committed is announced even when
   * its instance dies the moment after. Undefined where nobody listens (the embedded store).
   */
  inTransaction(changes: readonly Change[]): CompiledQuery | undefined;
  /** Hear other instances' changes; returns the unsubscribe. */
  subscribe(listener: (change: Change) => void): () => void;
  /** Resolves once the feed hears (PostgreSQL: LISTEN has been acknowledged). */
  ready(): Promise<void>;
  close(): Promise<void>;
}

const CHANNEL = 'gridhub_changes';
/** PostgreSQL refuses a NOTIFY payload of 8000 bytes or more (its default build). */
const MAX_NOTICE_BYTES = 7_999;

/**
 * One change as its notification's payload: with its `data` when the whole fits, else without it (the listener
 * then reads the row). Every hearer would otherwise read the same row back after every change, which on a
 * cluster under load was a good part of the statements each instance sent.
 */
function notice(from: string, change: Change): string {
  const whole = JSON.stringify({ from, ...change });
  if (change.data === undefined || Buffer.byteLength(whole) <= MAX_NOTICE_BYTES) return whole;
  const { data: _tooLarge, ...rest } = change;
  return JSON.stringify({ from, ...rest });
}

export const silentFeed: ChangeFeed = {
  announce: async () => {},
  inTransaction: () => undefined,
  subscribe: () => () => {},
  ready: async () => {},
  close: async () => {},
};

/**
 * The PostgreSQL feed for `store` at `url`. A notification that arrives while the listening connection is down
 * is lost (PostgreSQL keeps none for absent listeners): `onReconnect` is called after the feed listens again, so
 * the caller reloads everything once instead.
 */
export function postgresChangeFeed(
  store: SqlStore,
  url: string,
  options: {
    onError?: (err: Error) => void;
    onReconnect?: () => void;
    /** Shown as the listening connection's application_name (an operator finds it in pg_stat_activity). */
    name?: string;
  } = {},
): ChangeFeed {
  const instance = randomUUID();
  const listeners = new Set<(change: Change) => void>();
  let client: pg.Client | undefined;
  let closed = false;
  const connect = async (): Promise<void> => {
    // Loaded when a PostgreSQL feed is made: the embedded default does not pay for the driver at start-up.
    const { default: driver } = await import('pg');
    const c = new driver.Client({
      connectionString: url,
      application_name: options.name ?? 'gridhub-changes',
    });
    c.on('notification', (msg) => {
      if (msg.channel !== CHANNEL || !msg.payload) return;
      let parsed: {
        from?: string;
        table?: string;
        id?: string;
        kind?: unknown;
        at?: unknown;
        data?: unknown;
      };
      try {
        parsed = JSON.parse(msg.payload) as typeof parsed;
      } catch {
        return;
      }
      if (parsed.from === instance || typeof parsed.table !== 'string' || typeof parsed.id !== 'string')
        return;
      const change: Change = {
        table: parsed.table,
        id: parsed.id,
        ...(typeof parsed.kind === 'string' ? { kind: parsed.kind } : {}),
        ...(typeof parsed.at === 'number' ? { at: parsed.at } : {}),
        ...(parsed.data !== undefined ? { data: parsed.data } : {}),
      };
      for (const l of listeners) l(change);
    });
    c.on('error', (err) => {
      options.onError?.(err);
      if (closed) return;
      client = undefined;
      // listen again after a pause; what was said meanwhile is gone, so the owner reloads
      setTimeout(() => {
        if (!closed) void connect().then(() => options.onReconnect?.(), options.onError);
      }, 1_000).unref();
    });
    await c.connect();
    await c.query(`LISTEN ${CHANNEL}`);
    client = c;
  };
  const started = connect();
  // `ready()` hands the failure to whoever waits for it; nobody waiting must not make it an unhandled rejection
  started.catch((err: Error) => options.onError?.(err));
  return {
    async announce(change) {
      await store.write(
        sql`SELECT pg_notify(${CHANNEL}, ${notice(instance, change)})`.compile(store.builder()),
      );
    },
    inTransaction(list) {
      if (!list.length) return undefined;
      const calls = list.map((c) => sql`pg_notify(${CHANNEL}, ${notice(instance, c)})`);
      return sql`SELECT ${sql.join(calls)}`.compile(store.builder());
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    ready: () => started,
    async close() {
      closed = true;
      await started.catch(() => {});
      await client?.end();
    },
  };
}
