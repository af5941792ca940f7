/**
 * The alert list in SQL: scope, filters (the SLA light included), count, one page, and the whistles of a page.
 *
 * Dialect-neutral by construction, so the PostgreSQL store can run the same builders: no JSON functions (the
 * place levels are columns, migration 4), no date functions, integer arithmetic only, constants from the config
 * as literals (a bare parameter inside CASE has no type in PostgreSQL), never an empty IN list.
 */
import type { Expression, ExpressionBuilder, SqlBool } from 'kysely';
import { sql } from 'kysely';
import { PLACE_LEVELS, type PlaceLevel } from '../domain/places.ts';
import { SEVERITIES } from '../domain/severity.ts';
import type { AlertsConfig } from './config.ts';
import type { Light } from './sla.ts';
import type { ReadBuilder } from './sqlite-runner.ts';
import type { AlertTables } from './tables.ts';
import type { AlertFilter, AlertScope } from './types.ts';

export type AlertsEb = ExpressionBuilder<AlertTables, 'alerts'>;
type Condition = Expression<SqlBool>;

/** What the conditions need besides the filter: SLA allowances, the time lights are read at, place levels. */
export interface ReadEnv {
  cfg: Pick<AlertsConfig, 'sla'>;
  now: number;
  /** The level of a place id, from the registry's tree; undefined for an id it does not know. */
  levelOf(placeId: string): PlaceLevel | undefined;
}

export const ALL_ALERTS: AlertScope = { kind: 'all' };

const LEVEL_COLUMN = {
  street: 'alerts.street_id',
  community: 'alerts.community_id',
  grid: 'alerts.grid_id',
  estate: 'alerts.estate_id',
  building: 'alerts.building_id',
  unit: 'alerts.unit_id',
} as const satisfies Record<PlaceLevel, string>;

const never = (): Condition => sql<SqlBool>`1 = 0`;

/**
 * IN lists padded to a few sizes (repeating the last value), so a page of 37 and one of 41 share one SQL text and
 * one prepared statement.
 */
export function padded<T>(values: readonly T[]): T[] {
  let size = 8;
  while (size < values.length) size *= 2;
  const last = values[values.length - 1];
  const out = [...values];
  while (last !== undefined && out.length < size) out.push(last);
  return out;
}

const isIn = (eb: AlertsEb, column: (typeof LEVEL_COLUMN)[PlaceLevel], ids: readonly string[]): Condition =>
  ids.length === 1 ? eb(column, '=', ids[0] as string) : eb(column, 'in', padded(ids));

/**
 * Alerts at or under any of `ids` — the path holds one of them, as `Scope.canSee` decides. Each id is matched in
 * the column of its own level, which an index serves; an id the registry does not know is tried at every level.
 */
export function underAny(eb: AlertsEb, ids: readonly string[], env: ReadEnv): Condition {
  const byLevel = new Map<PlaceLevel, string[]>();
  const unknown: string[] = [];
  for (const id of new Set(ids)) {
    const level = env.levelOf(id);
    if (!level) unknown.push(id);
    else byLevel.set(level, [...(byLevel.get(level) ?? []), id]);
  }
  const terms = [...byLevel].map(([level, list]) => isIn(eb, LEVEL_COLUMN[level], list));
  if (unknown.length) for (const level of PLACE_LEVELS) terms.push(isIn(eb, LEVEL_COLUMN[level], unknown));
  if (terms.length === 0) return never();
  return terms.length === 1 ? (terms[0] as Condition) : eb.or(terms);
}

const whistledTo = (eb: AlertsEb, department: string): Condition =>
  eb(
    'alerts.id',
    'in',
    eb.selectFrom('alert_whistles').select('alert_whistles.alert_id').where('department', '=', department),
  );

export function scopeCondition(eb: AlertsEb, scope: AlertScope, env: ReadEnv): Condition | undefined {
  switch (scope.kind) {
    case 'all':
      return undefined;
    case 'places':
      return underAny(eb, scope.roots, env);
    case 'department':
      return scope.department === null ? never() : whistledTo(eb, scope.department);
  }
}

// ---- SLA lights (sla.ts) in SQL --------------------------------------------------------------------------------
// A clock is red when it runs at or past its due time, or stopped after it; yellow when it runs at 75 % or more
// of its allowance. `used >= 0.75` is written 4·now ≥ 4·start + 3·allowance: integers, exact, no division.

interface ClockLights {
  red: Condition;
  yellow: Condition;
}

/** The acknowledge, arrive and resolve clocks of an alert of one severity (arrive only where it has one). */
function severityClocks(
  eb: AlertsEb,
  allowances: AlertsConfig['sla'][keyof AlertsConfig['sla']],
  now: number,
) {
  const clocks: {
    stopped: 'alerts.acknowledged_at' | 'alerts.arrived_at' | 'alerts.resolved_at';
    ms: number;
  }[] = [{ stopped: 'alerts.acknowledged_at', ms: allowances.acknowledgeMs }];
  if (allowances.arriveMs !== null) clocks.push({ stopped: 'alerts.arrived_at', ms: allowances.arriveMs });
  clocks.push({ stopped: 'alerts.resolved_at', ms: allowances.resolveMs });
  return clocks.map(({ stopped, ms }): ClockLights => {
    const due = eb('alerts.clock_start', '+', eb.lit(ms));
    return {
      red: eb.or([
        eb.and([eb(stopped, 'is', null), eb(eb.val(now), '>=', due)]),
        eb.and([eb(stopped, 'is not', null), eb(stopped, '>', due)]),
      ]),
      yellow: eb.and([
        eb(stopped, 'is', null),
        eb(eb.val(4 * now), '>=', eb(eb('alerts.clock_start', '*', eb.lit(4)), '+', eb.lit(3 * ms))),
      ]),
    };
  });
}

/** Red or yellow among the acknowledge/arrive/resolve clocks, per severity (each has its own allowances). */
function fixedClocks(eb: AlertsEb, env: ReadEnv, pick: keyof ClockLights): Condition {
  return eb.or(
    SEVERITIES.map((severity) =>
      eb.and([
        eb('alerts.severity', '=', severity),
        eb.or(severityClocks(eb, env.cfg.sla[severity], env.now).map((c) => c[pick])),
      ]),
    ),
  );
}

/** A department's report-in clock: from the whistle to its due time, stopped by the report or the resolve. */
function whistleClock(eb: AlertsEb, env: ReadEnv, pick: keyof ClockLights): Condition {
  const now = env.now;
  return eb.exists(
    eb
      .selectFrom('alert_whistles as w')
      .select('w.id')
      .whereRef('w.alert_id', '=', 'alerts.id')
      .where((w) => {
        const stopped = w.fn.coalesce('w.reported_at', 'alerts.resolved_at');
        if (pick === 'yellow') {
          return w.and([
            w(stopped, 'is', null),
            w('w.due_at', '>', w.ref('w.whistled_at')),
            w(w.val(4 * now), '>=', w(w('w.due_at', '*', w.lit(3)), '+', w.ref('w.whistled_at'))),
          ]);
        }
        return w.or([
          // A clock with no allowance at all is red only once time has passed (0/0 is not "used up").
          w.and([
            w(stopped, 'is', null),
            w(w.val(now), '>=', w.ref('w.due_at')),
            w.or([w('w.due_at', '>', w.ref('w.whistled_at')), w(w.val(now), '>', w.ref('w.whistled_at'))]),
          ]),
          w.and([w(stopped, 'is not', null), w(stopped, '>', w.ref('w.due_at'))]),
        ]);
      }),
  );
}

/** The alert's light (the worst of its clocks, `worstLight`) is `light`. */
export function lightCondition(eb: AlertsEb, light: Light, env: ReadEnv): Condition {
  const red = eb.or([fixedClocks(eb, env, 'red'), whistleClock(eb, env, 'red')]);
  if (light === 'red') return red;
  const yellow = eb.or([fixedClocks(eb, env, 'yellow'), whistleClock(eb, env, 'yellow')]);
  return light === 'yellow' ? eb.and([eb.not(red), yellow]) : eb.and([eb.not(red), eb.not(yellow)]);
}

// ---- the list ----------------------------------------------------------------------------------------------------

/** Every condition of a list or KPI read: the scope first, then each filter that is set. */
export function alertConditions(
  eb: AlertsEb,
  filter: AlertFilter,
  scope: AlertScope,
  env: ReadEnv,
): Condition | undefined {
  const terms: Condition[] = [];
  const inScope = scopeCondition(eb, scope, env);
  if (inScope) terms.push(inScope);
  if (filter.status?.length) terms.push(eb('alerts.status', 'in', padded(filter.status)));
  if (filter.severity?.length) terms.push(eb('alerts.severity', 'in', padded(filter.severity)));
  if (filter.category) terms.push(eb('alerts.category', '=', filter.category));
  if (filter.place) terms.push(underAny(eb, [filter.place], env));
  if (filter.department) terms.push(whistledTo(eb, filter.department));
  if (filter.from !== undefined) terms.push(eb('alerts.opened_at', '>=', filter.from));
  if (filter.to !== undefined) terms.push(eb('alerts.opened_at', '<', filter.to));
  if (filter.light) terms.push(lightCondition(eb, filter.light, env));
  if (terms.length === 0) return undefined;
  return terms.length === 1 ? terms[0] : eb.and(terms);
}

function matching(b: ReadBuilder, filter: AlertFilter, scope: AlertScope, env: ReadEnv) {
  return b.selectFrom('alerts').where((eb) => alertConditions(eb, filter, scope, env) ?? sql<SqlBool>`1 = 1`);
}

export function countQuery(b: ReadBuilder, filter: AlertFilter, scope: AlertScope, env: ReadEnv) {
  return matching(b, filter, scope, env).select((eb) => eb.fn.countAll<number | string>().as('n'));
}

/**
 * One page, newest first, with the resident behind each device joined in (one per device at most). The page's
 * ids are picked first from the index alone, then only those rows are read: deep offsets skip index entries,
 * not table rows.
 */
export function pageQuery(
  b: ReadBuilder,
  filter: AlertFilter,
  scope: AlertScope,
  env: ReadEnv,
  page: { limit: number; offset: number },
) {
  const ids = matching(b, filter, scope, env)
    .select(['alerts.id as page_id', 'alerts.opened_at as page_opened_at'])
    .orderBy('alerts.opened_at', 'desc')
    .orderBy('alerts.id', 'desc')
    .limit(page.limit)
    .offset(page.offset);
  return b
    .selectFrom(ids.as('p'))
    .innerJoin('alerts', 'alerts.id', 'p.page_id')
    .leftJoin('residents', 'residents.device_id', 'alerts.device_id')
    .selectAll('alerts')
    .select([
      'residents.id as resident_id',
      'residents.name as resident_name',
      'residents.phone as resident_phone',
      'residents.family_name as resident_family_name',
      'residents.family_phone as resident_family_phone',
      'residents.health_notes as resident_health_notes',
      'residents.place_id as resident_place_id',
      'residents.updated_at as resident_updated_at',
    ])
    .orderBy('p.page_opened_at', 'desc')
    .orderBy('p.page_id', 'desc');
}

/** The whistles of a page's alerts, in one query. */
export function whistlesQuery(b: ReadBuilder, alertIds: readonly string[]) {
  return b
    .selectFrom('alert_whistles')
    .selectAll()
    .where('alert_whistles.alert_id', 'in', padded(alertIds))
    .orderBy('alert_whistles.id');
}
