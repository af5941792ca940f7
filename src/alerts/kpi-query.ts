/**
 * KPIs as SQL aggregates: one grouped query gives the sums and counts of each grid's alerts per local day and by
 * how they were handled (`HANDLING`: by themselves, by people and still open, resolved, closed); kpis.ts folds
 * them into each grid's and the overall figures and into the daily trend. What the figures mean is in
 * kpi-definitions.ts. The same conditions as the list (list-query.ts) cut the set, so scope and period match.
 *
 * Dialect notes: counts are SUM(CASE … THEN 1 ELSE 0 END) and means are a sum and a count divided in JavaScript,
 * so no database rounding or AVG types enter; PostgreSQL returns SUM/COUNT of bigint as strings, which the caller
 * turns into numbers. Local days come from local-day.ts as additions and an integer division.
 */
import type { Expression, ExpressionBuilder, SqlBool } from 'kysely';
import { sql } from 'kysely';
import { SEVERITIES } from '../domain/severity.ts';
import { HANDLING, RESPONSE_CIRCLE_MS, SELF_RESOLUTIONS } from './kpis.ts';
import { type AlertsEb, alertConditions, type ReadEnv } from './list-query.ts';
import { DAY_MS, type OffsetStretch } from './local-day.ts';
import type { ReadBuilder } from './sqlite-runner.ts';
import type { AlertTables } from './tables.ts';
import type { AlertFilter, AlertScope } from './types.ts';

type Condition = Expression<SqlBool>;
type StopColumn = 'alerts.acknowledged_at' | 'alerts.arrived_at' | 'alerts.resolved_at';
type Severity = (typeof SEVERITIES)[number];

/** The sums of one group; a number, or a numeric string from PostgreSQL. */
export type KpiGroupSumKey =
  | 'total'
  | 'ackMet'
  | 'ackCounted'
  | 'arriveMet'
  | 'arriveCounted'
  | 'resolveMet'
  | 'resolveCounted'
  | 'ackMs'
  | 'ackN'
  | 'arriveMs'
  | 'arriveN'
  | 'resolveMs'
  | 'resolveN'
  | 'ratingSum'
  | 'ratingN'
  | 'inGrid'
  | 'calls'
  | 'circleMet'
  | 'circleCounted'
  | 'escalated'
  | 'firstAt'
  | 'lastAt';

/**
 * One grid's alerts of one handling. Whether they count for people, are resolved or closed is a group key, not a
 * condition repeated in every sum: the per-row work of the query stays a handful of comparisons, and one small
 * integer key sorts faster than resolution and status would.
 */
export type KpiGroupRow = { gridId: string | null; day: number | string; handling: number | string } & Record<
  KpiGroupSumKey,
  number | string | null
>;

/**
 * `HANDLING` of an alert. Constants are inlined as literals, so the expression in SELECT and in GROUP BY is the
 * same text: PostgreSQL accepts a grouped expression only when it matches, and `$1` is never `$3`.
 */
function handling(eb: AlertsEb) {
  return eb
    .case()
    .when(
      'alerts.resolution',
      'in',
      [...SELF_RESOLUTIONS].map((r) => sql.lit(r)),
    )
    .then(eb.lit(HANDLING.self))
    .when('alerts.status', '=', sql.lit('closed'))
    .then(eb.lit(HANDLING.closed))
    .when('alerts.status', '=', sql.lit('resolved'))
    .then(eb.lit(HANDLING.resolved))
    .else(eb.lit(HANDLING.open))
    .end();
}

const one = (eb: AlertsEb, when: Condition) =>
  eb.fn.sum<number | string>(eb.case().when(when).then(1).else(0).end());

/** The allowance of one SLA clock by the alert's severity, as a literal per severity (null: no such clock). */
function allowance(eb: AlertsEb, ms: (s: Severity) => number | null) {
  const known = SEVERITIES.filter((s) => ms(s) !== null);
  const [first, ...rest] = known;
  if (first === undefined) return null;
  let c = eb
    .case('alerts.severity')
    .when(first)
    .then(eb.lit(ms(first) as number));
  for (const s of rest) c = c.when(s).then(eb.lit(ms(s) as number));
  return c.end();
}

/**
 * On-time counts of one SLA clock (kpiFigures' `onTime`): stopped clocks are counted, and met when stopped by the
 * due time; running clocks are counted once overdue. Severities without this clock (minor has no arrive) count
 * nothing: their allowance is NULL, and a NULL condition is not true.
 */
function onTime(eb: AlertsEb, env: ReadEnv, stopped: StopColumn, ms: (s: Severity) => number | null) {
  const allowed = allowance(eb, ms);
  if (allowed === null) return { met: eb.lit(0), counted: eb.lit(0) };
  const due = eb('alerts.clock_start', '+', allowed);
  return {
    met: one(eb, eb(stopped, '<=', due)),
    counted: one(
      eb,
      eb.and([
        eb(allowed, 'is not', null),
        eb.or([eb(stopped, 'is not', null), eb(eb.val(env.now), '>=', due)]),
      ]),
    ),
  };
}

/** Sum (ms from the clock start) and count of one milestone; SUM and COUNT skip the alerts without it. */
function elapsed(eb: AlertsEb, at: StopColumn) {
  return {
    ms: eb.fn.sum<number | string>(eb(at, '-', eb.ref('alerts.clock_start'))),
    n: eb.fn.count<number | string>(at),
  };
}

/** The first and last opening time of the set: the range the local days are worked out for. */
export function kpiBoundsQuery(b: ReadBuilder, filter: AlertFilter, scope: AlertScope, env: ReadEnv) {
  return b
    .selectFrom('alerts')
    .where((eb) => alertConditions(eb, filter, scope, env) ?? sql<SqlBool>`1 = 1`)
    .select((eb) => [
      eb.fn.min<number | string | null>('alerts.opened_at').as('firstAt'),
      eb.fn.max<number | string | null>('alerts.opened_at').as('lastAt'),
    ]);
}

/**
 * Sums per grid, local day and handling, in one pass over the set: the figures fold the days together, the trend
 * folds the sums away.
 */
export function kpiGroupsQuery(
  b: ReadBuilder,
  filter: AlertFilter,
  scope: AlertScope,
  env: ReadEnv,
  stretches: readonly OffsetStretch[],
) {
  return b
    .selectFrom('alerts')
    .where((eb) => alertConditions(eb, filter, scope, env) ?? sql<SqlBool>`1 = 1`)
    .groupBy((eb) => ['alerts.grid_id', localDay(eb, stretches), handling(eb)])
    .select((eb) => {
      const ack = onTime(eb, env, 'alerts.acknowledged_at', (s) => env.cfg.sla[s].acknowledgeMs);
      const arrive = onTime(eb, env, 'alerts.arrived_at', (s) => env.cfg.sla[s].arriveMs);
      const resolve = onTime(eb, env, 'alerts.resolved_at', (s) => env.cfg.sla[s].resolveMs);
      const ackT = elapsed(eb, 'alerts.acknowledged_at');
      const arriveT = elapsed(eb, 'alerts.arrived_at');
      const resolveT = elapsed(eb, 'alerts.resolved_at');
      const call = eb('alerts.device_type', '=', 'call_button');
      const circleDue = eb('alerts.clock_start', '+', eb.lit(RESPONSE_CIRCLE_MS));
      return [
        'alerts.grid_id as gridId',
        localDay(eb, stretches).as('day'),
        handling(eb).as('handling'),
        eb.fn.countAll<number | string>().as('total'),
        ack.met.as('ackMet'),
        ack.counted.as('ackCounted'),
        arrive.met.as('arriveMet'),
        arrive.counted.as('arriveCounted'),
        resolve.met.as('resolveMet'),
        resolve.counted.as('resolveCounted'),
        ackT.ms.as('ackMs'),
        ackT.n.as('ackN'),
        arriveT.ms.as('arriveMs'),
        arriveT.n.as('arriveN'),
        resolveT.ms.as('resolveMs'),
        resolveT.n.as('resolveN'),
        eb.fn.sum<number | string>('alerts.rating').as('ratingSum'),
        eb.fn.count<number | string>('alerts.rating').as('ratingN'),
        one(eb, eb('alerts.reach', '=', 'grid')).as('inGrid'),
        one(eb, call).as('calls'),
        one(eb, eb.and([call, eb('alerts.arrived_at', '<=', circleDue)])).as('circleMet'),
        one(
          eb,
          eb.and([
            call,
            eb.or([eb('alerts.arrived_at', 'is not', null), eb(eb.val(env.now), '>=', circleDue)]),
          ]),
        ).as('circleCounted'),
        one(eb, eb('alerts.escalated', '=', 1)).as('escalated'),
        eb.fn.min<number | string>('alerts.opened_at').as('firstAt'),
        eb.fn.max<number | string>('alerts.opened_at').as('lastAt'),
      ];
    });
}

/** The local day number of `opened_at`: one offset per stretch, chosen by CASE where the offset changes. */
function localDay(eb: ExpressionBuilder<AlertTables, 'alerts'>, stretches: readonly OffsetStretch[]) {
  const dayAt = (offset: number) =>
    // Kysely writes binary operations without parentheses: the sum needs its own.
    eb.cast<number>(eb(eb.parens('alerts.opened_at', '+', eb.lit(offset)), '/', eb.lit(DAY_MS)), 'integer');
  const last = stretches[stretches.length - 1] ?? { until: null, offset: 0 };
  const bounded = stretches.filter((s): s is { until: number; offset: number } => s.until !== null);
  if (bounded.length === 0) return dayAt(last.offset);
  const [first, ...rest] = bounded as [
    { until: number; offset: number },
    ...{ until: number; offset: number }[],
  ];
  let c = eb.case().when('alerts.opened_at', '<', eb.lit(first.until)).then(dayAt(first.offset));
  for (const s of rest) c = c.when('alerts.opened_at', '<', eb.lit(s.until)).then(dayAt(s.offset));
  return c.else(dayAt(last.offset)).end();
}
