/**
 * The dispatcher's transactions over the alert store (alert-store.ts): their effects (metrics, sink points, bus
 * events, the wake-up of timers and outbox) are published only after they commit; the timeline `record` (whose
 * live-stream messages go out on the bus after the commit, not through the outbox); an alert's row and full view
 * as the transaction sees them; and the outbox insert, which may hand the row to its lane at once.
 */
import { randomUUID } from 'node:crypto';
import type { CompiledQuery } from 'kysely';
import type { DeviceTypeId } from '../catalogue/types.ts';
import type { StreamMessage } from '../channels/channel.ts';
import type { Clock } from '../clock/clock.ts';
import { GridHubError } from '../domain/errors.ts';
import type { EventBus } from '../domain/events.ts';
import type { TelemetrySink } from '../domain/ports.ts';
import type { Resident } from '../domain/records.ts';
import type { Severity } from '../domain/severity.ts';
import type { AlertStore, EventInsert } from './alert-store.ts';
import { alertView, streamMessageOf } from './api-views.ts';
import type { AlertsConfig } from './config.ts';
import type { AlertsMetrics } from './metrics.ts';
import type { ClaimedRow } from './outbox-claims.ts';
import type { PlaceNames } from './places.ts';
import { placeOf } from './places.ts';
import type { ResidentStore } from './residents.ts';
import type { AlertRow, WhistleRow } from './tables.ts';
import type { TurnKind } from './turns.ts';
import type { AlertView } from './types.ts';
import { SYSTEM } from './types.ts';

/** What one transaction decided, published after it commits; and what it already read, read once. */
export interface TxEffects {
  /** What changed; `row` (the alert as the change left it) only for changes that write a sink point. */
  changes: { alertId: string; row?: AlertRow; change: string; at: number }[];
  /** Messages for the dashboards' live stream, published on the bus once the transaction has committed. */
  stream: StreamMessage[];
  /**
   * The whistles of each alert as this transaction saw them: a raise builds the alert's view four times (the
   * timeline's stream message, the alarm, the robots, the dispatch record). Writers of whistles in a
   * transaction call `forgetWhistles`.
   */
  whistles: Map<string, WhistleRow[]>;
  /** The resident behind each device (null: none); residents are not written in alert transactions. */
  residents: Map<string, Resident | null>;
  /**
   * Alert rows read in this transaction, kept current by `setFields` (the one writer of alert columns besides
   * the insert and the repeat count, which call `forgetRow`): a raise reads its alert once, not five times.
   */
  rows: Map<string, AlertRow>;
  /** Outbox rows inserted already claimed by this hub: their delivery starts the moment the transaction commits. */
  claimed: ClaimedRow[];
  /**
   * Outbox rows this transaction left for the lanes to claim (written unclaimed, or given back pending to be tried
   * again): only then has the pass over the lanes after the commit anything of this instance's to claim. A
   * transaction that only recorded outcomes, or whose every row was claimed at its insert, spares that pass.
   */
  queued: boolean;
  /** The earliest lease of the rows claimed at their insert: the outbox's timer wakes by then (null: none). */
  leaseBy: number | null;
  /**
   * Timeline events recorded and not yet written: they go in one multi-row INSERT at the end of the body (on a
   * shared store each statement is a round trip inside the transaction), or before the timeline is read in it.
   */
  events: EventInsert[];
}

/**
 * How the outbox takes a row at its insert (outbox.ts): the lane that will send it says whether it has a slot now
 * and reserves it, so the row is written claimed and goes out right after the commit, without a claim statement
 * on the path from an alarm's commit to the worker's phone.
 */
export interface OutboxHandOff {
  /** A lease for the row when its lane takes it now (the slot is then reserved), else undefined. */
  claim(row: NewOutboxRow, now: number): { owner: string; leaseUntil: number } | undefined;
  /** The transaction committed: deliver the rows it claimed. */
  start(rows: ClaimedRow[]): void;
  /** The transaction rolled back, or a row's insert failed: give the slots reserved for these rows back. */
  abandon(rows: readonly Pick<ClaimedRow, 'channel' | 'target' | 'severity'>[]): void;
}

export interface NewOutboxRow {
  alertId: string;
  channel: string;
  target: string;
  payload: unknown;
  nextAt: number;
  personId?: string | null;
  severity?: Severity | null;
  digestible?: boolean;
  rung?: number | null;
  heldUntil?: number | null;
  maxAttempts?: number | null;
}

export type AlertTransactions = ReturnType<typeof createTransactions>;

export interface TransactionsDeps {
  store: AlertStore;
  clock: Clock;
  cfg: AlertsConfig;
  places: PlaceNames;
  metrics: AlertsMetrics;
  residents: ResidentStore;
  sink: TelemetrySink;
  bus: EventBus;
  /**
   * Runs after every transaction that changed an alert, with what it did: it re-arms the timers and drains the
   * outbox where the transaction gave them something new.
   */
  wake: (fx: TxEffects) => void;
  /**
   * On a shared database: the other instances' announcement of this transaction's stream messages, run inside
   * it (src/live-relay.ts), so that a change that committed reaches every board even if this instance dies next.
   */
  announce?: (stream: readonly StreamMessage[]) => CompiledQuery | undefined;
}

export function createTransactions(deps: TransactionsDeps) {
  const { store, clock, cfg, metrics: m, wake } = deps;
  const q = store.statements;

  async function whistlesOf(r: AlertRow, fx?: TxEffects): Promise<WhistleRow[]> {
    let w = fx?.whistles.get(r.id);
    if (!w) {
      w = await q.whistles(r.id);
      fx?.whistles.set(r.id, w);
    }
    return w;
  }

  /** The resident behind the alert's device, read once per transaction. */
  async function residentOf(deviceId: string, fx?: TxEffects): Promise<Resident | undefined> {
    const seen = fx?.residents.get(deviceId);
    if (seen !== undefined) return seen ?? undefined;
    const res = await deps.residents.forDevice(deviceId);
    fx?.residents.set(deviceId, res ?? null);
    return res;
  }

  function forgetWhistles(fx: TxEffects, alertId: string): void {
    fx.whistles.delete(alertId);
  }

  /** The alert's row as this transaction sees it (read once; `setFields` keeps it current). */
  async function rowOf(fx: TxEffects, id: string): Promise<AlertRow | undefined> {
    let r = fx.rows.get(id);
    if (!r) {
      r = await q.alert(id);
      if (r) fx.rows.set(id, r);
    }
    return r;
  }

  /**
   * A new alert this transaction has just inserted whole: later reads in it take this row, and its whistles are
   * known without a read (nobody has whistled on an alert that did not exist).
   */
  function rememberRow(fx: TxEffects, row: AlertRow): void {
    fx.rows.set(row.id, row);
    fx.whistles.set(row.id, []);
  }

  /** After writing an alert's columns other than through `setFields`. */
  function forgetRow(fx: TxEffects, id: string): void {
    fx.rows.delete(id);
  }

  /** The full view of an alert. */
  function view(r: AlertRow): Promise<AlertView> {
    return viewIn(undefined, r);
  }

  /** The view inside a transaction: what it reads (whistles, resident) is read once per transaction. */
  async function viewIn(fx: TxEffects | undefined, r: AlertRow): Promise<AlertView> {
    const whistles = await whistlesOf(r, fx);
    return alertView(
      { cfg, places: deps.places, now: clock.now() },
      r,
      whistles,
      await residentOf(r.device_id, fx),
    );
  }

  async function load(id: string): Promise<AlertRow> {
    const r = await q.alert(id);
    if (!r) throw new GridHubError('NOT_FOUND', `no alert ${id}`);
    return r;
  }

  /**
   * The effects of the transaction whose body runs now. The store runs transactions one at a time (a second one
   * waits until the first has committed or rolled back; none joins another), so at most one body runs at any
   * moment and `current` is its effects: it is set when the body starts, not when the transaction is asked for.
   */
  let current: TxEffects | undefined;

  /** `fn` in one transaction of the store; a rule result's takes its turn before routine ones (turns.ts). */
  async function tx<T>(fn: (fx: TxEffects) => Promise<T>, kind: TurnKind = 'routine'): Promise<T> {
    const fx: TxEffects = {
      changes: [],
      stream: [],
      whistles: new Map(),
      residents: new Map(),
      rows: new Map(),
      claimed: [],
      queued: false,
      leaseBy: null,
      events: [],
    };
    let out: T;
    try {
      out = await store.transaction(async () => {
        // Bodies never overlap: one that began inside another would have its effects (its claims, its
        // announcement) taken for the other's. Refused loudly rather than published wrong.
        if (current) throw new Error('an alert transaction began while the body of another one was running');
        current = fx;
        try {
          const result = await fn(fx);
          await writeEvents(fx);
          const announcement = fx.stream.length ? deps.announce?.(fx.stream) : undefined;
          if (announcement) await store.reads.get({ compile: () => announcement });
          return result;
        } catch (err) {
          // The slots go back before the store lets the next transaction in: queued behind this one, it may want
          // them for its own alarms.
          if (fx.claimed.length) handOff?.abandon(fx.claimed.splice(0));
          throw err;
        } finally {
          current = undefined;
        }
      }, kind);
    } catch (err) {
      if (fx.claimed.length) handOff?.abandon(fx.claimed);
      throw err;
    }
    // The phones' alarms first: everything below is bookkeeping that can follow them.
    if (fx.claimed.length) handOff?.start(fx.claimed);
    for (const c of fx.changes) {
      m.changes.inc({ change: c.change });
      if (c.row) {
        deps.sink.writeAlertChange({
          alertId: c.row.id,
          ruleId: c.row.rule_id,
          deviceId: c.row.device_id,
          deviceType: c.row.device_type as DeviceTypeId,
          place: placeOf(c.row),
          severity: c.row.severity,
          category: c.row.category,
          change: c.change,
          status: c.row.status,
          at: c.at,
          ageSeconds: Math.max(0, Math.round((c.at - c.row.opened_at) / 1000)),
        });
      }
      deps.bus.emit('alert.changed', { alertId: c.alertId, type: c.change, at: c.at });
    }
    for (const msg of fx.stream) deps.bus.emit('alert.streamed', msg);
    if (fx.changes.length) wake(fx);
    return out;
  }

  /** Timeline event + (for changes) the stream message and the sink point, all in the caller's transaction. */
  async function record(
    fx: TxEffects,
    alertId: string,
    type: string,
    actor: string,
    data: Record<string, unknown> = {},
    options: {
      sink?: boolean;
      stream?: boolean;
      /**
       * Columns as the change shows them where the row already holds what a later step of this transaction
       * gives it (a raise inserts its alert dispatched, yet 'opened' shows it open: lifecycle.ts).
       */
      shown?: Partial<AlertRow>;
    } = {},
  ): Promise<void> {
    const at = clock.now();
    fx.events.push({ alert_id: alertId, at, actor, type, data: JSON.stringify(data) });
    const sink = options.sink !== false;
    const stream = options.stream !== false;
    // Only the sink point and the stream message need the alert itself (a delivery's record needs neither). A
    // copy: later changes in this transaction must not rewrite what this change published.
    const row =
      sink || stream ? { ...((await rowOf(fx, alertId)) as AlertRow), ...options.shown } : undefined;
    if (row && stream) {
      fx.stream.push(streamMessageOf(type, at, await viewIn(fx, row)));
    }
    fx.changes.push({ alertId, change: type, at, ...(row && sink ? { row } : {}) });
  }

  async function setFields(id: string, fields: Record<string, string | number | null>): Promise<void> {
    const now = clock.now();
    await store.updateAlert(id, fields, now);
    const r = current?.rows.get(id);
    if (r) Object.assign(r, fields, { updated_at: now });
  }

  let handOff: OutboxHandOff | undefined;

  async function insertRow(o: NewOutboxRow): Promise<void> {
    const now = clock.now();
    const fx = current;
    const claim = fx ? handOff?.claim(o, now) : undefined;
    const row = {
      alert_id: o.alertId,
      channel: o.channel,
      target: o.target,
      payload: JSON.stringify(o.payload),
      attempts: 0,
      idempotency_key: `gh-${randomUUID()}`,
      person_id: o.personId ?? null,
      severity: o.severity ?? null,
      digestible: o.digestible ? 1 : 0,
      rung: o.rung ?? null,
      held_until: o.heldUntil ?? null,
      max_attempts: o.maxAttempts ?? null,
      next_at: o.nextAt,
      state: 'pending',
      last_error: null,
      last_status: null,
      claimed_by: claim?.owner ?? null,
      lease_until: claim?.leaseUntil ?? null,
    };
    let id: number;
    try {
      id = await store.insertOutbox({ ...row, created_at: now });
    } catch (err) {
      // the row was never written, so it is not among the claimed rows the rollback gives back: its slot goes now
      if (claim) handOff?.abandon([row]);
      throw err;
    }
    if (!fx) return;
    if (claim) {
      fx.claimed.push({ id, ...row });
      fx.leaseBy = Math.min(fx.leaseBy ?? claim.leaseUntil, claim.leaseUntil);
    } else fx.queued = true;
  }

  /** The events this transaction recorded so far, written (in the order they were recorded). */
  async function writeEvents(fx: TxEffects): Promise<void> {
    if (!fx.events.length) return;
    await store.insertEvents(fx.events.splice(0));
  }

  /** People ids notified of the alert and user names that acted on it: those who may read it unmasked. */
  async function actors(id: string): Promise<{ personIds: Set<string>; usernames: Set<string> }> {
    // the timeline as this transaction left it so far
    if (current) await writeEvents(current);
    const personIds = new Set<string>();
    const usernames = new Set<string>();
    for (const e of await q.events(id)) {
      const data = JSON.parse(e.data) as {
        recipients?: { personId?: string }[];
        notified?: string[];
      };
      for (const rcp of data.recipients ?? []) if (rcp.personId) personIds.add(rcp.personId);
      for (const n of data.notified ?? []) personIds.add(n);
      // Users who acted; not the system, rules, channels or the resident's rating link.
      if (!e.actor.includes(':') && e.actor !== SYSTEM && e.actor !== 'resident') usernames.add(e.actor);
    }
    return { personIds, usernames };
  }

  return {
    view,
    viewIn,
    residentOf,
    forgetWhistles,
    rowOf,
    rememberRow,
    forgetRow,
    load,
    tx,
    record,
    setFields,
    insertRow,
    /** The outbox takes rows at their insert from now on (set once, when the outbox is made). */
    useHandOff(h: OutboxHandOff): void {
      handOff = h;
    },
    actors,
  };
}
