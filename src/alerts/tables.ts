/**
 * The dispatcher's tables (schema.ts, outbox-schema.ts): their rows as SQLite returns them, and the tables the read
 * side queries as Kysely sees them.
 */
import type { Generated } from 'kysely';
import type { Severity } from '../domain/severity.ts';
import type { Milestone } from './config.ts';
import type { AlertStatus, Reach, Resolution } from './types.ts';

export interface AlertRow {
  id: string;
  rule_id: string;
  device_id: string;
  device_type: string;
  place_id: string;
  place: string;
  grid_id: string | null;
  floor: number | null;
  severity: Severity;
  category: string;
  title: string;
  detail: string;
  evidence: string;
  dedup: 'per-device' | 'per-occurrence';
  status: AlertStatus;
  incident_id: string | null;
  count: number;
  opened_at: number;
  clock_start: number;
  last_seen_at: number;
  acknowledged_at: number | null;
  acknowledged_by: string | null;
  arrived_at: number | null;
  resolved_at: number | null;
  resolved_by: string | null;
  resolution: Resolution | null;
  resolution_note: string | null;
  closed_at: number | null;
  rating: number | null;
  rating_comment: string | null;
  reach: Reach;
  escalation_step: number;
  escalated: number;
  cancelled_by_resident: number;
  reopened: number;
  updated_at: number;
}

export interface WhistleRow {
  id: number;
  alert_id: string;
  department: string;
  note: string | null;
  whistled_at: number;
  whistled_by: string;
  due_at: number;
  reported_at: number | null;
  reported_by: string | null;
  escalated: number;
}

export interface TimerRow {
  id: number;
  alert_id: string;
  kind: 'step' | 'report_in';
  ref: number;
  unless: Milestone | null;
  due_at: number;
}

export interface OutboxRow {
  id: number;
  alert_id: string;
  channel: string;
  target: string;
  payload: string;
  attempts: number;
  idempotency_key: string;
  person_id: string | null;
  severity: Severity | null;
  digestible: number;
  rung: number | null;
  held_until: number | null;
  max_attempts: number | null;
  next_at: number;
  state: string;
  last_error: string | null;
  last_status: number | null;
}

export interface IncidentRow {
  id: string;
  category: string;
  group_key: string;
  place: string;
  opened_at: number;
  last_at: number;
}

export interface MaintenanceRow {
  id: number;
  device_id: string;
  alert_id: string;
  reason: string;
  note: string | null;
  created_at: number;
  created_by: string;
  done_at: number | null;
  done_by: string | null;
  done_note: string | null;
  place: string | null;
}

export interface ReachRow {
  alert_id: string;
  rung: number;
  next_at: number;
  state: string;
}

export interface DigestRow {
  digest_id: string;
  version: number;
  items: string;
  started_at: number;
  last_at: number;
}

/** The place levels as columns of `alerts` (migration 4): `grid_id` is written, the others are generated. */
export interface AlertLevelColumns {
  street_id: string | null;
  community_id: string | null;
  estate_id: string | null;
  building_id: string | null;
  unit_id: string | null;
}

export interface ResidentTable {
  id: string;
  name: string;
  phone: string | null;
  family_name: string | null;
  family_phone: string | null;
  health_notes: string | null;
  device_id: string | null;
  place_id: string | null;
  updated_at: number;
}

/** The tables the read side queries, as Kysely sees them. */
export interface AlertTables {
  alerts: AlertRow & AlertLevelColumns;
  alert_whistles: WhistleRow;
  residents: ResidentTable;
}

/** A row type whose columns `K` have defaults: optional in an INSERT, as they are in the table. */
type WithDefaults<Row, K extends keyof Row> = Omit<Row, K> & { [P in K]: Generated<Row[P]> };

/**
 * Every table the alert store writes, as Kysely sees them (alert-statements.ts, outbox-claims.ts build on these):
 * the rows above with the columns the port's rows leave out, and the columns that have defaults.
 */
export interface AlertStoreTables extends Omit<AlertTables, 'alerts' | 'alert_whistles'> {
  alerts: WithDefaults<
    AlertRow & AlertLevelColumns,
    'count' | 'evidence' | 'reach' | 'escalation_step' | 'escalated' | 'cancelled_by_resident' | 'reopened'
  >;
  alert_whistles: WithDefaults<WhistleRow, 'id' | 'escalated'>;
  alert_incidents: IncidentRow & { alert_count: Generated<number> };
  alert_events: {
    id: Generated<number>;
    alert_id: string;
    at: number;
    actor: string;
    type: string;
    data: string;
  };
  alert_journal_seen: { journal_id: number; rule_id: string; at: number };
  alert_event_seen: { device_id: string; event_id: string; rule_id: string; at: number };
  alert_suppressions: {
    rule_id: string;
    device_id: string;
    until: number;
    reason: string;
    suppressed: Generated<number>;
  };
  alert_rating_tokens: { token_hash: string; alert_id: string; expires_at: number; used_at: number | null };
  maintenance_tasks: WithDefaults<Omit<MaintenanceRow, 'place'>, 'id'>;
  alert_timers: WithDefaults<TimerRow & { state: string }, 'id' | 'state'>;
  alert_outbox: WithDefaults<
    OutboxRow & { created_at: number; claimed_by: string | null; lease_until: number | null },
    'id' | 'attempts' | 'state' | 'digestible'
  >;
  alert_digests: DigestRow & { channel: string; target: string };
  alert_must_reach: ReachRow;
  // the dispatcher's other stores (residents.ts, audit-log.ts, quiet-hours.ts, channel-targets.ts)
  audit_log: {
    id: Generated<number>;
    at: number;
    username: string;
    action: string;
    subject: string;
    alert_id: string | null;
    detail: string;
  };
  alert_quiet_hours: {
    id: Generated<number>;
    person_id: string | null;
    place_id: string | null;
    start_minute: number;
    end_minute: number;
  };
  alert_channel_targets: {
    id: Generated<number>;
    place_id: string | null;
    role: string | null;
    channel: string;
    target: string;
    label: string | null;
  };
}
