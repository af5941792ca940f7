/** Who hears of an alert: the people on duty for each role at its place, on every channel they can be reached. */

import type { Logger } from 'pino';
import type { Channel } from '../channels/channel.ts';
import type { Clock } from '../clock/clock.ts';
import type { OnDuty } from '../domain/alarm.ts';
import type { PersonRole } from '../domain/records.ts';
import type { DutyPick, PeopleStore } from '../registry/people.ts';
import type { AuditLog } from './audit-log.ts';
import type { ChannelTargetStore } from './channel-targets.ts';
import type { AlertsConfig } from './config.ts';
import { APP_CHANNELS, ROBOT_CHANNELS } from './must-reach.ts';
import type { Enqueue } from './noise.ts';
import type { Payloads } from './payloads.ts';
import { onDutyOf, residentCard } from './payloads.ts';
import { placeOf } from './places.ts';
import type { AlertRow } from './tables.ts';
import type { AlertTransactions, TxEffects } from './transactions.ts';
import type { AlertView } from './types.ts';

export interface Notified {
  personId: string;
  name: string;
  role: string;
  via: string;
}

export type Notify = (
  fx: TxEffects,
  r: AlertRow,
  roles: readonly PersonRole[],
  change: string,
) => Promise<Notified[]>;
export type CallLeaders = (fx: TxEffects, r: AlertRow, already: readonly Notified[]) => Promise<Notified[]>;

export interface RoutingDeps {
  clock: Clock;
  cfg: AlertsConfig;
  log: Logger;
  payloads: Payloads;
  people: PeopleStore;
  channels: ReadonlyMap<string, Channel>;
  channelTargets: ChannelTargetStore;
  audit: AuditLog;
  alerts: AlertTransactions;
  enqueue: Enqueue;
}

export function createRouting(deps: RoutingDeps): { notify: Notify; callLeaders: CallLeaders } {
  const { clock, log, payloads, alerts, enqueue } = deps;

  /**
   * The app messages (MQTT, Web Push) to a person acting on the alert carry the resident's card unmasked: they
   * have to call back and know whom they go to. Each such message is an unmasked read, so each is audited.
   */
  async function withCard(
    fx: TxEffects,
    r: AlertRow,
    payload: ReturnType<typeof payloads.alarm>,
    personId: string,
    channel: string,
  ) {
    if (!APP_CHANNELS.has(channel) || !payload.resident) return payload;
    const res = await alerts.residentOf(r.device_id, fx);
    if (!res) return payload;
    await deps.audit.record({
      username: `person:${personId}`,
      action: 'resident.sent',
      subject: `resident:${res.id}`,
      alertId: r.id,
      detail: { channel, fields: ['name', 'phone', 'familyName', 'familyPhone', 'healthNotes'] },
    });
    return { ...payload, residentCard: residentCard(res) };
  }

  /** The group robots of the place and roles, with one message for the group (no person's card). */
  async function robots(
    fx: TxEffects,
    r: AlertRow,
    view: AlertView,
    roles: readonly PersonRole[],
    change: string,
    onDuty: OnDuty[],
    only?: Set<string>,
  ) {
    const place = placeOf(r);
    const targets = deps.channelTargets.match(place, roles);
    if (!targets.length) return;
    const payload = payloads.alarm(
      view,
      change,
      { personId: null, role: roles.join(','), via: 'channel_target' },
      clock.now(),
      onDuty,
    );
    for (const t of targets) {
      if (!deps.channels.has(t.channel) || (only && !only.has(t.channel))) continue;
      await enqueue(fx, {
        alertId: r.id,
        channel: t.channel,
        target: t.target,
        payload,
        severity: r.severity,
        place,
        rung: r.severity === 'critical' ? 0 : null,
      });
    }
  }

  /** Find who answers for each role now and queue one alarm per person and channel. */
  async function notify(
    fx: TxEffects,
    r: AlertRow,
    roles: readonly PersonRole[],
    change: string,
  ): Promise<Notified[]> {
    const at = clock.now();
    const place = placeOf(r);
    const picks: DutyPick[] = [];
    for (const role of roles) {
      for (const p of deps.people.resolve(place, role, at)) {
        if (!picks.some((x) => x.person.id === p.person.id)) picks.push(p);
      }
    }
    const onDuty = onDutyOf(picks.map((p) => ({ ...p.person, as: p.role })));
    const critical = r.severity === 'critical';
    const view = await alerts.viewIn(fx, r);
    for (const pick of picks) {
      const payload = payloads.alarm(view, change, pick, clock.now(), onDuty);
      const out = async (channel: string, target: string) =>
        await enqueue(fx, {
          alertId: r.id,
          channel,
          target,
          payload: await withCard(fx, r, payload, pick.person.id, channel),
          personId: pick.person.id,
          severity: r.severity,
          place,
          // A critical alert's app push and group robots are rung 0 of its must-reach ladder; SMS and voice wait.
          rung: critical ? 0 : null,
        });
      await out('mqtt', pick.person.id);
      const targets = new Set<string>();
      for (const [name, ch] of deps.channels) {
        for (const t of ch.targetsFor?.(pick.person.id) ?? []) targets.add(`${name}\u0000${t}`);
      }
      for (const c of pick.person.contacts) {
        if (c.channel !== 'mqtt' && deps.channels.has(c.channel))
          targets.add(`${c.channel}\u0000${c.target}`);
      }
      for (const key of targets) {
        const [channel = '', target = ''] = key.split('\u0000');
        if (!critical || APP_CHANNELS.has(channel) || ROBOT_CHANNELS.has(channel)) await out(channel, target);
      }
    }
    // Group robots of the place: with the app push, for critical alerts too (the whole group sees a fire at once).
    await robots(fx, r, view, roles, change, onDuty, critical ? ROBOT_CHANNELS : undefined);
    if (!picks.length) {
      log.warn({ alertId: r.id, roles, place }, 'nobody on duty to notify');
    }
    return picks.map((p) => ({ personId: p.person.id, name: p.person.name, role: p.role, via: p.via }));
  }

  /**
   * The grid leader of the place, on duty or not, for the severities of `messages.leaderCall`: an app alarm (when
   * duty did not already pick them) and a voice call. At night the roster may have no leader on shift, but a fire
   * is still theirs to know.
   */
  async function callLeaders(fx: TxEffects, r: AlertRow, already: readonly Notified[]): Promise<Notified[]> {
    if (!deps.cfg.messages.leaderCall[r.severity]) return [];
    const place = placeOf(r);
    const leaders = deps.people.peopleAt(place, 'grid_leader').filter((p) => p.active);
    const onDuty = onDutyOf([
      ...already.map((n) => ({ id: n.personId, name: n.name, role: n.role, phone: null })),
      ...leaders,
    ]);
    const called: Notified[] = [];
    for (const leader of leaders) {
      const pick = { personId: leader.id, role: 'grid_leader', via: 'leader_call' };
      const payload = payloads.alarm(await alerts.viewIn(fx, r), 'leader_call', pick, clock.now(), onDuty);
      const send = async (channel: string, target: string) => {
        if (!deps.channels.has(channel)) return;
        await enqueue(fx, {
          alertId: r.id,
          channel,
          target,
          payload: await withCard(fx, r, payload, leader.id, channel),
          personId: leader.id,
          // Never held by quiet hours, never folded: this is the call that wakes the leader.
          severity: 'critical',
          place,
        });
      };
      if (!already.some((n) => n.personId === leader.id)) await send('mqtt', leader.id);
      if (leader.phone) await send('voice', leader.phone);
      called.push({ personId: leader.id, name: leader.name, role: 'grid_leader', via: 'leader_call' });
    }
    return called;
  }

  return { notify, callLeaders };
}
