/**
 * The alert store's statements of what falls due — escalation timers, the outbox and its digests, the
 * must-reach ladder — built once with Kysely for both dialects, as alert-statements.ts builds the rest.
 */
import type { Dialect } from '../storage/sql-store.ts';
import type { Milestone } from './config.ts';
import { all, type AlertDb as Db, first, lit, write } from './store-ops.ts';
import type { TimerRow } from './tables.ts';

const due = (row: { due: number | null } | undefined): number | null => row?.due ?? null;
const count = (row: { n: number } | undefined): number => row?.n ?? 0;

/** Due timers read at a time: a firing reads the next page only after a full one. */
export const DUE_TIMERS_PAGE = 200;

export function timerOps(db: Db, dialect: Dialect) {
  const pending = (alertId: string) =>
    db
      .updateTable('alert_timers')
      .set({ state: lit('void') })
      .where('alert_id', '=', alertId)
      .where('state', '=', lit('pending'));
  return {
    insertTimer: write(
      (alertId: string, kind: TimerRow['kind'], ref: number, unless: Milestone | null, dueAt: number) =>
        db
          .insertInto('alert_timers')
          .values({ alert_id: alertId, kind, ref, unless, due_at: dueAt, state: lit('pending') }),
    ),
    dueTimers: all((now: number) =>
      db
        .selectFrom('alert_timers')
        .selectAll()
        .where('state', '=', lit('pending'))
        .where('due_at', '<=', now)
        .orderBy('due_at')
        .orderBy('id')
        .limit(lit(DUE_TIMERS_PAGE)),
    ),
    nextTimer: first(
      () =>
        db
          .selectFrom('alert_timers')
          .select((eb) => eb.fn.min('due_at').as('due'))
          .where('state', '=', lit('pending')),
      due,
    ),
    // Takes the row (on PostgreSQL its lock, held to the commit) if it is still pending. Every instance arms for
    // the earliest due time, so they all reach for each step at once: on PostgreSQL the others skip a row one of
    // them holds (answering 0 at once) instead of waiting for its commit, which held their own transactions, and
    // every raise queued behind them, for as long as the winner's step took.
    takeTimer: write((id: number) =>
      db
        .updateTable('alert_timers')
        .set((eb) => ({ state: eb.ref('state') }))
        .where('id', '=', id)
        .where('state', '=', lit('pending'))
        .$if(dialect === 'postgres', (q) =>
          q.where('id', 'in', (eb) =>
            eb.selectFrom('alert_timers').select('id').where('id', '=', id).forUpdate().skipLocked(),
          ),
        ),
    ),
    setTimerState: write((state: string, id: number) =>
      db.updateTable('alert_timers').set({ state }).where('id', '=', id),
    ),
    stepFired: first(
      (alertId: string, ref: number) =>
        db
          .selectFrom('alert_timers')
          .select('id')
          .where('alert_id', '=', alertId)
          .where('kind', '=', lit('step'))
          .where('ref', '=', ref)
          .where('state', '=', lit('fired'))
          .limit(lit(1)),
      (row) => row !== undefined,
    ),
    voidStep: write((alertId: string, ref: number) =>
      pending(alertId).where('kind', '=', lit('step')).where('ref', '=', ref),
    ),
    voidSteps: write((alertId: string) => pending(alertId).where('kind', '=', lit('step'))),
    voidReportIn: write((alertId: string, whistleId: number) =>
      pending(alertId).where('kind', '=', lit('report_in')).where('ref', '=', whistleId),
    ),
    voidUnless: write((alertId: string, unless: Milestone) => pending(alertId).where('unless', '=', unless)),
    voidAll: write((alertId: string) => pending(alertId)),
  };
}

export function outboxOps(db: Db) {
  return {
    pendingOutbox: first(
      () =>
        db
          .selectFrom('alert_outbox')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .where('state', '=', lit('pending')),
      count,
    ),
    outboxOf: all((alertId: string) =>
      db
        .selectFrom('alert_outbox')
        .selectAll()
        .where('alert_id', '=', alertId)
        .where('channel', '!=', lit('stream'))
        .orderBy('id'),
    ),
    digestSiblings: all((channel: string, target: string, dueBy: number, now: number) =>
      db
        .selectFrom('alert_outbox')
        .selectAll()
        .where('channel', '=', channel)
        .where('target', '=', target)
        .where('state', '=', lit('pending'))
        .where('digestible', '=', lit(1))
        .where('attempts', '=', lit(0))
        .where('next_at', '<=', dueBy)
        .where((eb) => eb.or([eb('held_until', 'is', null), eb('held_until', '<=', now)]))
        .orderBy('id'),
    ),
    postpone: write((nextAt: number, id: number) =>
      db.updateTable('alert_outbox').set({ next_at: nextAt }).where('id', '=', id),
    ),
    fold: write((reason: string, id: number) =>
      db
        .updateTable('alert_outbox')
        .set({ state: lit('folded'), last_error: reason })
        .where('id', '=', id),
    ),
    digest: first((channel: string, target: string) =>
      db.selectFrom('alert_digests').selectAll().where('channel', '=', channel).where('target', '=', target),
    ),
    putDigest: write(
      (
        channel: string,
        target: string,
        digestId: string,
        version: number,
        items: string,
        startedAt: number,
        lastAt: number,
      ) =>
        db
          .insertInto('alert_digests')
          .values({
            channel,
            target,
            digest_id: digestId,
            version,
            items,
            started_at: startedAt,
            last_at: lastAt,
          })
          .onConflict((oc) =>
            oc.columns(['channel', 'target']).doUpdateSet((eb) => ({
              digest_id: eb.ref('excluded.digest_id'),
              version: eb.ref('excluded.version'),
              items: eb.ref('excluded.items'),
              started_at: eb.ref('excluded.started_at'),
              last_at: eb.ref('excluded.last_at'),
            })),
          ),
    ),
    pruneOutbox: write((before: number) =>
      db.deleteFrom('alert_outbox').where('state', '!=', lit('pending')).where('created_at', '<', before),
    ),
    pruneJournal: write((before: number) => db.deleteFrom('alert_journal_seen').where('at', '<', before)),
    pruneEventSeen: write((before: number) => db.deleteFrom('alert_event_seen').where('at', '<', before)),
    pruneTimers: write((before: number) =>
      db
        .deleteFrom('alert_timers')
        .where('state', '!=', lit('pending'))
        .where('alert_id', 'in', (eb) =>
          eb
            .selectFrom('alerts')
            .select('alerts.id')
            .where('status', 'in', [lit('resolved'), lit('closed')])
            .where('updated_at', '<', before),
        ),
    ),
  };
}

export function reachOps(db: Db, dialect: Dialect) {
  return {
    reach: first((alertId: string) =>
      db.selectFrom('alert_must_reach').selectAll().where('alert_id', '=', alertId),
    ),
    startReach: write((alertId: string, nextAt: number) =>
      db
        .insertInto('alert_must_reach')
        .values({ alert_id: alertId, rung: lit(0), next_at: nextAt, state: lit('active') })
        .onConflict((oc) =>
          oc.column('alert_id').doUpdateSet((eb) => ({
            rung: lit(0),
            next_at: eb.ref('excluded.next_at'),
            state: lit('active'),
          })),
        ),
    ),
    // The ladder as it was read (rung and due time): taken with its row lock, or 0 when another instance moved it
    // or holds it now (on PostgreSQL skipped, not waited for, as takeTimer).
    takeReach: write((alertId: string, rung: number, nextAt: number) =>
      db
        .updateTable('alert_must_reach')
        .set((eb) => ({ state: eb.ref('state') }))
        .where('alert_id', '=', alertId)
        .where('state', '=', lit('active'))
        .where('rung', '=', rung)
        .where('next_at', '=', nextAt)
        .$if(dialect === 'postgres', (q) =>
          q.where('alert_id', 'in', (eb) =>
            eb
              .selectFrom('alert_must_reach')
              .select('alert_id')
              .where('alert_id', '=', alertId)
              .forUpdate()
              .skipLocked(),
          ),
        ),
    ),
    setReach: write((rung: number, nextAt: number, state: string, alertId: string) =>
      db
        .updateTable('alert_must_reach')
        .set({ rung, next_at: nextAt, state })
        .where('alert_id', '=', alertId),
    ),
    stopReach: write((alertId: string) =>
      db
        .updateTable('alert_must_reach')
        .set({ state: lit('stopped') })
        .where('alert_id', '=', alertId)
        .where('state', '=', lit('active')),
    ),
    dueReach: all((now: number) =>
      db
        .selectFrom('alert_must_reach')
        .selectAll()
        .where('state', '=', lit('active'))
        .where('next_at', '<=', now)
        .orderBy('next_at')
        .limit(lit(200)),
    ),
    nextReach: first(
      () =>
        db
          .selectFrom('alert_must_reach')
          .select((eb) => eb.fn.min('next_at').as('due'))
          .where('state', '=', lit('active')),
      due,
    ),
    rungLive: first(
      (alertId: string, rung: number) =>
        db
          .selectFrom('alert_outbox')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .where('alert_id', '=', alertId)
          .where('rung', '=', rung)
          .where('state', 'in', [lit('pending'), lit('done')]),
      count,
    ),
  };
}
