/**
 * The must-reach ladder of critical alerts (design §6): until someone acknowledges, each rung that goes
 * unanswered for `mustReachStepMs` (or whose every delivery died) hands over to the next one. Rung 0 is the
 * dispatch itself: the on-duty people's app push and the grid's group robots together, at once.
 */

import type { Logger } from 'pino';
import type { Channel } from '../channels/channel.ts';
import type { Clock } from '../clock/clock.ts';
import type { PeopleStore } from '../registry/people.ts';
import type { AlertStatements } from './alert-store.ts';
import type { AlertsConfig } from './config.ts';
import { dueTimer } from './due-timer.ts';
import type { AlertsMetrics } from './metrics.ts';
import type { Enqueue } from './noise.ts';
import type { Payloads } from './payloads.ts';
import { onDutyOf } from './payloads.ts';
import { placeOf } from './places.ts';
import { maskTarget } from './privacy.ts';
import type { AlertRow } from './tables.ts';
import type { AlertTransactions, TxEffects } from './transactions.ts';
import type { RunState } from './types.ts';
import { OPEN_STATUSES, SYSTEM } from './types.ts';

/** Rung 0 (app push and group robots) is sent by the dispatch; the ladder adds the later ones. */
export const MUST_REACH_RUNGS = ['app_push_group_robot', 'sms_voice', 'family_contact'] as const;
export const APP_CHANNELS = new Set(['mqtt', 'webpush']);
export const ROBOT_CHANNELS = new Set(['webhook', 'wecom', 'dingtalk', 'feishu']);
export const PHONE_CHANNELS = ['sms', 'voice'] as const;

export type MustReach = ReturnType<typeof createMustReach>;

export interface MustReachDeps {
  clock: Clock;
  cfg: AlertsConfig;
  q: AlertStatements;
  metrics: AlertsMetrics;
  log: Logger;
  run: RunState;
  people: PeopleStore;
  channels: ReadonlyMap<string, Channel>;
  payloads: Payloads;
  alerts: AlertTransactions;
  enqueue: Enqueue;
}

export function createMustReach(deps: MustReachDeps) {
  const { clock, cfg, q, metrics: m, log, alerts, enqueue } = deps;
  const timer = dueTimer(clock, {
    next: () => q.nextReach(),
    fire,
    failed: (err) => log.error({ err }, 'must-reach ladder could not be read'),
    stopped: () => deps.run.stopped,
  });

  /** Put the alert on rung 0 (its app push), the next rung due one step from now; answers when. */
  async function begin(alertId: string): Promise<number> {
    const nextAt = clock.now() + cfg.mustReachStepMs;
    await q.startReach(alertId, nextAt);
    return nextAt;
  }

  async function start(fx: TxEffects, r: AlertRow, pushed: number): Promise<void> {
    const nextAt = await begin(r.id);
    // Nobody on duty, but the grid's group robots were told: the rung is live, it waits its step like any other.
    if (!pushed) pushed = await q.rungLive(r.id, 0);
    m.mustReach.inc({ rung: MUST_REACH_RUNGS[0], outcome: pushed ? 'sent' : 'skipped' });
    if (!pushed) await advance(fx, r.id, 'nobody to push to');
    // wake by this rung's due time without reading the schedule (a timer armed sooner stays); were the raise rolled
    // back, that wake-up would find nothing due and arm again from the schedule
    else timer.armBy(nextAt);
  }

  /** Queue the messages of one rung; answers what went out (targets masked). */
  async function enqueueRung(
    fx: TxEffects,
    r: AlertRow,
    rung: number,
  ): Promise<{ channel: string; target: string }[]> {
    const place = placeOf(r);
    const out: { channel: string; target: string }[] = [];
    const seen = new Set<string>();
    const notified = [...(await alerts.actors(r.id)).personIds]
      .map((id) => deps.people.get(id))
      .filter((p) => p !== undefined);
    const view = await alerts.viewIn(fx, r);
    const onDuty = onDutyOf(notified);
    const send = async (channel: string, target: string, personId: string | null, role: string) => {
      const key = `${channel}\u0000${target}`;
      if (!deps.channels.has(channel) || seen.has(key)) return;
      seen.add(key);
      const payload = deps.payloads.alarm(
        view,
        'must_reach',
        { personId, role, via: MUST_REACH_RUNGS[rung] ?? '' },
        clock.now(),
        onDuty,
      );
      await enqueue(fx, {
        alertId: r.id,
        channel,
        target,
        payload,
        personId,
        severity: 'critical',
        place,
        rung,
      });
      out.push({ channel, target: maskTarget(channel, target) });
    };
    if (rung === 1) {
      for (const p of notified) {
        for (const ch of PHONE_CHANNELS) if (p.phone) await send(ch, p.phone, p.id, p.role);
        for (const c of p.contacts) {
          if ((PHONE_CHANNELS as readonly string[]).includes(c.channel))
            await send(c.channel, c.target, p.id, p.role);
        }
      }
    } else if (rung === 2) {
      const res = await alerts.residentOf(r.device_id, fx);
      if (res?.familyPhone) for (const ch of PHONE_CHANNELS) await send(ch, res.familyPhone, null, 'family');
    }
    return out;
  }

  async function advance(fx: TxEffects, alertId: string, reason: string): Promise<void> {
    const cur = await q.reach(alertId);
    // through the transaction's rows (a copy): the rung's record reads no second one
    const seen = await alerts.rowOf(fx, alertId);
    const r = seen && { ...seen };
    if (cur?.state !== 'active' || !r) return;
    if (!OPEN_STATUSES.includes(r.status) || r.acknowledged_at !== null) {
      await q.stopReach(alertId);
      return;
    }
    // Rungs without any target (no robot configured, no phone known) are passed over, and said so.
    const skipped: string[] = [];
    for (let rung = cur.rung + 1; rung < MUST_REACH_RUNGS.length; rung++) {
      const name = MUST_REACH_RUNGS[rung] ?? '';
      const sent = await enqueueRung(fx, r, rung);
      if (sent.length) {
        await q.setReach(rung, clock.now() + cfg.mustReachStepMs, 'active', alertId);
        m.mustReach.inc({ rung: name, outcome: 'sent' });
        await alerts.record(fx, alertId, 'must_reach', SYSTEM, {
          rung,
          step: name,
          reason,
          skipped,
          targets: sent,
        });
        await timer.arm();
        return;
      }
      m.mustReach.inc({ rung: name, outcome: 'skipped' });
      skipped.push(name);
    }
    await q.setReach(MUST_REACH_RUNGS.length - 1, clock.now(), 'exhausted', alertId);
    m.mustReach.inc({ rung: 'end', outcome: 'exhausted' });
    await alerts.record(fx, alertId, 'must_reach_exhausted', SYSTEM, { reason, skipped }, { sink: false });
  }

  /** A rung whose every delivery is dead has failed: the ladder moves on now, not at its timeout. */
  async function rungDead(fx: TxEffects, alertId: string, rung: number): Promise<void> {
    const cur = await q.reach(alertId);
    if (cur?.state === 'active' && cur.rung === rung && !(await q.rungLive(alertId, rung))) {
      await advance(fx, alertId, `every ${MUST_REACH_RUNGS[rung]} delivery failed`);
    }
  }

  /**
   * One firing at a time: a rung is read due outside its transaction, so two firings at once would both advance
   * it (skipping the next rung's wait). One asked while a firing runs makes it read the due rungs once more.
   */
  let firing: Promise<void> | undefined;
  let again = false;
  function fire(): Promise<void> {
    if (firing !== undefined) {
      again = true;
      return firing;
    }
    firing = (async () => {
      do {
        again = false;
        await fireDue();
      } while (again && !deps.run.stopped);
      await timer.arm();
    })().finally(() => {
      firing = undefined;
    });
    return firing;
  }

  async function fireDue(): Promise<void> {
    if (deps.run.stopped) return;
    const { retries } = timer;
    const due = await q.dueReach(clock.now());
    const keyOf = (d: (typeof due)[number]) => `${d.alert_id}:${d.rung}:${d.next_at}`;
    retries.keepOnly(due.map(keyOf));
    for (const d of due) {
      if (deps.run.stopped) return;
      if (!retries.ready(keyOf(d))) continue;
      try {
        const taken = await alerts.tx(async (fx) => {
          // each rung once, however many instances share the database and saw it fall due
          if ((await q.takeReach(d.alert_id, d.rung, d.next_at)) === 0) return false;
          await advance(
            fx,
            d.alert_id,
            `not acknowledged within ${Math.round(cfg.mustReachStepMs / 1000)} s of ${MUST_REACH_RUNGS[d.rung]}`,
          );
          return true;
        });
        // another instance's now: still due in the next read until its transaction ends (escalation.ts)
        if (taken) retries.done(keyOf(d));
        else retries.busy(keyOf(d));
      } catch (err) {
        // rolled back, so the rung is still due: tried again with back-off, never left to stop the ladder
        const { attempts, retryInMs } = retries.failed(keyOf(d));
        log.error(
          { err, alertId: d.alert_id, attempts, retryInMs },
          'must-reach step failed; it is tried again',
        );
      }
    }
  }

  /** No more firings; resolves once the one running (if any) has ended. */
  async function stop(): Promise<void> {
    timer.cancel();
    await firing?.catch(() => undefined);
  }

  return { begin, start, advance, rungDead, fire, arm: timer.arm, stop };
}
