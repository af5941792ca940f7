/** Who hears of an alert: the people on duty for each role at its place, on every channel they can be reached. */
import type { PersonRole } from '../domain/records.ts';
import type { DutyPick } from '../registry/people.ts';
import type { AlertsContext } from './context.ts';
import { APP_CHANNELS } from './must-reach.ts';
import type { Enqueue } from './noise.ts';
import { alarmPayload } from './payloads.ts';
import type { AlertRow } from './rows.ts';
import type { AlertStore, TxEffects } from './store.ts';
import { placeOf } from './views.ts';

export interface Notified {
  personId: string;
  name: string;
  role: string;
  via: string;
}

export type Notify = (fx: TxEffects, r: AlertRow, roles: readonly PersonRole[], change: string) => Notified[];

export function createRouting(ctx: AlertsContext, store: AlertStore, enqueue: Enqueue): { notify: Notify } {
  const { clock, log } = ctx;

  /** Find who answers for each role now and queue one alarm per person and channel. */
  function notify(fx: TxEffects, r: AlertRow, roles: readonly PersonRole[], change: string): Notified[] {
    const at = clock.now();
    const place = placeOf(r);
    const picks: DutyPick[] = [];
    for (const role of roles) {
      for (const p of ctx.people.resolve(place, role, at)) {
        if (!picks.some((x) => x.person.id === p.person.id)) picks.push(p);
      }
    }
    const critical = r.severity === 'critical';
    for (const pick of picks) {
      const payload = alarmPayload(store.view(r), change, pick, clock.now());
      const out = (channel: string, target: string) =>
        enqueue(fx, {
          alertId: r.id,
          channel,
          target,
          payload,
          personId: pick.person.id,
          severity: r.severity,
          place,
          // A critical alert's app push is rung 0 of its must-reach ladder; the other channels wait their rung.
          rung: critical ? 0 : null,
        });
      out('mqtt', pick.person.id);
      const targets = new Set<string>();
      for (const [name, ch] of ctx.channels) {
        for (const t of ch.targetsFor?.(pick.person.id) ?? []) targets.add(`${name}\u0000${t}`);
      }
      for (const c of pick.person.contacts) {
        if (c.channel !== 'mqtt' && ctx.channels.has(c.channel)) targets.add(`${c.channel}\u0000${c.target}`);
      }
      for (const key of targets) {
        const [channel = '', target = ''] = key.split('\u0000');
        if (!critical || APP_CHANNELS.has(channel)) out(channel, target);
      }
    }
    if (!critical) {
      // Group robots and other configured targets of the place and roles: at once for non-critical alerts;
      // for critical ones they are the ladder's second rung.
      const payload = alarmPayload(
        store.view(r),
        change,
        { personId: null, role: roles.join(','), via: 'channel_target' },
        clock.now(),
      );
      for (const t of ctx.channelTargets.match(place, roles)) {
        if (!ctx.channels.has(t.channel)) continue;
        enqueue(fx, {
          alertId: r.id,
          channel: t.channel,
          target: t.target,
          payload,
          severity: r.severity,
          place,
        });
      }
    }
    if (!picks.length) {
      log.warn({ alertId: r.id, roles, place }, 'nobody on duty to notify');
    }
    return picks.map((p) => ({ personId: p.person.id, name: p.person.name, role: p.role, via: p.via }));
  }

  return { notify };
}
