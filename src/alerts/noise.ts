/**
 * Noise control of the outbox: quiet hours hold minor messages, and non-critical alarms wait a moment for company
 * so a storm reaches each recipient as one digest. The worker app replaces a digest by its id, so it gets updates;
 * group robots, SMS and voice cannot take back what they sent, so each of them gets at most one summary per
 * window (`messages.robotWindowMs`), never a growing series.
 */
import { randomUUID } from 'node:crypto';
import type { Channel } from '../channels/channel.ts';
import type { Clock } from '../clock/clock.ts';
import type { AlarmMessage, DigestItem, RatingLinkMessage } from '../domain/alarm.ts';
import type { PlacePath } from '../domain/places.ts';
import { type Severity, severityRank } from '../domain/severity.ts';
import type { AlertStatements } from './alert-store.ts';
import type { AlertsConfig } from './config.ts';
import type { AlertsMetrics } from './metrics.ts';
import { APP_CHANNELS } from './must-reach.ts';
import type { Payloads } from './payloads.ts';
import { digestItem, tally } from './payloads.ts';
import { maskTarget } from './privacy.ts';
import type { QuietHoursStore } from './quiet-hours.ts';
import type { OutboxRow } from './tables.ts';
import type { AlertTransactions, TxEffects } from './transactions.ts';
import { SYSTEM } from './types.ts';

/** One message for the outbox (the routing decides; `enqueue` applies quiet hours, digests and the ladder). */
export interface Outgoing {
  alertId: string;
  channel: string;
  target: string;
  payload: AlarmMessage | RatingLinkMessage;
  personId?: string | null;
  severity: Severity;
  place: PlacePath;
  rung?: number | null;
}

export type Enqueue = (fx: TxEffects, o: Outgoing) => Promise<void>;

export interface NoiseControlDeps {
  clock: Clock;
  cfg: AlertsConfig;
  q: AlertStatements;
  metrics: AlertsMetrics;
  /** Outbox channels by name: whether a channel's messages are in the timeline (and so may be held or folded). */
  channels: ReadonlyMap<string, Channel>;
  quietHours: QuietHoursStore;
  payloads: Payloads;
  alerts: AlertTransactions;
}

export function createNoiseControl(deps: NoiseControlDeps) {
  const { clock, cfg, q, metrics: m, alerts } = deps;

  /**
   * Queue one alarm message. Critical ones go out now and are never held or folded. Minor ones are held through
   * the quiet hours of their recipient or place. Non-critical ones wait `digestWaitMs` for company, so a storm
   * reaches each recipient as one digest.
   */
  async function enqueue(fx: TxEffects, o: Outgoing): Promise<void> {
    const now = clock.now();
    const timeline = deps.channels.get(o.channel)?.recordInTimeline !== false;
    let nextAt = now;
    let heldUntil: number | null = null;
    if (o.severity === 'minor' && timeline) {
      heldUntil = deps.quietHours.heldUntil(o.personId ?? null, o.place, now);
      if (heldUntil !== null) {
        nextAt = heldUntil;
        m.held.inc();
        await alerts.record(
          fx,
          o.alertId,
          'held_quiet_hours',
          SYSTEM,
          { channel: o.channel, target: maskTarget(o.channel, o.target), until: heldUntil },
          { sink: false, stream: false },
        );
      }
    }
    const digestible = o.severity !== 'critical' && timeline && o.payload.kind === 'alarm';
    if (digestible && heldUntil === null) nextAt = now + cfg.digestWaitMs;
    await alerts.insertRow({
      alertId: o.alertId,
      channel: o.channel,
      target: o.target,
      payload: o.payload,
      nextAt,
      personId: o.personId ?? null,
      severity: o.severity,
      digestible,
      rung: o.rung ?? null,
      heldUntil,
      maxAttempts: o.rung !== null && o.rung !== undefined ? cfg.mustReachMaxAttempts : null,
    });
  }

  /**
   * When the first gathered alarm of a recipient falls due, fold it and every other gathered one into one digest
   * message. Within `digestUpdateWindowMs` of the last digest the same digest is updated (same id, next version,
   * all items so far), so a receiver can replace the message instead of stacking them.
   */
  async function tryFold(row: OutboxRow): Promise<boolean> {
    const now = clock.now();
    const editable = APP_CHANNELS.has(row.channel);
    const prev = await q.digest(row.channel, row.target);
    if (!editable && prev !== undefined) {
      const windowEnd = prev.last_at + cfg.messages.robotWindowMs;
      if (now < windowEnd) {
        // This group already heard from us within the window: the alarm waits for the window's summary.
        await q.postpone(windowEnd, row.id);
        m.digests.inc({ kind: 'postponed' });
        return true;
      }
    }
    const siblings = await q.digestSiblings(row.channel, row.target, now + cfg.digestWaitMs, now);
    if (siblings.length < 2) {
      // Sent alone; for a channel that cannot edit, it opens the window all the same.
      if (!editable) await q.putDigest(row.channel, row.target, 'single', 0, '[]', now, now);
      return false;
    }
    await alerts.tx(async (fx) => {
      const reuse = editable && prev !== undefined && prev.last_at >= now - cfg.digestUpdateWindowMs;
      const items = new Map<string, DigestItem>();
      if (reuse) {
        for (const i of JSON.parse(prev.items) as DigestItem[]) items.set(String(i.alertId), i);
      }
      const first = JSON.parse((siblings[0] as OutboxRow).payload) as AlarmMessage;
      for (const s of siblings) {
        const p = JSON.parse(s.payload) as AlarmMessage;
        items.set(String(p.alertId), digestItem(p));
      }
      const digestId = reuse ? prev.digest_id : `dg-${randomUUID()}`;
      const version = reuse ? prev.version + 1 : 1;
      const all = [...items.values()];
      await q.putDigest(
        row.channel,
        row.target,
        digestId,
        version,
        JSON.stringify(all),
        reuse ? prev.started_at : now,
        now,
      );
      const severity = siblings.reduce<Severity>(
        (a, s) => (severityRank(s.severity ?? 'minor') > severityRank(a) ? (s.severity as Severity) : a),
        'minor',
      );
      const payload = deps.payloads.digest({
        digestId,
        version,
        items: all,
        newCount: siblings.length,
        severity,
        // Robots get every item: their template lists what fits the platform and counts the rest.
        maxItems: editable ? cfg.digestMaxItems : 1000,
        recipient: first.recipient,
        personId: row.person_id,
        now,
        tally: tally(all),
      });
      for (const s of siblings) await q.fold(`folded into digest ${digestId} v${version}`, s.id);
      await alerts.insertRow({
        alertId: row.alert_id,
        channel: row.channel,
        target: row.target,
        payload,
        nextAt: now,
        personId: row.person_id,
        severity,
      });
      const seen = new Set<string>();
      for (const s of siblings) {
        if (seen.has(s.alert_id)) continue;
        seen.add(s.alert_id);
        await alerts.record(
          fx,
          s.alert_id,
          'folded_into_digest',
          SYSTEM,
          { digestId, version, channel: row.channel, target: maskTarget(row.channel, row.target) },
          { sink: false, stream: false },
        );
      }
      m.digests.inc({ kind: 'digest' });
      m.digests.inc({ kind: 'folded' }, siblings.length);
    });
    return true;
  }

  return { enqueue, tryFold };
}
