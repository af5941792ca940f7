/**
 * What rule results do to alerts: open (deduplicated per device, grouped into incidents, reopened when the same
 * trouble comes back soon after a resolution, dropped while suppressed), update, clear and resident facts.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { v7 as uuidv7 } from 'uuid';
import type { Channel } from '../channels/channel.ts';
import type { Clock } from '../clock/clock.ts';
import type { AlertClear, AlertFact, AlertRaise, AlertUpdate } from '../domain/rule-result.ts';
import { insertedAlert, NOT_HANDLED } from './alert-statements.ts';
import type { AlertStatements, NewAlert } from './alert-store.ts';
import type { AlertsConfig } from './config.ts';
import type { Escalation } from './escalation.ts';
import type { AlertsMetrics } from './metrics.ts';
import type { MustReach } from './must-reach.ts';
import type { Enqueue } from './noise.ts';
import type { Payloads } from './payloads.ts';
import { placeOf } from './places.ts';
import type { ResidentStore } from './residents.ts';
import type { Notify } from './routing.ts';
import type { AlertRow } from './tables.ts';
import type { AlertTransactions, TxEffects } from './transactions.ts';
import type { Resolution } from './types.ts';
import { SYSTEM } from './types.ts';

export function sha256(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}

export type Lifecycle = ReturnType<typeof createLifecycle>;

export interface LifecycleDeps {
  clock: Clock;
  cfg: AlertsConfig;
  q: AlertStatements;
  metrics: AlertsMetrics;
  log: Logger;
  /** Whether the rating link can go out by SMS. */
  channels: ReadonlyMap<string, Channel>;
  residents: ResidentStore;
  payloads: Payloads;
  /** The hub's address as phones reach it, for the rating link. */
  publicUrl(): string;
  alerts: AlertTransactions;
  notify: Notify;
  escalation: Escalation;
  mustReach: MustReach;
  enqueue: Enqueue;
}

export function createLifecycle(deps: LifecycleDeps) {
  const { clock, cfg, q, metrics: m, log, alerts } = deps;
  const { tx, record, setFields } = alerts;
  const { notify, escalation, mustReach } = deps;

  /**
   * Notify the first step of the ladder, schedule the later ones and, for critical alerts, start must-reach. The
   * alert is open; its row says 'dispatched' already (the status its messages give it, written by the caller's
   * insert or update: one UPDATE less per raise), and goes back to open if nobody could be found.
   */
  async function dispatchFirst(fx: TxEffects, id: string, change: string): Promise<void> {
    const sent = { ...((await alerts.rowOf(fx, id)) as AlertRow) };
    const step = cfg.ladders[sent.severity][0];
    const recipients = step ? await notify(fx, sent, step.roles, change) : [];
    if (recipients.length) {
      await record(fx, id, 'dispatched', SYSTEM, { step: 0, roles: step?.roles ?? [], recipients });
    } else {
      await setFields(id, { status: 'open' });
      await record(fx, id, 'unrouted', SYSTEM, { step: 0, roles: step?.roles ?? [] });
    }
    await escalation.scheduleLadder((await alerts.rowOf(fx, id)) as AlertRow);
    if (sent.severity === 'critical') await mustReach.start(fx, sent, recipients.length);
  }

  async function raise(res: AlertRaise): Promise<void> {
    const at = res.at;
    await tx(async (fx) => {
      const journalId = res.reading?.kind === 'event' ? res.reading.journalId : undefined;
      if (journalId !== undefined && (await q.journalSeen(journalId, res.ruleId, clock.now())) === 0) {
        log.info({ journalId, ruleId: res.ruleId, deviceId: res.deviceId }, 'replayed event already taken');
        // the journal-replay half of "duplicates counted" (ingest counts the redeliveries it recognises)
        m.raised.inc({ severity: res.severity, outcome: 'replayed' });
        return;
      }
      // The same press through another journal row (another instance's, on a shared store): what the device
      // named it is the identity that holds across instances.
      const eventId = res.reading?.kind === 'event' ? res.reading.eventId : undefined;
      if (
        eventId !== undefined &&
        (await q.eventSeen(res.deviceId, eventId, res.ruleId, clock.now())) === 0
      ) {
        log.info({ eventId, ruleId: res.ruleId, deviceId: res.deviceId }, 'event already raised');
        m.raised.inc({ severity: res.severity, outcome: 'replayed' });
        return;
      }
      if (await q.suppression(res.ruleId, res.deviceId, at)) {
        await q.countSuppressed(res.ruleId, res.deviceId);
        m.raised.inc({ severity: res.severity, outcome: 'suppressed' });
        return;
      }
      if (res.dedup === 'per-device') {
        const found = await q.raised(res.ruleId, res.deviceId, at - cfg.reopenWindowMs);
        const resolved = found.find((r) => r.status === 'resolved');
        const openAlert = found.find((r) => r !== resolved);
        if (openAlert) return await repeat(fx, res, openAlert);
        if (resolved) return await reopen(fx, res, resolved);
      }
      await open(fx, res);
    }, 'result');
    // committed: the delay an operator watches (a queue behind the store shows here first)
    const delayMs = res.reading ? clock.now() - res.reading.receivedAt : Number.NaN;
    // prom-client refuses NaN; a reading stamped by another clock (a test's) cannot be measured
    if (delayMs >= 0) m.raiseDelay.observe({ severity: res.severity }, delayMs / 1000);
  }

  /** The same trouble again while its alert is open: count it on that alert. */
  async function repeat(fx: TxEffects, res: AlertRaise, open: AlertRow): Promise<void> {
    await q.repeat(res.at, res.detail, JSON.stringify(res.evidence ?? {}), clock.now(), open.id);
    alerts.forgetRow(fx, open.id);
    m.raised.inc({ severity: res.severity, outcome: 'repeated' });
    await record(fx, open.id, 'repeated', `rule:${res.ruleId}`, { count: open.count + 1 }, { sink: false });
  }

  /** The same trouble soon after a real resolution: the fix did not hold, so the alert opens again. */
  async function reopen(fx: TxEffects, res: AlertRaise, recent: AlertRow): Promise<void> {
    const at = res.at;
    await q.voidAll(recent.id);
    await setFields(recent.id, {
      // what dispatchFirst gives it right below; the 'reopened' change shows it open
      status: 'dispatched',
      count: recent.count + 1,
      last_seen_at: at,
      clock_start: clock.now(),
      ...NOT_HANDLED,
      reopened: 1,
      detail: res.detail,
    });
    m.raised.inc({ severity: res.severity, outcome: 'reopened' });
    await record(
      fx,
      recent.id,
      'reopened',
      `rule:${res.ruleId}`,
      { previousResolution: recent.resolution, resolvedAt: recent.resolved_at },
      { shown: { status: 'open' } },
    );
    await dispatchFirst(fx, recent.id, 'reopened');
  }

  async function open(fx: TxEffects, res: AlertRaise): Promise<void> {
    const at = res.at;
    // Time-ordered (UUID version 7): the alert's row and every index keyed by its id take it at their end, where a
    // B-tree grows by one page at a time, not at a random leaf (bench/raise.ts: fewer pages a raise writes).
    const id = uuidv7();
    const groupKey = res.place.building ?? res.placeId;
    let incidentId = (await q.incidentFor(res.category, groupKey, at - cfg.incidentWindowMs))?.id;
    if (incidentId) await q.joinIncident(at, incidentId);
    else {
      incidentId = `inc-${uuidv7()}`;
      await q.insertIncident(incidentId, res.category, groupKey, JSON.stringify(res.place), at, at);
    }
    const alert: NewAlert = {
      id,
      ruleId: res.ruleId,
      deviceId: res.deviceId,
      deviceType: res.deviceType,
      placeId: res.placeId,
      place: JSON.stringify(res.place),
      gridId: res.place.grid ?? null,
      floor: res.floor,
      severity: res.severity,
      category: res.category,
      title: res.title,
      detail: res.detail,
      evidence: JSON.stringify(res.evidence ?? {}),
      dedup: res.dedup,
      incidentId,
      at: clock.now(),
      // what dispatchFirst gives it right below; the 'opened' change shows it open
      status: 'dispatched',
    };
    await q.insertAlert(alert);
    alerts.rememberRow(fx, insertedAlert(alert));
    m.raised.inc({ severity: res.severity, outcome: 'opened' });
    await record(
      fx,
      id,
      'opened',
      `rule:${res.ruleId}`,
      { severity: res.severity, category: res.category, title: res.title, incidentId, at: res.at },
      { shown: { status: 'open' } },
    );
    await dispatchFirst(fx, id, 'opened');
  }

  async function update(res: AlertUpdate): Promise<void> {
    await tx(async (fx) => {
      const open = await q.openFor(res.ruleId, res.deviceId);
      if (!open) return;
      await setFields(open.id, {
        detail: res.detail ?? open.detail,
        severity: res.severity ?? open.severity,
        evidence: JSON.stringify({ ...(JSON.parse(open.evidence) as object), ...(res.evidence ?? {}) }),
        last_seen_at: res.at,
      });
      if (res.severity && res.severity !== open.severity) {
        // The new severity's ladder takes over from the clock start; steps already due fire at once.
        await q.voidSteps(open.id);
        await escalation.scheduleLadder((await alerts.rowOf(fx, open.id)) as AlertRow, open.escalation_step);
        if (res.severity === 'critical' && open.acknowledged_at === null && !(await q.reach(open.id))) {
          await mustReach.begin(open.id);
          await mustReach.arm();
        }
      }
      await record(fx, open.id, 'updated', `rule:${res.ruleId}`, {
        detail: res.detail,
        severity: res.severity,
        evidence: res.evidence,
      });
    }, 'result');
  }

  async function clear(res: AlertClear): Promise<void> {
    await tx(async (fx) => {
      const open = await q.openFor(res.ruleId, res.deviceId);
      if (!open) return;
      await resolveRow(fx, open, `rule:${res.ruleId}`, res.resolution, res.note);
    }, 'result');
  }

  async function fact(res: AlertFact): Promise<void> {
    await tx(async (fx) => {
      const open = await q.openFor(res.ruleId, res.deviceId);
      if (!open) return;
      // The resident says it was nothing; a worker still has to confirm, so the alert stays open.
      await setFields(open.id, { cancelled_by_resident: 1 });
      await record(fx, open.id, res.fact, `rule:${res.ruleId}`, { note: res.note });
    }, 'result');
  }

  /** Resolve in the caller's transaction: timers and the ladder stop; answers the resident's rating token. */
  async function resolveRow(
    fx: TxEffects,
    r: AlertRow,
    actor: string,
    resolution: Resolution,
    note: string,
  ): Promise<string> {
    const now = clock.now();
    await q.voidAll(r.id);
    await q.stopReach(r.id);
    await setFields(r.id, {
      status: 'resolved',
      resolved_at: now,
      resolved_by: actor,
      resolution,
      resolution_note: note,
    });
    const token = randomBytes(18).toString('base64url');
    await q.insertRatingToken(sha256(token), r.id, now + cfg.ratingTokenTtlMs);
    await record(fx, r.id, 'resolved', actor, { resolution, note });
    if (resolution === 'handled' || resolution === 'referred') await sendRatingLink(fx, r, token);
    return token;
  }

  /**
   * The closed loop for residents: the one behind the device (else their family) gets the rating page's link by
   * SMS. Sent as a minor message, so the quiet hours of the place hold it until morning.
   */
  async function sendRatingLink(fx: TxEffects, r: AlertRow, token: string): Promise<void> {
    if (!cfg.messages.ratingSms || !deps.channels.has('sms')) return;
    const res = await deps.residents.forDevice(r.device_id);
    const phone = res?.phone ?? res?.familyPhone;
    if (!res || !phone) return;
    const place = placeOf(r);
    await deps.enqueue(fx, {
      alertId: r.id,
      channel: 'sms',
      target: phone,
      payload: {
        kind: 'rating_link',
        alertId: r.id,
        category: r.category,
        title: r.title,
        placePath: deps.payloads.placePath(place),
        floor: r.floor,
        lang: cfg.messages.language,
        base: deps.publicUrl().replace(/\/$/, ''),
        token,
        sentAt: clock.now(),
      },
      severity: 'minor',
      place,
    });
    await record(
      fx,
      r.id,
      'rating_link_sent',
      SYSTEM,
      { channel: 'sms', to: res.phone ? 'resident' : 'family' },
      { sink: false },
    );
  }

  return { raise, update, clear, fact, resolveRow };
}
