/**
 * Every fixed statement of the alert store (alert-store.ts's `AlertStatements`), built once with Kysely for
 * SQLite and PostgreSQL alike: what the two spell differently is spelled here in what both accept (an upsert for
 * `INSERT OR IGNORE`, `RETURNING id` for the rowid). Constants are literals in the SQL, so each statement's
 * parameters are its arguments, as in the hand-written SQL this replaces. Run by sqlite-alert-store.ts and
 * postgres-alert-store.ts (store-ops.ts says how).
 */
import { sql } from 'kysely';
import { chunksOf } from '../storage/chunks.ts';
import type { Dialect } from '../storage/sql-store.ts';
import type { EventInsert, NewAlert, OutboxInsert, TimerInsert } from './alert-store.ts';
import { outboxOps, reachOps, timerOps } from './due-statements.ts';
import { type AnyOp, all, type AlertDb as Db, first, lit, standIn, standInRow, write } from './store-ops.ts';
import type { AlertRow } from './tables.ts';

const OPEN = ['open', 'dispatched', 'acknowledged', 'on_site'] as const;
const NEW_ALERT_FIELDS = [
  'id',
  'ruleId',
  'deviceId',
  'deviceType',
  'placeId',
  'place',
  'gridId',
  'floor',
  'severity',
  'category',
  'title',
  'detail',
  'evidence',
  'dedup',
  'incidentId',
  'at',
  'status',
] as const satisfies readonly (keyof NewAlert)[];

/** The handling columns of an alert nobody has taken yet: a new one, or one reopened (lifecycle.ts). */
export const NOT_HANDLED = {
  acknowledged_at: null,
  acknowledged_by: null,
  arrived_at: null,
  resolved_at: null,
  resolved_by: null,
  resolution: null,
  resolution_note: null,
} as const;

/**
 * The row `insertAlert` writes, as `alert` would read it back (without the place levels the database derives):
 * the raise goes on with it instead of reading its own insert again (a `SELECT *` of some forty columns was the
 * raise transaction's costliest read). Its columns are the insert's (`newAlertColumns`);
 * test/storage/alert-statements.test.ts holds it to the row the store returns.
 */
export function insertedAlert(a: NewAlert): AlertRow {
  return {
    ...newAlertColumns(a),
    count: 1,
    ...NOT_HANDLED,
    closed_at: null,
    rating: null,
    rating_comment: null,
    // the columns' defaults (schema.ts)
    reach: 'grid',
    escalation_step: 0,
    escalated: 0,
    cancelled_by_resident: 0,
    reopened: 0,
  };
}

/** The columns a new alert takes from its `NewAlert` (the insert, and the row it is taken to be). */
function newAlertColumns(a: NewAlert) {
  return {
    id: a.id,
    rule_id: a.ruleId,
    device_id: a.deviceId,
    device_type: a.deviceType,
    place_id: a.placeId,
    place: a.place,
    grid_id: a.gridId,
    floor: a.floor,
    severity: a.severity as AlertRow['severity'],
    category: a.category,
    title: a.title,
    detail: a.detail,
    evidence: a.evidence,
    dedup: a.dedup as AlertRow['dedup'],
    incident_id: a.incidentId,
    opened_at: a.at,
    clock_start: a.at,
    last_seen_at: a.at,
    updated_at: a.at,
    status: a.status,
  };
}

const id = (row: { id: number } | undefined): number => Number(row?.id);

function alertOps(db: Db) {
  const openFor = (ruleId: string, deviceId: string) =>
    db
      .selectFrom('alerts')
      .selectAll()
      .where('rule_id', '=', ruleId)
      .where('device_id', '=', deviceId)
      .where('status', 'in', OPEN.map(lit))
      .orderBy('opened_at', 'desc')
      .limit(lit(1));
  return {
    alert: first((id: string) => db.selectFrom('alerts').selectAll().where('id', '=', id)),
    journalSeen: write((journalId: number, ruleId: string, at: number) =>
      db
        .insertInto('alert_journal_seen')
        .values({ journal_id: journalId, rule_id: ruleId, at })
        .onConflict((oc) => oc.doNothing()),
    ),
    eventSeen: write((deviceId: string, eventId: string, ruleId: string, at: number) =>
      db
        .insertInto('alert_event_seen')
        .values({ device_id: deviceId, event_id: eventId, rule_id: ruleId, at })
        .onConflict((oc) => oc.doNothing()),
    ),
    openFor: first(openFor),
    repeat: write((lastSeenAt: number, detail: string, evidence: string, now: number, id: string) =>
      db
        .updateTable('alerts')
        .set({
          count: sql`${sql.ref('count')} + 1`,
          last_seen_at: lastSeenAt,
          detail,
          evidence,
          updated_at: now,
        })
        .where('id', '=', id),
    ),
    // One read for both questions of a raise (on PostgreSQL one round trip): each half keeps its own order and limit.
    raised: all((ruleId: string, deviceId: string, since: number) =>
      db
        .selectFrom(openFor(ruleId, deviceId).as('o'))
        .selectAll()
        .unionAll(
          db
            .selectFrom(
              db
                .selectFrom('alerts')
                .selectAll()
                .where('rule_id', '=', ruleId)
                .where('device_id', '=', deviceId)
                .where('status', '=', lit('resolved'))
                .where('resolved_at', '>=', since)
                .where('resolution', 'not in', [lit('false_alarm'), lit('device_fault')])
                .orderBy('resolved_at', 'desc')
                .limit(lit(1))
                .as('r'),
            )
            .selectAll(),
        ),
    ),
    suppression: first((ruleId: string, deviceId: string, at: number) =>
      db
        .selectFrom('alert_suppressions')
        .select('until')
        .where('rule_id', '=', ruleId)
        .where('device_id', '=', deviceId)
        .where('until', '>', at),
    ),
    countSuppressed: write((ruleId: string, deviceId: string) =>
      db
        .updateTable('alert_suppressions')
        .set({ suppressed: sql`${sql.ref('suppressed')} + 1` })
        .where('rule_id', '=', ruleId)
        .where('device_id', '=', deviceId),
    ),
    suppress: write((ruleId: string, deviceId: string, until: number, reason: string) =>
      db
        .insertInto('alert_suppressions')
        .values({ rule_id: ruleId, device_id: deviceId, until, reason })
        .onConflict((oc) =>
          oc.columns(['rule_id', 'device_id']).doUpdateSet((eb) => ({
            until: eb.ref('excluded.until'),
            reason: eb.ref('excluded.reason'),
          })),
        ),
    ),
    liftSuppressions: write((until: number, deviceId: string, now: number) =>
      db
        .updateTable('alert_suppressions')
        .set({ until })
        .where('device_id', '=', deviceId)
        .where('until', '>', now),
    ),
    incidentFor: first((category: string, groupKey: string, since: number) =>
      db
        .selectFrom('alert_incidents')
        .select('id')
        .where('category', '=', category)
        .where('group_key', '=', groupKey)
        .where('last_at', '>=', since)
        .orderBy('last_at', 'desc')
        .limit(lit(1)),
    ),
    insertIncident: write(
      (id: string, category: string, groupKey: string, place: string, openedAt: number, lastAt: number) =>
        db.insertInto('alert_incidents').values({
          id,
          category,
          group_key: groupKey,
          place,
          opened_at: openedAt,
          last_at: lastAt,
          alert_count: lit(1),
        }),
    ),
    joinIncident: write((lastAt: number, id: string) =>
      db
        .updateTable('alert_incidents')
        .set({ last_at: lastAt, alert_count: sql`${sql.ref('alert_count')} + 1` })
        .where('id', '=', id),
    ),
    incident: first((id: string) => db.selectFrom('alert_incidents').selectAll().where('id', '=', id)),
    incidentAlerts: all((incidentId: string) =>
      db
        .selectFrom('alerts')
        .select('id')
        .where('incident_id', '=', incidentId)
        .orderBy('opened_at')
        .orderBy('id'),
    ),
    insertAlert: write(
      (a: NewAlert) => db.insertInto('alerts').values({ ...newAlertColumns(a), count: lit(1) }),
      [standInRow<NewAlert>(NEW_ALERT_FIELDS)],
    ),
    insertEvent: write((alertId: string, at: number, actor: string, type: string, data: string) =>
      db.insertInto('alert_events').values({ alert_id: alertId, at, actor, type, data }),
    ),
    events: all((alertId: string) =>
      db
        .selectFrom('alert_events')
        .select(['id', 'at', 'actor', 'type', 'data'])
        .where('alert_id', '=', alertId)
        .orderBy('id'),
    ),
    insertRatingToken: write((tokenHash: string, alertId: string, expiresAt: number) =>
      db
        .insertInto('alert_rating_tokens')
        .values({ token_hash: tokenHash, alert_id: alertId, expires_at: expiresAt }),
    ),
    ratingToken: first((tokenHash: string) =>
      db
        .selectFrom('alert_rating_tokens')
        .select(['alert_id', 'expires_at', 'used_at'])
        .where('token_hash', '=', tokenHash),
    ),
    useRatingToken: write((usedAt: number, tokenHash: string) =>
      db.updateTable('alert_rating_tokens').set({ used_at: usedAt }).where('token_hash', '=', tokenHash),
    ),
  };
}

function whistleAndTaskOps(db: Db) {
  return {
    whistles: all((alertId: string) =>
      db.selectFrom('alert_whistles').selectAll().where('alert_id', '=', alertId).orderBy('id'),
    ),
    whistle: first((id: number) => db.selectFrom('alert_whistles').selectAll().where('id', '=', id)),
    insertWhistle: first(
      (
        alertId: string,
        department: string,
        note: string | null,
        whistledAt: number,
        whistledBy: string,
        dueAt: number,
      ) =>
        db
          .insertInto('alert_whistles')
          .values({
            alert_id: alertId,
            department,
            note,
            whistled_at: whistledAt,
            whistled_by: whistledBy,
            due_at: dueAt,
          })
          .returning('id'),
      id,
    ),
    whistleReported: write((reportedAt: number, reportedBy: string, id: number) =>
      db
        .updateTable('alert_whistles')
        .set({ reported_at: reportedAt, reported_by: reportedBy })
        .where('id', '=', id),
    ),
    whistleEscalated: write((id: number) =>
      db
        .updateTable('alert_whistles')
        .set({ escalated: lit(1) })
        .where('id', '=', id),
    ),
    insertTask: first(
      (
        deviceId: string,
        alertId: string,
        reason: string,
        note: string,
        createdAt: number,
        createdBy: string,
      ) =>
        db
          .insertInto('maintenance_tasks')
          .values({
            device_id: deviceId,
            alert_id: alertId,
            reason,
            note,
            created_at: createdAt,
            created_by: createdBy,
          })
          .returning('id'),
      id,
    ),
    task: first((id: number) =>
      db
        .selectFrom('maintenance_tasks as m')
        .leftJoin('alerts as a', 'a.id', 'm.alert_id')
        .selectAll('m')
        .select('a.place')
        .where('m.id', '=', id),
    ),
    taskOnly: first((id: number) =>
      db.selectFrom('maintenance_tasks').selectAll().select(sql<null>`NULL`.as('place')).where('id', '=', id),
    ),
    closeTask: write((doneAt: number, doneBy: string, doneNote: string | null, id: number) =>
      db
        .updateTable('maintenance_tasks')
        .set({ done_at: doneAt, done_by: doneBy, done_note: doneNote })
        .where('id', '=', id),
    ),
  };
}

/** The operations of `AlertStatements`, for the store of either dialect to run. */
export function alertStatementOps(db: Db, dialect: Dialect) {
  return {
    ...alertOps(db),
    ...whistleAndTaskOps(db),
    ...timerOps(db, dialect),
    ...outboxOps(db),
    ...reachOps(db, dialect),
  };
}

export type AlertStatementOps = ReturnType<typeof alertStatementOps>;

const OUTBOX_FIELDS = [
  'alert_id',
  'channel',
  'target',
  'payload',
  'created_at',
  'next_at',
  'idempotency_key',
  'person_id',
  'severity',
  'digestible',
  'rung',
  'held_until',
  'max_attempts',
  'claimed_by',
  'lease_until',
] as const satisfies readonly (keyof OutboxInsert)[];

/** The store's own operations besides `statements` and `claims`. */
export function storeOps(db: Db) {
  const tasks = (open: boolean | undefined) => () =>
    db
      .selectFrom('maintenance_tasks as m')
      .leftJoin('alerts as a', 'a.id', 'm.alert_id')
      .selectAll('m')
      .select('a.place')
      .$if(open === true, (q) => q.where('m.done_at', 'is', null))
      .$if(open === false, (q) => q.where('m.done_at', 'is not', null))
      .orderBy('m.id', 'desc')
      .limit(lit(1000));
  return {
    /** Insert an outbox row (the columns a new row sets; the rest take their defaults); answers its id. */
    insertOutbox: first(
      (row: OutboxInsert) =>
        db
          .insertInto('alert_outbox')
          .values(
            Object.fromEntries(OUTBOX_FIELDS.map((f) => [f, row[f]])) as Pick<
              OutboxInsert,
              (typeof OUTBOX_FIELDS)[number]
            >,
          )
          .returning('id'),
      id,
      [standInRow<OutboxInsert>(OUTBOX_FIELDS)],
    ),
    /** Maintenance tasks, newest first, with the place of their alert: all, open ones, closed ones. */
    tasksAll: all(tasks(undefined)),
    tasksOpen: all(tasks(true)),
    tasksDone: all(tasks(false)),
  };
}

/**
 * `updateAlert` for one set of columns: `keys` come from the code (a few dozen sets), never from a request, so
 * each set is compiled once. Its arguments are the values in the order of `keys`, then `now`, then the id.
 */
export function updateAlertOp(db: Db, keys: readonly string[]) {
  return write(
    (...args: unknown[]) =>
      db
        .updateTable('alerts')
        .set(Object.fromEntries([...keys.map((k, i) => [k, args[i]]), ['updated_at', args[keys.length]]]))
        .where('id', '=', args[keys.length + 1] as string),
    Array.from({ length: keys.length + 2 }, () => standIn<unknown>()),
  );
}

/** The tables written many rows at a time, with each row's fields in argument order and the fixed columns. */
const MULTI_ROW = {
  alert_timers: {
    fields: ['alert_id', 'kind', 'ref', 'unless', 'due_at'] satisfies readonly (keyof TimerInsert)[],
    fixed: { state: lit('pending') },
  },
  alert_events: {
    fields: ['alert_id', 'at', 'actor', 'type', 'data'] satisfies readonly (keyof EventInsert)[],
    fixed: {},
  },
} as const;
type MultiRowTable = keyof typeof MULTI_ROW;
/** The rows each table takes. */
interface MultiRows {
  alert_timers: TimerInsert;
  alert_events: EventInsert;
}

/**
 * Rows per multi-row INSERT: statements are compiled once per table and count, so a longer list goes in chunks
 * of this many and the counts stay few (far below either dialect's limit on parameters).
 */
export const MULTI_ROW_MAX = 32;

/**
 * One multi-row INSERT of `n` rows into `table`, compiled once per count. Its arguments are the rows' fields in
 * the order of the table's `fields`, row after row (`rowArgs`).
 */
function insertRowsOp(db: Db, table: MultiRowTable, n: number) {
  const { fields, fixed } = MULTI_ROW[table];
  const w = fields.length;
  // One builder for either table: Kysely types `values` by the table, so for the union it asks for rows of both.
  return write(
    (...args: unknown[]) =>
      db.insertInto(table).values(
        Array.from({ length: n }, (_, i) => ({
          ...(Object.fromEntries(fields.map((f, j) => [f, args[i * w + j]])) as MultiRows[typeof table]),
          ...fixed,
        })) as MultiRows['alert_timers'][] & MultiRows['alert_events'][],
      ),
    Array.from({ length: n * w }, () => standIn<unknown>()),
  );
}

/** The arguments of `insertRowsOp` for these rows. */
function rowArgs<T extends MultiRowTable>(table: T, rows: readonly MultiRows[T][]): unknown[] {
  const fields = MULTI_ROW[table].fields as readonly (keyof MultiRows[T])[];
  return rows.flatMap((r) => fields.map((f) => r[f]));
}

/**
 * The outbox rows of `n` deliveries that succeeded with one status, marked done and released in one UPDATE
 * (compiled once per count, as `insertRowsOp`). Its arguments are the status, then the ids.
 */
function outboxDoneOp(db: Db, n: number) {
  return write(
    (status: number | null, ...ids: number[]) =>
      db
        .updateTable('alert_outbox')
        .set((eb) => ({
          state: lit('done'),
          attempts: sql`${sql.ref('attempts')} + 1`,
          last_status: eb.fn.coalesce(eb.val(status), eb.ref('last_status')),
          claimed_by: null,
          lease_until: null,
        }))
        .where('id', 'in', ids),
    [standIn<number | null>(), ...Array.from({ length: n }, () => standIn<number>())],
  );
}

/** One chunk's statement, as the store runs it, and its arguments. */
export type ChunkWrite<F> = [statement: F, args: unknown[]];

/**
 * The writes of many rows at once (multi-row inserts, outbox rows done), each statement compiled once per count
 * and made runnable by the store (`make`: prepared on SQLite, a promise on PostgreSQL); each answers its chunks,
 * which the store runs and whose counts it adds up.
 */
export function chunkedWrites<F>(db: Db, make: (op: AnyOp) => F) {
  const made = new Map<string, F>();
  function* chunks<R>(
    kind: string,
    rows: readonly R[],
    op: (n: number) => AnyOp,
    args: (chunk: R[]) => unknown[],
  ): Generator<ChunkWrite<F>> {
    for (const chunk of chunksOf(rows, MULTI_ROW_MAX)) {
      const key = `${kind}:${chunk.length}`;
      let statement = made.get(key);
      if (statement === undefined) {
        statement = make(op(chunk.length));
        made.set(key, statement);
      }
      yield [statement, args(chunk)];
    }
  }
  return {
    insertRows: <T extends MultiRowTable>(table: T, rows: readonly MultiRows[T][]) =>
      chunks(
        table,
        rows,
        (n) => insertRowsOp(db, table, n),
        (chunk) => rowArgs(table, chunk),
      ),
    outboxDone: (status: number | null, ids: readonly number[]) =>
      chunks(
        'done',
        ids,
        (n) => outboxDoneOp(db, n),
        (chunk) => [status, ...chunk],
      ),
  };
}
