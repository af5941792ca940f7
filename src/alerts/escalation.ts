/**
 * Escalation timers kept in SQLite: the ladder steps of each alert (design §5) and the report-in deadlines of
 * whistled departments. A hub that was down fires overdue ones as soon as it starts.
 */

import type { Logger } from 'pino';
import type { Clock } from '../clock/clock.ts';
import type { AlertStatements, AlertStore, TimerInsert } from './alert-store.ts';
import type { AlertsConfig, Milestone } from './config.ts';
import { DUE_TIMERS_PAGE } from './due-statements.ts';
import { dueTimer } from './due-timer.ts';
import type { CallLeaders, Notify } from './routing.ts';
import type { AlertRow, TimerRow } from './tables.ts';
import type { AlertTransactions, TxEffects } from './transactions.ts';
import type { Reach, RunState } from './types.ts';
import { OPEN_STATUSES, SYSTEM, widerReach } from './types.ts';

export type Escalation = ReturnType<typeof createEscalation>;

export interface EscalationDeps {
  clock: Clock;
  cfg: AlertsConfig;
  q: AlertStatements;
  /** Where a ladder's timers go in, all in one statement. */
  store: Pick<AlertStore, 'insertTimers'>;
  log: Logger;
  run: RunState;
  alerts: AlertTransactions;
  notify: Notify;
  callLeaders: CallLeaders;
}

export function createEscalation(deps: EscalationDeps) {
  const { clock, cfg, q, log, alerts, notify, callLeaders } = deps;
  const timer = dueTimer(clock, {
    next: () => q.nextTimer(),
    fire,
    failed: (err) => log.error({ err }, 'escalation timers could not be read'),
    stopped: () => deps.run.stopped,
  });

  /**
   * The earliest due time of the ladders and report-ins scheduled since the timer was last armed after a commit
   * (null: none): only these can have moved the earliest due time earlier (steps are taken, never moved), so the
   * commit arms by it without reading the schedule; a commit that scheduled nothing costs nothing.
   */
  let scheduledBy: number | null = null;
  const schedule = (at: number) => {
    scheduledBy = Math.min(scheduledBy ?? at, at);
  };

  /** Timers for the steps of the alert's ladder after `afterStep`, counted from its clock start: one INSERT. */
  async function scheduleLadder(r: AlertRow, afterStep = 0): Promise<void> {
    const ladder = cfg.ladders[r.severity];
    const timers: TimerInsert[] = [];
    for (const [i, step] of ladder.entries()) {
      if (i <= afterStep) continue;
      for (const w of step.when) {
        timers.push({
          alert_id: r.id,
          kind: 'step',
          ref: i,
          unless: w.unless,
          due_at: r.clock_start + w.afterMs,
        });
      }
    }
    for (const t of timers) schedule(t.due_at);
    await deps.store.insertTimers(timers);
  }

  /**
   * One firing at a time: a step is read due outside its transaction, so two firings at once would both take it
   * (a report-in escalated twice). A firing asked while one runs awaits it; its loop reads what fell due meanwhile.
   */
  let firing: Promise<void> | undefined;
  function fire(): Promise<void> {
    firing ??= fireDue().finally(() => {
      firing = undefined;
    });
    return firing;
  }

  async function fireDue(): Promise<void> {
    timer.cancel();
    const { retries } = timer;
    for (;;) {
      if (deps.run.stopped) return;
      const due = await q.dueTimers(clock.now());
      retries.keepOnly(due.map((t) => t.id));
      const ready = due.filter((t) => retries.ready(t.id));
      if (!ready.length) break;
      for (const t of ready) {
        if (deps.run.stopped) return;
        try {
          if (await alerts.tx(async (fx) => await fireOne(fx, t))) retries.done(t.id);
          // still due in the next read while its taker's transaction runs: not read as ready again at once
          else retries.busy(t.id);
        } catch (err) {
          // the transaction rolled back: the step is still due, and is tried again rather than dropped
          const { attempts, retryInMs } = retries.failed(t.id);
          log.error(
            { err, timerId: t.id, alertId: t.alert_id, attempts, retryInMs },
            'escalation step failed; it is tried again',
          );
        }
      }
      // Only a full page may have more due behind it: otherwise the arm below reads the earliest due time, and a
      // step that fell due meanwhile fires at once from there (on a shared store, one statement less a firing).
      if (due.length < DUE_TIMERS_PAGE) break;
    }
    await timer.arm();
  }

  function milestoneReached(r: AlertRow, unless: Milestone | null): boolean {
    if (unless === 'acknowledged') return r.acknowledged_at !== null;
    if (unless === 'on_site') return r.arrived_at !== null;
    return r.resolved_at !== null;
  }

  /** Fire (or void) one due timer; false when it was not this instance's to take. */
  async function fireOne(fx: TxEffects, t: TimerRow): Promise<boolean> {
    // each step once, however many instances share the database and saw it fall due
    if ((await q.takeTimer(t.id)) === 0) return false;
    await fireTaken(fx, t);
    return true;
  }

  async function fireTaken(fx: TxEffects, t: TimerRow): Promise<void> {
    // Through the transaction's rows, so the step's record reads no second copy; a copy, as `setFields` keeps
    // the transaction's one current while this step reads the row it fired on.
    const seen = await alerts.rowOf(fx, t.alert_id);
    const r = seen && { ...seen };
    if (!r || !OPEN_STATUSES.includes(r.status)) {
      await q.setTimerState('void', t.id);
      return;
    }
    if (t.kind === 'report_in') {
      await reportInOverdue(fx, t, r);
      return;
    }
    if (milestoneReached(r, t.unless) || (await q.stepFired(r.id, t.ref))) {
      await q.setTimerState('void', t.id);
      return;
    }
    const step = cfg.ladders[r.severity][t.ref];
    if (!step) {
      await q.setTimerState('void', t.id);
      return;
    }
    await q.setTimerState('fired', t.id);
    await q.voidStep(r.id, t.ref);
    const recipients = await notify(fx, r, step.roles, 'escalated');
    // The roster may have no leader on shift at night; for the severities configured the leader is called anyway.
    const called = step.roles.includes('grid_leader') ? await callLeaders(fx, r, recipients) : [];
    await alerts.setFields(r.id, {
      escalated: 1,
      escalation_step: Math.max(r.escalation_step, t.ref),
      reach: widerReach(step.reach, r.reach),
    });
    await alerts.record(fx, r.id, 'escalated', SYSTEM, {
      step: t.ref,
      reason: `not ${t.unless} within ${Math.round((t.due_at - r.clock_start) / 1000)} s`,
      roles: step.roles,
      reach: step.reach,
      recipients,
      ...(called.length ? { called } : {}),
    });
  }

  async function reportInOverdue(fx: TxEffects, t: TimerRow, r: AlertRow): Promise<void> {
    const w = await q.whistle(t.ref);
    if (!w || w.reported_at !== null) {
      await q.setTimerState('void', t.id);
      return;
    }
    await q.setTimerState('fired', t.id);
    const roles = cfg.reportInEscalationRoles;
    const recipients = await notify(fx, r, roles, 'report_in_overdue');
    await q.whistleEscalated(w.id);
    alerts.forgetWhistles(fx, r.id);
    const reach: Reach = roles.includes('street_command')
      ? 'street'
      : roles.includes('community_duty')
        ? 'community'
        : 'grid';
    await alerts.setFields(r.id, { escalated: 1, reach: widerReach(reach, r.reach) });
    await alerts.record(fx, r.id, 'escalated', SYSTEM, {
      reason: 'report_in_overdue',
      department: w.department,
      dueAt: w.due_at,
      roles,
      recipients,
    });
  }

  /** Fire what is overdue now (a hub that was down), else arm for the next due time. */
  async function resume(): Promise<void> {
    const due = await q.nextTimer();
    if (due !== null && due <= clock.now()) await fire();
    else await timer.arm();
  }

  /** No more firings; resolves once the one running (if any) has ended, before the store closes under it. */
  async function stop(): Promise<void> {
    timer.cancel();
    await firing?.catch(() => undefined);
  }

  /** The report-in deadline of a whistled department (`whistleId`), an escalation timer like the steps. */
  async function scheduleReportIn(alertId: string, whistleId: number, dueAt: number): Promise<void> {
    schedule(dueAt);
    await q.insertTimer(alertId, 'report_in', whistleId, null, dueAt);
  }

  /**
   * After a commit: wake by the earliest step it scheduled (a rolled-back one costs one wake-up that finds nothing
   * due and reads the schedule). Other instances' steps are read by this one's firings and the heartbeat's sweep.
   */
  function armIfScheduled(): void {
    if (scheduledBy !== null) timer.armBy(scheduledBy);
    scheduledBy = null;
  }

  return { scheduleLadder, scheduleReportIn, resume, arm: timer.arm, armIfScheduled, stop };
}
