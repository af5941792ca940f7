import type { Db } from '../storage/sqlite.ts';
import type { AlertStatements, NewAlert } from './alert-store.ts';
import type {
  AlertRow,
  DigestRow,
  IncidentRow,
  MaintenanceRow,
  OutboxRow,
  ReachRow,
  TimerRow,
  WhistleRow,
} from './tables.ts';

/** Every fixed statement of the dispatcher, prepared once after the migrations ran, as the store's operations. */
export function sqliteStatements(db: Db): AlertStatements {
  const s = {
    // ---- alerts, incidents, timeline ----
    alert: db.prepare<[string], AlertRow>('SELECT * FROM alerts WHERE id = ?'),
    journalSeen: db.prepare<[number, string, number]>(
      'INSERT OR IGNORE INTO alert_journal_seen (journal_id, rule_id, at) VALUES (?, ?, ?)',
    ),
    openFor: db.prepare<[string, string], AlertRow>(
      `SELECT * FROM alerts WHERE rule_id = ? AND device_id = ?
       AND status IN ('open','dispatched','acknowledged','on_site') ORDER BY opened_at DESC LIMIT 1`,
    ),
    repeat: db.prepare<[number, string, string, number, string]>(
      'UPDATE alerts SET count = count + 1, last_seen_at = ?, detail = ?, evidence = ?, updated_at = ? WHERE id = ?',
    ),
    recentResolved: db.prepare<[string, string, number], AlertRow>(
      `SELECT * FROM alerts WHERE rule_id = ? AND device_id = ? AND status = 'resolved'
       AND resolved_at >= ? AND resolution NOT IN ('false_alarm','device_fault')
       ORDER BY resolved_at DESC LIMIT 1`,
    ),
    suppression: db.prepare<[string, string, number], { until: number }>(
      'SELECT until FROM alert_suppressions WHERE rule_id = ? AND device_id = ? AND until > ?',
    ),
    countSuppressed: db.prepare<[string, string]>(
      'UPDATE alert_suppressions SET suppressed = suppressed + 1 WHERE rule_id = ? AND device_id = ?',
    ),
    suppress: db.prepare<[string, string, number, string]>(
      `INSERT INTO alert_suppressions (rule_id, device_id, until, reason) VALUES (?, ?, ?, ?)
       ON CONFLICT (rule_id, device_id) DO UPDATE SET until = excluded.until, reason = excluded.reason`,
    ),
    liftSuppressions: db.prepare<[number, string, number]>(
      'UPDATE alert_suppressions SET until = ? WHERE device_id = ? AND until > ?',
    ),
    incidentFor: db.prepare<[string, string, number], { id: string }>(
      `SELECT id FROM alert_incidents WHERE category = ? AND group_key = ? AND last_at >= ?
       ORDER BY last_at DESC LIMIT 1`,
    ),
    insertIncident: db.prepare<[string, string, string, string, number, number]>(
      `INSERT INTO alert_incidents (id, category, group_key, place, opened_at, last_at, alert_count)
       VALUES (?, ?, ?, ?, ?, ?, 1)`,
    ),
    joinIncident: db.prepare<[number, string]>(
      'UPDATE alert_incidents SET last_at = ?, alert_count = alert_count + 1 WHERE id = ?',
    ),
    incident: db.prepare<[string], IncidentRow>('SELECT * FROM alert_incidents WHERE id = ?'),
    incidentAlerts: db.prepare<[string], { id: string }>(
      'SELECT id FROM alerts WHERE incident_id = ? ORDER BY opened_at, id',
    ),
    insertAlert: db.prepare<[NewAlert]>(
      `INSERT INTO alerts (id, rule_id, device_id, device_type, place_id, place, grid_id, floor, severity, category,
        title, detail, evidence, dedup, status, incident_id, count, opened_at, clock_start, last_seen_at, updated_at)
       VALUES (@id, @ruleId, @deviceId, @deviceType, @placeId, @place, @gridId, @floor, @severity, @category,
        @title, @detail, @evidence, @dedup, 'open', @incidentId, 1, @at, @at, @at, @at)`,
    ),
    insertEvent: db.prepare<[string, number, string, string, string]>(
      'INSERT INTO alert_events (alert_id, at, actor, type, data) VALUES (?, ?, ?, ?, ?)',
    ),
    events: db.prepare<[string], { id: number; at: number; actor: string; type: string; data: string }>(
      'SELECT id, at, actor, type, data FROM alert_events WHERE alert_id = ? ORDER BY id',
    ),
    insertRatingToken: db.prepare<[string, string, number]>(
      'INSERT INTO alert_rating_tokens (token_hash, alert_id, expires_at) VALUES (?, ?, ?)',
    ),
    ratingToken: db.prepare<[string], { alert_id: string; expires_at: number; used_at: number | null }>(
      'SELECT alert_id, expires_at, used_at FROM alert_rating_tokens WHERE token_hash = ?',
    ),
    useRatingToken: db.prepare<[number, string]>(
      'UPDATE alert_rating_tokens SET used_at = ? WHERE token_hash = ?',
    ),

    // ---- whistles and maintenance ----
    whistles: db.prepare<[string], WhistleRow>('SELECT * FROM alert_whistles WHERE alert_id = ? ORDER BY id'),
    whistle: db.prepare<[number], WhistleRow>('SELECT * FROM alert_whistles WHERE id = ?'),
    insertWhistle: db.prepare<[string, string, string | null, number, string, number]>(
      `INSERT INTO alert_whistles (alert_id, department, note, whistled_at, whistled_by, due_at)
       VALUES (?, ?, ?, ?, ?, ?)`,
    ),
    whistleReported: db.prepare<[number, string, number]>(
      'UPDATE alert_whistles SET reported_at = ?, reported_by = ? WHERE id = ?',
    ),
    whistleEscalated: db.prepare<[number]>('UPDATE alert_whistles SET escalated = 1 WHERE id = ?'),
    insertTask: db.prepare<[string, string, string, string, number, string]>(
      `INSERT INTO maintenance_tasks (device_id, alert_id, reason, note, created_at, created_by)
       VALUES (?, ?, ?, ?, ?, ?)`,
    ),
    task: db.prepare<[number], MaintenanceRow>(
      'SELECT m.*, a.place AS place FROM maintenance_tasks m LEFT JOIN alerts a ON a.id = m.alert_id WHERE m.id = ?',
    ),
    taskOnly: db.prepare<[number], MaintenanceRow>(
      'SELECT *, NULL AS place FROM maintenance_tasks WHERE id = ?',
    ),
    closeTask: db.prepare<[number, string, string | null, number]>(
      'UPDATE maintenance_tasks SET done_at = ?, done_by = ?, done_note = ? WHERE id = ?',
    ),

    // ---- escalation timers ----
    insertTimer: db.prepare<[string, TimerRow['kind'], number, string | null, number]>(
      "INSERT INTO alert_timers (alert_id, kind, ref, unless, due_at, state) VALUES (?, ?, ?, ?, ?, 'pending')",
    ),
    dueTimers: db.prepare<[number], TimerRow>(
      "SELECT * FROM alert_timers WHERE state = 'pending' AND due_at <= ? ORDER BY due_at, id LIMIT 200",
    ),
    nextTimer: db.prepare<[], { due: number | null }>(
      "SELECT min(due_at) AS due FROM alert_timers WHERE state = 'pending'",
    ),
    setTimerState: db.prepare<[string, number]>('UPDATE alert_timers SET state = ? WHERE id = ?'),
    stepFired: db.prepare<[string, number], { id: number }>(
      "SELECT id FROM alert_timers WHERE alert_id = ? AND kind = 'step' AND ref = ? AND state = 'fired' LIMIT 1",
    ),
    voidStep: db.prepare<[string, number]>(
      "UPDATE alert_timers SET state = 'void' WHERE alert_id = ? AND kind = 'step' AND ref = ? AND state = 'pending'",
    ),
    voidSteps: db.prepare<[string]>(
      "UPDATE alert_timers SET state = 'void' WHERE alert_id = ? AND kind = 'step' AND state = 'pending'",
    ),
    voidReportIn: db.prepare<[string, number]>(
      "UPDATE alert_timers SET state = 'void' WHERE alert_id = ? AND kind = 'report_in' AND ref = ? AND state = 'pending'",
    ),
    voidUnless: db.prepare<[string, string]>(
      "UPDATE alert_timers SET state = 'void' WHERE alert_id = ? AND state = 'pending' AND unless = ?",
    ),
    voidAll: db.prepare<[string]>(
      "UPDATE alert_timers SET state = 'void' WHERE alert_id = ? AND state = 'pending'",
    ),

    // ---- outbox and digests ----
    outboxOf: db.prepare<[string], OutboxRow>(
      "SELECT * FROM alert_outbox WHERE alert_id = ? AND channel != 'stream' ORDER BY id",
    ),
    pendingOutbox: db.prepare<[], { n: number }>(
      "SELECT count(*) AS n FROM alert_outbox WHERE state = 'pending'",
    ),
    postpone: db.prepare<[number, number]>('UPDATE alert_outbox SET next_at = ? WHERE id = ?'),
    digestSiblings: db.prepare<[string, string, number, number], OutboxRow>(
      `SELECT * FROM alert_outbox WHERE channel = ? AND target = ? AND state = 'pending' AND digestible = 1
       AND attempts = 0 AND next_at <= ? AND (held_until IS NULL OR held_until <= ?) ORDER BY id`,
    ),
    fold: db.prepare<[string, number]>(
      "UPDATE alert_outbox SET state = 'folded', last_error = ? WHERE id = ?",
    ),
    digest: db.prepare<[string, string], DigestRow>(
      'SELECT * FROM alert_digests WHERE channel = ? AND target = ?',
    ),
    putDigest: db.prepare<[string, string, string, number, string, number, number]>(
      `INSERT INTO alert_digests (channel, target, digest_id, version, items, started_at, last_at)
       VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (channel, target) DO UPDATE SET digest_id = excluded.digest_id, version = excluded.version,
         items = excluded.items, started_at = excluded.started_at, last_at = excluded.last_at`,
    ),
    pruneOutbox: db.prepare<[number]>("DELETE FROM alert_outbox WHERE state != 'pending' AND created_at < ?"),
    pruneJournal: db.prepare<[number]>('DELETE FROM alert_journal_seen WHERE at < ?'),
    pruneTimers: db.prepare<[number]>(
      `DELETE FROM alert_timers WHERE state != 'pending' AND alert_id IN
       (SELECT id FROM alerts WHERE status IN ('resolved','closed') AND updated_at < ?)`,
    ),

    // ---- must-reach ladder ----
    reach: db.prepare<[string], ReachRow>('SELECT * FROM alert_must_reach WHERE alert_id = ?'),
    startReach: db.prepare<[string, number]>(
      `INSERT INTO alert_must_reach (alert_id, rung, next_at, state) VALUES (?, 0, ?, 'active')
       ON CONFLICT (alert_id) DO UPDATE SET rung = 0, next_at = excluded.next_at, state = 'active'`,
    ),
    setReach: db.prepare<[number, number, string, string]>(
      'UPDATE alert_must_reach SET rung = ?, next_at = ?, state = ? WHERE alert_id = ?',
    ),
    stopReach: db.prepare<[string]>(
      "UPDATE alert_must_reach SET state = 'stopped' WHERE alert_id = ? AND state = 'active'",
    ),
    dueReach: db.prepare<[number], ReachRow>(
      "SELECT * FROM alert_must_reach WHERE state = 'active' AND next_at <= ? ORDER BY next_at LIMIT 200",
    ),
    nextReach: db.prepare<[], { due: number | null }>(
      "SELECT min(next_at) AS due FROM alert_must_reach WHERE state = 'active'",
    ),
    rungLive: db.prepare<[string, number], { n: number }>(
      `SELECT count(*) AS n FROM alert_outbox WHERE alert_id = ? AND rung = ? AND state IN ('pending','done')`,
    ),
  };
  // Each operation calls its prepared statement with the arguments as they come: no array, object or closure per call.
  return {
    alert: (id) => s.alert.get(id),
    journalSeen: (journalId, ruleId, at) => s.journalSeen.run(journalId, ruleId, at).changes,
    openFor: (ruleId, deviceId) => s.openFor.get(ruleId, deviceId),
    repeat: (lastSeenAt, detail, evidence, now, id) =>
      s.repeat.run(lastSeenAt, detail, evidence, now, id).changes,
    recentResolved: (ruleId, deviceId, since) => s.recentResolved.get(ruleId, deviceId, since),
    suppression: (ruleId, deviceId, at) => s.suppression.get(ruleId, deviceId, at),
    countSuppressed: (ruleId, deviceId) => s.countSuppressed.run(ruleId, deviceId).changes,
    suppress: (ruleId, deviceId, until, reason) => s.suppress.run(ruleId, deviceId, until, reason).changes,
    liftSuppressions: (until, deviceId, now) => s.liftSuppressions.run(until, deviceId, now).changes,
    incidentFor: (category, groupKey, since) => s.incidentFor.get(category, groupKey, since),
    insertIncident: (id, category, groupKey, place, openedAt, lastAt) =>
      s.insertIncident.run(id, category, groupKey, place, openedAt, lastAt).changes,
    joinIncident: (lastAt, id) => s.joinIncident.run(lastAt, id).changes,
    incident: (id) => s.incident.get(id),
    incidentAlerts: (incidentId) => s.incidentAlerts.all(incidentId),
    insertAlert: (alert) => s.insertAlert.run(alert).changes,
    insertEvent: (alertId, at, actor, type, data) =>
      s.insertEvent.run(alertId, at, actor, type, data).changes,
    events: (alertId) => s.events.all(alertId),
    insertRatingToken: (tokenHash, alertId, expiresAt) =>
      s.insertRatingToken.run(tokenHash, alertId, expiresAt).changes,
    ratingToken: (tokenHash) => s.ratingToken.get(tokenHash),
    useRatingToken: (usedAt, tokenHash) => s.useRatingToken.run(usedAt, tokenHash).changes,

    whistles: (alertId) => s.whistles.all(alertId),
    whistle: (id) => s.whistle.get(id),
    insertWhistle: (alertId, department, note, whistledAt, whistledBy, dueAt) =>
      Number(s.insertWhistle.run(alertId, department, note, whistledAt, whistledBy, dueAt).lastInsertRowid),
    whistleReported: (reportedAt, reportedBy, id) =>
      s.whistleReported.run(reportedAt, reportedBy, id).changes,
    whistleEscalated: (id) => s.whistleEscalated.run(id).changes,
    insertTask: (deviceId, alertId, reason, note, createdAt, createdBy) =>
      Number(s.insertTask.run(deviceId, alertId, reason, note, createdAt, createdBy).lastInsertRowid),
    task: (id) => s.task.get(id),
    taskOnly: (id) => s.taskOnly.get(id),
    closeTask: (doneAt, doneBy, doneNote, id) => s.closeTask.run(doneAt, doneBy, doneNote, id).changes,

    insertTimer: (alertId, kind, ref, unless, dueAt) =>
      s.insertTimer.run(alertId, kind, ref, unless, dueAt).changes,
    dueTimers: (now) => s.dueTimers.all(now),
    nextTimer: () => s.nextTimer.get()?.due ?? null,
    setTimerState: (state, id) => s.setTimerState.run(state, id).changes,
    stepFired: (alertId, ref) => s.stepFired.get(alertId, ref) !== undefined,
    voidStep: (alertId, ref) => s.voidStep.run(alertId, ref).changes,
    voidSteps: (alertId) => s.voidSteps.run(alertId).changes,
    voidReportIn: (alertId, whistleId) => s.voidReportIn.run(alertId, whistleId).changes,
    voidUnless: (alertId, unless) => s.voidUnless.run(alertId, unless).changes,
    voidAll: (alertId) => s.voidAll.run(alertId).changes,

    pendingOutbox: () => s.pendingOutbox.get()?.n ?? 0,
    outboxOf: (alertId) => s.outboxOf.all(alertId),
    digestSiblings: (channel, target, dueBy, now) => s.digestSiblings.all(channel, target, dueBy, now),
    postpone: (nextAt, id) => s.postpone.run(nextAt, id).changes,
    fold: (reason, id) => s.fold.run(reason, id).changes,
    digest: (channel, target) => s.digest.get(channel, target),
    putDigest: (channel, target, digestId, version, items, startedAt, lastAt) =>
      s.putDigest.run(channel, target, digestId, version, items, startedAt, lastAt).changes,
    pruneOutbox: (before) => s.pruneOutbox.run(before).changes,
    pruneJournal: (before) => s.pruneJournal.run(before).changes,
    pruneTimers: (before) => s.pruneTimers.run(before).changes,

    reach: (alertId) => s.reach.get(alertId),
    startReach: (alertId, nextAt) => s.startReach.run(alertId, nextAt).changes,
    setReach: (rung, nextAt, state, alertId) => s.setReach.run(rung, nextAt, state, alertId).changes,
    stopReach: (alertId) => s.stopReach.run(alertId).changes,
    dueReach: (now) => s.dueReach.all(now),
    nextReach: () => s.nextReach.get()?.due ?? null,
    rungLive: (alertId, rung) => s.rungLive.get(alertId, rung)?.n ?? 0,
  };
}
