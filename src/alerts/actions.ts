/** What people do to an alert through the API: each action is one transaction that answers the new view. */

import type { Clock } from '../clock/clock.ts';
import type { PlaceName } from '../domain/alarm.ts';
import { GridHubError } from '../domain/errors.ts';
import type { PeopleStore } from '../registry/people.ts';
import type { AlertStatements } from './alert-store.ts';
import type { AlertsConfig } from './config.ts';
import type { Escalation } from './escalation.ts';
import { type Lifecycle, sha256 } from './lifecycle.ts';
import type { Enqueue } from './noise.ts';
import type { Payloads } from './payloads.ts';
import { onDutyOf } from './payloads.ts';
import { placeOf } from './places.ts';
import type { AlertRow } from './tables.ts';
import type { AlertTransactions, TxEffects } from './transactions.ts';
import type { AlertView, Resolution } from './types.ts';
import { OPEN_STATUSES } from './types.ts';

export interface Rating {
  score: number;
  comment?: string;
}

export interface RatingLinkInfo {
  state: 'open' | 'used' | 'expired' | 'unknown';
  expiresAt?: number;
  about?: {
    category: string;
    title: string;
    placePath: PlaceName[];
    floor: number | null;
    resolvedAt: number | null;
  };
}

export interface ActionsDeps {
  clock: Clock;
  cfg: AlertsConfig;
  q: AlertStatements;
  payloads: Payloads;
  people: PeopleStore;
  alerts: AlertTransactions;
  lifecycle: Lifecycle;
  enqueue: Enqueue;
  /** Report-in deadlines are escalation timers: scheduled through it, so it arms for them after the commit. */
  escalation: Pick<Escalation, 'scheduleReportIn'>;
}

export function createActions(deps: ActionsDeps) {
  const { clock, cfg, q, alerts } = deps;
  const { tx, record, setFields, load, view, viewIn, rowOf } = alerts;
  const { resolveRow } = deps.lifecycle;

  /**
   * `fn` on the alert in one transaction; answers the alert as that transaction left it. The row is read through
   * the transaction's rows, so its records read no second copy, and the answer is the view of the row `setFields`
   * kept current there (and of the whistles and resident it read), not a second read after the commit. A copy is
   * handed to `fn`: it checks the row as it was before its own changes.
   */
  async function act(id: string, fn: (fx: TxEffects, r: AlertRow) => Promise<void>): Promise<AlertView> {
    let done: TxEffects | undefined;
    await tx(async (fx) => {
      const r = await rowOf(fx, id);
      if (!r) throw new GridHubError('NOT_FOUND', `no alert ${id}`);
      await fn(fx, { ...r });
      done = fx;
    });
    const row = done?.rows.get(id);
    // a writer of columns outside `setFields` forgot the row: read it as committed
    return row ? await viewIn(done, row) : await view(await load(id));
  }

  function transitionError(r: AlertRow, action: string): GridHubError {
    return new GridHubError('ALERT_TRANSITION_INVALID', `cannot ${action} an alert that is ${r.status}`);
  }

  async function pendingWhistle(alertId: string, department: string) {
    return (await q.whistles(alertId)).find((w) => w.department === department && w.reported_at === null);
  }

  async function rateRow(fx: TxEffects, r: AlertRow, actor: string, input: Rating): Promise<void> {
    if (r.status !== 'resolved' && r.status !== 'closed') throw transitionError(r, 'rate');
    if (r.rating !== null) throw new GridHubError('CONFLICT', 'the alert is already rated');
    await setFields(r.id, { rating: input.score, rating_comment: input.comment ?? null });
    await record(fx, r.id, 'rated', actor, { score: input.score, comment: input.comment ?? null });
  }

  return {
    async acknowledge(id: string, actor: string): Promise<AlertView> {
      return await act(id, async (fx, r) => {
        if (r.status !== 'open' && r.status !== 'dispatched') throw transitionError(r, 'acknowledge');
        await q.voidUnless(id, 'acknowledged');
        await q.stopReach(id);
        await setFields(id, { status: 'acknowledged', acknowledged_at: clock.now(), acknowledged_by: actor });
        await record(fx, id, 'acknowledged', actor);
      });
    },

    async arrive(id: string, actor: string): Promise<AlertView> {
      return await act(id, async (fx, r) => {
        if (!['open', 'dispatched', 'acknowledged'].includes(r.status)) throw transitionError(r, 'arrive at');
        const now = clock.now();
        await q.voidUnless(id, 'acknowledged');
        await q.voidUnless(id, 'on_site');
        await q.stopReach(id);
        if (r.acknowledged_at === null) {
          // Arriving is the strongest acknowledgement there is.
          await setFields(id, { acknowledged_at: now, acknowledged_by: actor });
        }
        await setFields(id, { status: 'on_site', arrived_at: now });
        await record(fx, id, 'on_site', actor);
      });
    },

    async resolve(
      id: string,
      actor: string,
      input: { note: string; resolution?: Resolution },
    ): Promise<{ alert: AlertView; ratingToken: string }> {
      let token = '';
      const alert = await act(id, async (fx, r) => {
        if (!OPEN_STATUSES.includes(r.status)) throw transitionError(r, 'resolve');
        token = await resolveRow(fx, r, actor, input.resolution ?? 'handled', input.note);
      });
      return { alert, ratingToken: token };
    },

    async rate(id: string, actor: string, input: Rating): Promise<AlertView> {
      return await act(id, async (fx, r) => await rateRow(fx, r, actor, input));
    },

    /** What the rating page may show of its link: whether it can still be used, and what it is about. */
    async ratingLink(token: string): Promise<RatingLinkInfo> {
      const row = await q.ratingToken(sha256(token));
      if (!row) return { state: 'unknown' };
      const r = await q.alert(row.alert_id);
      const about = r
        ? {
            category: r.category,
            title: r.title,
            placePath: deps.payloads.placePath(placeOf(r)),
            floor: r.floor,
            resolvedAt: r.resolved_at,
          }
        : undefined;
      const state =
        row.used_at !== null || r?.rating != null
          ? 'used'
          : row.expires_at <= clock.now()
            ? 'expired'
            : 'open';
      return { state, expiresAt: row.expires_at, ...(about ? { about } : {}) };
    },

    async rateByToken(token: string, input: Rating): Promise<AlertView> {
      const row = await q.ratingToken(sha256(token));
      if (!row || row.used_at !== null || row.expires_at <= clock.now()) {
        throw new GridHubError('NOT_FOUND', 'this rating link is unknown, used or expired');
      }
      return await act(row.alert_id, async (fx, r) => {
        await q.useRatingToken(clock.now(), sha256(token));
        await rateRow(fx, r, 'resident', input);
      });
    },

    async close(id: string, actor: string, note?: string): Promise<AlertView> {
      return await act(id, async (fx, r) => {
        if (r.status !== 'resolved') throw transitionError(r, 'close');
        await setFields(id, { status: 'closed', closed_at: clock.now() });
        await record(fx, id, 'closed', actor, { note: note ?? null });
      });
    },

    /** Not a real emergency: resolve, silence the rule on the device for a while and open a maintenance task. */
    async markFalse(
      id: string,
      actor: string,
      input: { kind: 'false_alarm' | 'device_fault'; reason: string; note?: string },
    ): Promise<AlertView> {
      return await act(id, async (fx, r) => {
        if (!OPEN_STATUSES.includes(r.status) && r.status !== 'resolved')
          throw transitionError(r, input.kind);
        const now = clock.now();
        await record(fx, id, input.kind, actor, { reason: input.reason, note: input.note ?? null });
        if (r.status !== 'resolved') await resolveRow(fx, r, actor, input.kind, input.reason);
        else await setFields(id, { resolution: input.kind });
        await q.suppress(r.rule_id, r.device_id, now + cfg.suppressAfterFalseAlarmMs, input.kind);
        const task = await q.insertTask(r.device_id, id, input.kind, input.reason, now, actor);
        await record(
          fx,
          id,
          'maintenance_task_opened',
          actor,
          {
            taskId: task,
            deviceId: r.device_id,
            suppressedUntil: now + cfg.suppressAfterFalseAlarmMs,
          },
          { sink: false },
        );
      });
    },

    /** Call a department in: its staff are told at once and it has `reportInMs` to report in. */
    async whistle(
      id: string,
      actor: string,
      input: { department: string; note?: string },
    ): Promise<AlertView> {
      return await act(id, async (fx, r) => {
        if (!OPEN_STATUSES.includes(r.status)) throw transitionError(r, 'whistle');
        if (await pendingWhistle(id, input.department)) {
          throw new GridHubError('CONFLICT', `${input.department} is already whistled in`);
        }
        const now = clock.now();
        const dueAt = now + cfg.sla[r.severity].reportInMs;
        const whistleId = await q.insertWhistle(id, input.department, input.note ?? null, now, actor, dueAt);
        alerts.forgetWhistles(fx, id);
        await deps.escalation.scheduleReportIn(id, whistleId, dueAt);
        // Department staff serving this place, else any of that department.
        const place = placeOf(r);
        let staff = deps.people
          .peopleAt(place, 'department')
          .filter((p) => p.department === input.department);
        if (!staff.length) {
          staff = deps.people
            .list({ role: 'department' })
            .filter((p) => p.department === input.department && p.active);
        }
        const onDuty = onDutyOf(staff);
        for (const p of staff) {
          const payload = deps.payloads.alarm(
            await viewIn(fx, r),
            'whistled',
            { person: p, role: 'department', via: 'on_duty' },
            clock.now(),
            onDuty,
          );
          await deps.enqueue(fx, {
            alertId: id,
            channel: 'mqtt',
            target: p.id,
            payload: { ...payload, department: input.department },
            personId: p.id,
            // A whistle is a call to act now, whatever the alert's severity: never held or folded.
            severity: 'critical',
            place,
          });
        }
        await record(fx, id, 'whistled', actor, {
          department: input.department,
          note: input.note ?? null,
          dueAt,
          notified: staff.map((p) => p.id),
        });
      });
    },

    async reportIn(id: string, actor: string, department: string, note?: string): Promise<AlertView> {
      return await act(id, async (fx, r) => {
        const w = await pendingWhistle(id, department);
        if (!w) {
          throw new GridHubError(
            'ALERT_TRANSITION_INVALID',
            `${department} has no pending whistle on this alert`,
          );
        }
        const now = clock.now();
        await q.whistleReported(now, actor, w.id);
        alerts.forgetWhistles(fx, id);
        await q.voidReportIn(id, w.id);
        await record(fx, r.id, 'reported_in', actor, {
          department,
          onTime: now <= w.due_at,
          note: note ?? null,
        });
      });
    },
  };
}
