/**
 * The outbox's claim statements, built once with Kysely for both dialects: which lanes have due work, and
 * claiming rows of one lane (an UPDATE of the rows a sub-select picked). On PostgreSQL the sub-select takes
 * `FOR UPDATE SKIP LOCKED`, so hubs sharing one database never claim the same row; SQLite has one writer at a
 * time, which gives the same. Run by sqlite-alert-store.ts and postgres-alert-store.ts (store-ops.ts).
 */
import { type Expression, type ExpressionBuilder, type Kysely, type SqlBool, sql } from 'kysely';
import { ownerGoneIn } from '../storage/leases.ts';
import type { Dialect } from '../storage/sql-store.ts';
import type { ClaimRequest } from './alert-store.ts';
import { all, first, lit, standInRow, write } from './store-ops.ts';
import type { AlertStoreTables, OutboxRow } from './tables.ts';

export interface ClaimedRow extends OutboxRow {
  claimed_by: string | null;
  lease_until: number | null;
}

export interface LaneDue {
  channel: string;
  target: string;
  /** 1 when the lane has a critical row due. */
  critical: number;
}

type Outbox = ExpressionBuilder<AlertStoreTables, 'alert_outbox'>;

/**
 * Whether a row's claim is held by an instance that is no longer alive. On a shared PostgreSQL every claim is
 * made under the instance's name (its lease in `instance_leases`, storage/leases.ts), so the claims of an
 * instance that died are free as soon as its lease runs out (seconds), not when each claim's own lease does
 * (`claimLeaseMs`, a minute: long enough for a slow receiver's attempt). The embedded store has one hub per file
 * and no lease of the outbox's name: there a claim ends with its own lease.
 */
type ClaimerGone = (now: number) => Expression<SqlBool>;

const claimerGoneOn = (db: Kysely<AlertStoreTables>, dialect: Dialect): ClaimerGone =>
  dialect === 'postgres' ? (now) => ownerGoneIn(db, 'claimed_by', now) : () => sql<SqlBool>`0 = 1`;

/** A row may be claimed when it is pending, due, and nobody alive holds a live claim on it. */
const claimable = (eb: Outbox, now: number, claimerGone: ClaimerGone): Expression<SqlBool> =>
  eb.and([
    eb('state', '=', lit('pending')),
    eb('next_at', '<=', now),
    eb.or([eb('lease_until', 'is', null), eb('lease_until', '<=', now), claimerGone(now)]),
  ]);

const CLAIM_FIELDS = [
  'now',
  'channel',
  'target',
  'owner',
  'leaseUntil',
  'limit',
  'onlyCritical',
  'onlyFresh',
] as const satisfies readonly (keyof ClaimRequest)[];

/** The claim operations of `OutboxClaims`, for the store of either dialect to run. */
export function claimOps(db: Kysely<AlertStoreTables>, dialect: Dialect) {
  const release = { claimed_by: null, lease_until: null } as const;
  const gone = claimerGoneOn(db, dialect);
  return {
    /**
     * Lanes with claimable rows, those with a critical row first and among them the phones' MQTT lanes (the
     * worker's alarm is the message that cannot wait for a robot's claim). A CASE rather than SQLite's
     * max(boolean), which PostgreSQL has no max of.
     */
    dueLanes: all((now: number) =>
      db
        .selectFrom('alert_outbox')
        .select(['channel', 'target'])
        .select(sql<number>`max(CASE WHEN severity = 'critical' THEN 1 ELSE 0 END)`.as('critical'))
        .where((eb) => claimable(eb, now, gone))
        .groupBy(['channel', 'target'])
        .orderBy('critical', 'desc')
        .orderBy(sql`channel = 'mqtt'`, 'desc')
        .limit(lit(5000)),
    ),
    claim: all(
      (r: ClaimRequest) =>
        db
          .updateTable('alert_outbox')
          .set({ claimed_by: r.owner, lease_until: r.leaseUntil })
          .where('id', 'in', (eb) =>
            eb
              .selectFrom('alert_outbox')
              .select('id')
              .where('channel', '=', r.channel)
              .where('target', '=', r.target)
              .where((eb) => claimable(eb, r.now, gone))
              .where((eb) =>
                eb.or([eb(eb.val(r.onlyCritical), '=', lit(0)), eb('severity', '=', lit('critical'))]),
              )
              .where((eb) => eb.or([eb(eb.val(r.onlyFresh), '=', lit(0)), eb('attempts', '=', lit(0))]))
              .orderBy(sql`severity = 'critical'`, 'desc')
              .orderBy('next_at')
              .orderBy('id')
              // A JS number is bound as REAL on SQLite: with the cast this claim measured 185 → ~20 µs (an
              // empty lane).
              .limit(dialect === 'sqlite' ? sql<number>`CAST(${r.limit} AS INTEGER)` : r.limit)
              .$if(dialect === 'postgres', (q) => q.forUpdate().skipLocked()),
          )
          .returningAll(),
      [standInRow<ClaimRequest>(CLAIM_FIELDS)],
    ),
    row: first((id: number) => db.selectFrom('alert_outbox').selectAll().where('id', '=', id)),
    /** The lane's first gathered alarm that is due: a lane in back-off still folds them into one digest. */
    foldable: first((now: number, channel: string, target: string) =>
      db
        .selectFrom('alert_outbox')
        .selectAll()
        .where('channel', '=', channel)
        .where('target', '=', target)
        .where((eb) => claimable(eb, now, gone))
        .where('digestible', '=', lit(1))
        .where('attempts', '=', lit(0))
        .orderBy('next_at')
        .orderBy('id')
        .limit(lit(1)),
    ),
    /** Give a row back without an outcome (folded, postponed by a rate limit, or the hub is stopping). */
    release: write((id: number, owner: string) =>
      db.updateTable('alert_outbox').set(release).where('id', '=', id).where('claimed_by', '=', owner),
    ),
    /** This hub's claims from before a restart: nobody is delivering them any more. */
    releaseOwn: write((owner: string) =>
      db
        .updateTable('alert_outbox')
        .set(release)
        .where('claimed_by', '=', owner)
        .where('state', '=', lit('pending')),
    ),
    postpone: write((nextAt: number, id: number) =>
      db
        .updateTable('alert_outbox')
        .set({ next_at: nextAt, ...release })
        .where('id', '=', id),
    ),
    retry: write((nextAt: number, error: string, status: number | null, state: string, id: number) =>
      db
        .updateTable('alert_outbox')
        .set({
          attempts: sql`${sql.ref('attempts')} + 1`,
          next_at: nextAt,
          last_error: error,
          last_status: status,
          state,
          ...release,
        })
        .where('id', '=', id),
    ),
    /**
     * Claimed rows whose claimer died before their claim ran out (always 0 on the embedded store): the heartbeat's
     * sweep asks, and the outbox takes them now rather than at the claim's end.
     */
    orphaned: first(
      (now: number) =>
        db
          .selectFrom('alert_outbox')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .where('state', '=', lit('pending'))
          .where('lease_until', '>', now)
          .where('claimed_by', 'is not', null)
          .where(gone(now)),
      (row) => Number(row?.n ?? 0),
    ),
    /** The next moment something becomes claimable: a row falling due, or a claim running out. */
    nextWake: first(
      (now: number) =>
        db
          .selectFrom((eb) =>
            eb
              .selectFrom('alert_outbox')
              .select((e) => e.fn.min<number | null>('next_at').as('due'))
              .where('state', '=', lit('pending'))
              .where('next_at', '>', now)
              .unionAll(
                eb
                  .selectFrom('alert_outbox')
                  .select((e) => e.fn.min('lease_until').as('due'))
                  .where('state', '=', lit('pending'))
                  .where('lease_until', '>', now),
              )
              .as('wake'),
          )
          .select((eb) => eb.fn.min('wake.due').as('due')),
      (row) => row?.due ?? null,
    ),
  };
}

export type ClaimOps = ReturnType<typeof claimOps>;
