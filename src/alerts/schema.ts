/** The dispatcher's own tables, migrated as module `alerts` in the hub's main SQLite file. Append, never edit. */
export const ALERTS_MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE alert_incidents (
    id TEXT PRIMARY KEY,
    category TEXT NOT NULL,
    -- building id, or the device's place id when it is not in a building
    group_key TEXT NOT NULL,
    place TEXT NOT NULL,
    opened_at INTEGER NOT NULL,
    last_at INTEGER NOT NULL,
    alert_count INTEGER NOT NULL DEFAULT 0
  );
  CREATE INDEX alert_incidents_key ON alert_incidents(category, group_key, last_at);

  CREATE TABLE alerts (
    id TEXT PRIMARY KEY,
    rule_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    device_type TEXT NOT NULL,
    place_id TEXT NOT NULL,
    place TEXT NOT NULL,
    grid_id TEXT,
    floor INTEGER,
    severity TEXT NOT NULL,
    category TEXT NOT NULL,
    title TEXT NOT NULL,
    detail TEXT NOT NULL,
    evidence TEXT NOT NULL DEFAULT '{}',
    dedup TEXT NOT NULL,
    status TEXT NOT NULL,
    incident_id TEXT REFERENCES alert_incidents(id),
    count INTEGER NOT NULL DEFAULT 1,
    opened_at INTEGER NOT NULL,
    -- start of the SLA clocks: opened_at, or the reopen time
    clock_start INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    acknowledged_at INTEGER,
    acknowledged_by TEXT,
    arrived_at INTEGER,
    resolved_at INTEGER,
    resolved_by TEXT,
    resolution TEXT,
    resolution_note TEXT,
    closed_at INTEGER,
    rating INTEGER,
    rating_comment TEXT,
    reach TEXT NOT NULL DEFAULT 'grid',
    escalation_step INTEGER NOT NULL DEFAULT 0,
    escalated INTEGER NOT NULL DEFAULT 0,
    cancelled_by_resident INTEGER NOT NULL DEFAULT 0,
    reopened INTEGER NOT NULL DEFAULT 0,
    updated_at INTEGER NOT NULL
  );
  CREATE INDEX alerts_rule_device ON alerts(rule_id, device_id, status);
  CREATE INDEX alerts_opened ON alerts(opened_at);
  CREATE INDEX alerts_grid ON alerts(grid_id, opened_at);
  CREATE INDEX alerts_incident ON alerts(incident_id);

  -- The timeline: every change with who, when, what.
  CREATE TABLE alert_events (
    id INTEGER PRIMARY KEY,
    alert_id TEXT NOT NULL REFERENCES alerts(id),
    at INTEGER NOT NULL,
    actor TEXT NOT NULL,
    type TEXT NOT NULL,
    data TEXT NOT NULL DEFAULT '{}'
  );
  CREATE INDEX alert_events_alert ON alert_events(alert_id, id);

  -- Due times of escalation steps and report-in clocks, so a restart fires them on time.
  CREATE TABLE alert_timers (
    id INTEGER PRIMARY KEY,
    alert_id TEXT NOT NULL REFERENCES alerts(id),
    kind TEXT NOT NULL CHECK (kind IN ('step','report_in')),
    -- step index, or whistle id
    ref INTEGER NOT NULL,
    unless TEXT,
    due_at INTEGER NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending','fired','void'))
  );
  CREATE INDEX alert_timers_due ON alert_timers(state, due_at);
  CREATE INDEX alert_timers_alert ON alert_timers(alert_id, state);

  CREATE TABLE alert_whistles (
    id INTEGER PRIMARY KEY,
    alert_id TEXT NOT NULL REFERENCES alerts(id),
    department TEXT NOT NULL,
    note TEXT,
    whistled_at INTEGER NOT NULL,
    whistled_by TEXT NOT NULL,
    due_at INTEGER NOT NULL,
    reported_at INTEGER,
    reported_by TEXT,
    escalated INTEGER NOT NULL DEFAULT 0
  );
  CREATE INDEX alert_whistles_alert ON alert_whistles(alert_id);
  CREATE INDEX alert_whistles_dept ON alert_whistles(department);

  -- Durable outbox: inserted in the same transaction as the decision, drained by the delivery loop.
  CREATE TABLE alert_outbox (
    id INTEGER PRIMARY KEY,
    alert_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    target TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    next_at INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending','done','failed')),
    last_error TEXT
  );
  CREATE INDEX alert_outbox_due ON alert_outbox(state, next_at);

  CREATE TABLE alert_rating_tokens (
    token_hash TEXT PRIMARY KEY,
    alert_id TEXT NOT NULL REFERENCES alerts(id),
    expires_at INTEGER NOT NULL,
    used_at INTEGER
  );

  -- After a false alarm or device fault: repeats of (rule, device) are held back until this time.
  CREATE TABLE alert_suppressions (
    rule_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    until INTEGER NOT NULL,
    reason TEXT NOT NULL,
    suppressed INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (rule_id, device_id)
  );

  -- Maintenance tasks opened for a device instead of repeated alerts.
  CREATE TABLE maintenance_tasks (
    id INTEGER PRIMARY KEY,
    device_id TEXT NOT NULL,
    alert_id TEXT NOT NULL,
    reason TEXT NOT NULL,
    note TEXT,
    created_at INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    done_at INTEGER
  );
  `,
  // 2: must-reach delivery. The outbox is rebuilt for its new states (dead with the reason, folded into a
  // digest) and the columns the delivery loop needs; 'failed' rows of version 1 become 'dead'.
  `
  CREATE TABLE alert_outbox_v2 (
    id INTEGER PRIMARY KEY,
    alert_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    target TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    next_at INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending','done','dead','folded')),
    last_error TEXT,
    last_status INTEGER,
    -- stable across retries; sent as the Idempotency-Key header and in the body
    idempotency_key TEXT NOT NULL,
    person_id TEXT,
    severity TEXT,
    -- a non-critical alarm that may be folded into its recipient's digest
    digestible INTEGER NOT NULL DEFAULT 0,
    -- rung of the must-reach ladder this row belongs to (critical alerts)
    rung INTEGER,
    -- quiet hours: not delivered before this time
    held_until INTEGER,
    max_attempts INTEGER
  );
  INSERT INTO alert_outbox_v2 (id, alert_id, channel, target, payload, created_at, next_at, attempts, state,
    last_error, idempotency_key)
    SELECT id, alert_id, channel, target, payload, created_at, next_at, attempts,
      CASE state WHEN 'failed' THEN 'dead' ELSE state END, last_error, 'gh-' || id FROM alert_outbox;
  DROP TABLE alert_outbox;
  ALTER TABLE alert_outbox_v2 RENAME TO alert_outbox;
  CREATE INDEX alert_outbox_due ON alert_outbox(state, next_at);
  CREATE INDEX alert_outbox_recipient ON alert_outbox(channel, target, state);
  CREATE INDEX alert_outbox_alert ON alert_outbox(alert_id, rung);

  -- The must-reach ladder of a critical alert: app push → group robot → SMS/voice → family contact.
  CREATE TABLE alert_must_reach (
    alert_id TEXT PRIMARY KEY REFERENCES alerts(id),
    rung INTEGER NOT NULL,
    next_at INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('active','stopped','exhausted'))
  );
  CREATE INDEX alert_must_reach_due ON alert_must_reach(state, next_at);

  -- One digest per recipient and storm: later digests of the storm update it (same id, higher version).
  CREATE TABLE alert_digests (
    channel TEXT NOT NULL,
    target TEXT NOT NULL,
    digest_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    items TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    last_at INTEGER NOT NULL,
    PRIMARY KEY (channel, target)
  );

  -- Quiet hours of a person or of every recipient of a place's alerts (local minutes, may wrap midnight).
  CREATE TABLE alert_quiet_hours (
    id INTEGER PRIMARY KEY,
    person_id TEXT,
    place_id TEXT,
    start_minute INTEGER NOT NULL CHECK (start_minute BETWEEN 0 AND 1439),
    end_minute INTEGER NOT NULL CHECK (end_minute BETWEEN 0 AND 1439),
    CHECK ((person_id IS NULL) != (place_id IS NULL))
  );

  -- Channel targets besides people's own contacts: per place (a grid's group robot) and/or per role.
  CREATE TABLE alert_channel_targets (
    id INTEGER PRIMARY KEY,
    place_id TEXT,
    role TEXT,
    channel TEXT NOT NULL,
    target TEXT NOT NULL,
    label TEXT
  );

  -- Residents behind call-button devices. Phone numbers and health notes are personal data: masked in every
  -- answer and message except for those acting on the alert; every unmasked read is audited.
  CREATE TABLE residents (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    phone TEXT,
    family_name TEXT,
    family_phone TEXT,
    health_notes TEXT,
    device_id TEXT UNIQUE,
    place_id TEXT,
    updated_at INTEGER NOT NULL
  );

  CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    username TEXT NOT NULL,
    action TEXT NOT NULL,
    subject TEXT NOT NULL,
    alert_id TEXT,
    detail TEXT NOT NULL DEFAULT '{}'
  );
  CREATE INDEX audit_log_at ON audit_log(at);

  -- push_subscriptions and alert_keys were created here; the channels module owns them now (src/channels/schema.ts).

  ALTER TABLE maintenance_tasks ADD COLUMN done_by TEXT;
  ALTER TABLE maintenance_tasks ADD COLUMN done_note TEXT;
  `,
  `
  -- QoS 1 events already taken, by their ingest journal id: after a crash between the dispatcher's commit and
  -- ingest marking the event processed, the replayed event must not open a second alert.
  CREATE TABLE alert_journal_seen (
    journal_id INTEGER NOT NULL,
    rule_id TEXT NOT NULL,
    at INTEGER NOT NULL,
    PRIMARY KEY (journal_id, rule_id)
  );
  `,
  // 4: the read side in SQL (reads.ts, list-query.ts, kpi-query.ts). Scope and the place filter match the id of a
  // place at its level, so each level of the path is a column: generated from the path JSON, so no writer has to
  // fill them. On PostgreSQL the same columns are `GENERATED ALWAYS AS ((place::jsonb) ->> 'street') STORED`;
  // the queries only name the columns. Lists are newest first with the id breaking ties, so every index a list
  // walks ends in (opened_at DESC, id): a page is read off the index, and a count is an index range.
  // Units are left unindexed: no user is scoped to one, and a unit's alerts are few. Status rides at the end of
  // each index: the open-alerts filter of the board and the worker app is then checked in the index, before any
  // row is read (an index on a generated column still reads the row on SQLite; on `grid_id` it does not).
  `
  ALTER TABLE alerts ADD COLUMN street_id TEXT GENERATED ALWAYS AS (json_extract(place, '$.street')) VIRTUAL;
  ALTER TABLE alerts ADD COLUMN community_id TEXT GENERATED ALWAYS AS (json_extract(place, '$.community')) VIRTUAL;
  ALTER TABLE alerts ADD COLUMN estate_id TEXT GENERATED ALWAYS AS (json_extract(place, '$.estate')) VIRTUAL;
  ALTER TABLE alerts ADD COLUMN building_id TEXT GENERATED ALWAYS AS (json_extract(place, '$.building')) VIRTUAL;
  ALTER TABLE alerts ADD COLUMN unit_id TEXT GENERATED ALWAYS AS (json_extract(place, '$.unit')) VIRTUAL;
  DROP INDEX alerts_opened;
  DROP INDEX alerts_grid;
  CREATE INDEX alerts_recent ON alerts(opened_at DESC, id, status);
  CREATE INDEX alerts_street_recent ON alerts(street_id, opened_at DESC, id, status);
  CREATE INDEX alerts_community_recent ON alerts(community_id, opened_at DESC, id, status);
  CREATE INDEX alerts_grid_recent ON alerts(grid_id, opened_at DESC, id, status);
  CREATE INDEX alerts_estate_recent ON alerts(estate_id, opened_at DESC, id, status);
  CREATE INDEX alerts_building_recent ON alerts(building_id, opened_at DESC, id, status);
  `,
];
