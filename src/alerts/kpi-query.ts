/**
 * KPIs as SQL aggregates: one grouped query gives each grid's sums and counts (the overall figures are their
 * totals), a second the daily trend per grid. What the figures mean is in kpi-definitions.ts; kpis.ts turns the
 * sums into figures. The same conditions as the list (list-query.ts) cut the set, so scope and period match.
 *
 * Dialect notes: counts are SUM(CASE … THEN 1 ELSE 0 END) and means are a sum and a count divided in JavaScript,
 * so no database rounding or AVG types enter; PostgreSQL returns SUM/COUNT of bigint as strings, which the caller
 * turns into numbers. Local days come from local-day.ts as additions and an integer division.
 */
import type { Expression, ExpressionBuilder, SqlBool } from 'kysely';
import { sql } from 'kysely';
import { SEVERITIES } from '../domain/severity.ts';
import { RESPONSE_CIRCLE_MS, SELF_RESOLUTIONS } from './kpis.ts';
import { type AlertsEb, alertConditions, type ReadEnv } from './list-query.ts';
import { DAY_MS, type OffsetStretch } from './local-day.ts';
import type { AlertTables, ReadBuilder } from './sql.ts';
import type { AlertFilter, AlertScope } from './types.ts';

type Condition = Expression<SqlBool>;
type StopColumn = 'alerts.acknowledged_at' | 'alerts.arrived_at' | 'alerts.resolved_at';

/** One grid's sums; a number, or a numeric string from PostgreSQL. */
export type KpiSumKey =
  | 'total'
  | 'handled'
  | 'resolved'
  | 'closed'
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
export type KpiSumsRow = { gridId: string | null } & Record<KpiSumKey, number | string | null>;

const one = (eb: AlertsEb, when: Condition) =>
  eb.fn.sum<number | string>(eb.case().when(when).then(1).else(0).end());

/** Handled by people: not ended by itself (`SELF_RESOLUTIONS`). */
const byPeople = (eb: AlertsEb): Condition =>
  eb.or([eb('alerts.resolution', 'is', null), eb('alerts.resolution', 'not in', [...SELF_RESOLUTIONS])]);

const done = (eb: AlertsEb): Condition => eb('alerts.status', 'in', ['resolved', 'closed']);

/**
 * On-time counts of one SLA clock (kpiFigures' `onTime`): stopped clocks are counted, and met when stopped by the
 * due time; running clocks are counted once overdue. Severities without this clock (minor has no arrive) count
 * nothing.
 */
function onTime(
  eb: AlertsEb,
  env: ReadEnv,
  stopped: StopColumn,
  allowance: (s: (typeof SEVERITIES)[number]) => number | null,
) {
  const counted: Condition[] = [];
  const met: Condition[] = [];
  for (const severity of SEVERITIES) {
    const ms = allowance(severity);
    if (ms === null) continue;
    const due = eb('alerts.clock_start', '+', eb.lit(ms));
    const isSev = eb('alerts.severity', '=', severity);
    counted.push(eb.and([isSev, eb.or([eb(stopped, 'is not', null), eb(eb.val(env.now), '>=', due)])]));
    met.push(eb.and([isSev, eb(stopped, 'is not', null), eb(stopped, '<=', due)]));
  }
  const people = byPeople(eb);
  return {
    met: met.length ? one(eb, eb.and([people, eb.or(met)])) : eb.lit(0),
    counted: counted.length ? one(eb, eb.and([people, eb.or(counted)])) : eb.lit(0),
  };
}

/** Sum (ms from the clock start) and count of one milestone over alerts handled by people. */
function elapsed(eb: AlertsEb, at: StopColumn) {
  const reached = eb.and([byPeople(eb), eb(at, 'is not', null)]);
  return {
    ms: eb.fn.sum<number | string>(
      eb
        .case()
        .when(reached)
        .then(eb(at, '-', eb.ref('alerts.clock_start')))
        .else(0)
        .end(),
    ),
    n: one(eb, reached),
  };
}

export function kpiSumsQuery(b: ReadBuilder, filter: AlertFilter, scope: AlertScope, env: ReadEnv) {
  return b
    .selectFrom('alerts')
    .where((eb) => alertConditions(eb, filter, scope, env) ?? sql<SqlBool>`1 = 1`)
    .groupBy('alerts.grid_id')
    .select((eb) => {
      const people = byPeople(eb);
      const ack = onTime(eb, env, 'alerts.acknowledged_at', (s) => env.cfg.sla[s].acknowledgeMs);
      const arrive = onTime(eb, env, 'alerts.arrived_at', (s) => env.cfg.sla[s].arriveMs);
      const resolve = onTime(eb, env, 'alerts.resolved_at', (s) => env.cfg.sla[s].resolveMs);
      const ackT = elapsed(eb, 'alerts.acknowledged_at');
      const arriveT = elapsed(eb, 'alerts.arrived_at');
      const resolveT = elapsed(eb, 'alerts.resolved_at');
      const rated = eb.and([people, eb('alerts.rating', 'is not', null)]);
      const call = eb.and([people, eb('alerts.device_type', '=', 'call_button')]);
      const circleDue = eb('alerts.clock_start', '+', eb.lit(RESPONSE_CIRCLE_MS));
      return [
        'alerts.grid_id as gridId',
        eb.fn.countAll<number | string>().as('total'),
        one(eb, people).as('handled'),
        one(eb, eb.and([people, done(eb)])).as('resolved'),
        one(eb, eb.and([people, eb('alerts.status', '=', 'closed')])).as('closed'),
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
        eb.fn
          .sum<number | string>(eb.case().when(rated).then(eb.ref('alerts.rating')).else(0).end())
          .as('ratingSum'),
        one(eb, rated).as('ratingN'),
        one(eb, eb.and([people, done(eb), eb('alerts.reach', '=', 'grid')])).as('inGrid'),
        one(eb, call).as('calls'),
        one(
          eb,
          eb.and([call, eb('alerts.arrived_at', 'is not', null), eb('alerts.arrived_at', '<=', circleDue)]),
        ).as('circleMet'),
        one(
          eb,
          eb.and([
            call,
            eb.or([eb('alerts.arrived_at', 'is not', null), eb(eb.val(env.now), '>=', circleDue)]),
          ]),
        ).as('circleCounted'),
        one(eb, eb.and([people, eb('alerts.escalated', '=', 1)])).as('escalated'),
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

/** Per grid and local day: raised, handled by people, closed — the trend's points. */
export function kpiTrendQuery(
  b: ReadBuilder,
  filter: AlertFilter,
  scope: AlertScope,
  env: ReadEnv,
  stretches: readonly OffsetStretch[],
) {
  return b
    .selectFrom('alerts')
    .where((eb) => alertConditions(eb, filter, scope, env) ?? sql<SqlBool>`1 = 1`)
    .select((eb) => {
      const people = byPeople(eb);
      return [
        'alerts.grid_id as gridId',
        localDay(eb, stretches).as('day'),
        eb.fn.countAll<number | string>().as('total'),
        one(eb, people).as('handled'),
        one(eb, eb.and([people, eb('alerts.status', '=', 'closed')])).as('closed'),
      ];
    })
    .groupBy((eb) => ['alerts.grid_id', localDay(eb, stretches)]);
}
