import { afterEach, describe, expect, it } from 'vitest';
import type { AlertView } from '../../src/alerts/types.ts';
import { createHarness, type Harness, raise, seedCommunity } from './fixtures.ts';

const MIN = 60_000;
let h: Harness;

afterEach(async () => {
  await h?.close();
});

async function start(options: Parameters<typeof createHarness>[0] = {}): Promise<Harness> {
  h = createHarness(options);
  seedCommunity(h.registry);
  await h.dispatcher.start();
  return h;
}

describe('dispatcher', () => {
  it('routes a smoke alarm to the on-duty worker of its grid and the property duty, with everything a phone needs', async () => {
    await start();
    await h.dispatcher.handle(raise(h.registry, h.clock, { placeId: 'b1', deviceId: 'smoke-b1-3' }));
    await h.dispatcher.drain();

    const [alert] = (await h.dispatcher.list({})).items;
    expect(alert?.status).toBe('dispatched');
    expect(h.publisher.sent.map((s) => s.workerId).sort()).toEqual(['p1', 'w1']);
    const msg = h.publisher.to('w1')[0]?.payload;
    expect(msg).toMatchObject({
      kind: 'alarm',
      change: 'opened',
      alertId: alert?.id,
      severity: 'critical',
      category: 'fire',
      title: '烟感报警',
      placeNames: ['青龙街道', '幸福社区', '第一网格', '阳光小区', '1号楼'],
      device: { id: 'smoke-b1-3', type: 'smoke' },
      floor: 3,
      evidence: { smoke: 0.4 },
      sla: { acknowledgeBy: h.clock.now() + MIN, arriveBy: h.clock.now() + 15 * MIN },
      recipient: { personId: 'w1', role: 'grid_worker', via: 'on_duty' },
    });
    expect(msg?.actions).toContain('acknowledge');
    // Nobody in the other grid hears of it.
    expect(h.publisher.to('w2')).toEqual([]);
    // Timeline: opened, dispatched, and a delivery receipt per person.
    const types = (await h.dispatcher.timeline(alert?.id ?? '')).map((e) => e.type);
    expect(types.slice(0, 2)).toEqual(['opened', 'dispatched']);
    expect(types.filter((t) => t === 'delivered')).toHaveLength(2);
    // Sink gets the state changes.
    expect(h.sink.changes.map((c) => c.change)).toEqual(['opened', 'dispatched']);
  });

  it('notifies the grid leader at exactly 1 minute when nobody acknowledges, and not when someone does', async () => {
    await start();
    await h.dispatcher.handle(raise(h.registry, h.clock, { placeId: 'b1' }));
    await h.dispatcher.drain();
    const t0 = h.clock.now();
    await h.clock.advanceAsync(MIN - 1);
    await h.dispatcher.drain();
    expect(h.publisher.to('l1')).toEqual([]);
    await h.clock.advanceAsync(1);
    await h.dispatcher.drain();
    expect(h.publisher.to('l1')).toHaveLength(1);
    expect(h.publisher.to('l1')[0]?.at).toBe(t0 + MIN);
    expect(h.publisher.to('l1')[0]?.payload).toMatchObject({ change: 'escalated' });
    const alert = (await h.dispatcher.list({})).items[0];
    expect(alert?.escalated).toBe(true);
    expect(alert?.reach).toBe('grid');

    // A second alert, acknowledged in time: the leader hears nothing more of it.
    await h.dispatcher.handle(raise(h.registry, h.clock, { placeId: 'b1', ruleId: 'other' }));
    const second = (await h.dispatcher.list({ status: ['dispatched'] })).items[0];
    h.clock.advance(30_000);
    await h.dispatcher.acknowledge(second?.id ?? '', 'w1');
    await h.clock.advanceAsync(10 * MIN);
    await h.dispatcher.drain();
    expect(h.publisher.to('l1').filter((s) => s.payload.alertId === second?.id)).toEqual([]);
  });

  it('walks the whole critical ladder: community duty at 5 min, street command at 60 min', async () => {
    await start();
    await h.dispatcher.handle(raise(h.registry, h.clock, { placeId: 'b1' }));
    const t0 = h.clock.now();
    await h.clock.advanceAsync(61 * MIN);
    await h.dispatcher.drain();
    expect(h.publisher.to('cd1')[0]?.at).toBe(t0 + 5 * MIN);
    expect(h.publisher.to('cd1')).toHaveLength(1);
    expect(h.publisher.to('sc1')[0]?.at).toBe(t0 + 60 * MIN);
    expect((await h.dispatcher.list({})).items[0]?.reach).toBe('street');
  });

  it('tries an escalation step whose transaction failed again, with back-off, instead of dropping it', async () => {
    await start();
    await h.dispatcher.handle(raise(h.registry, h.clock, { placeId: 'b1' }));
    await h.dispatcher.drain();
    const t0 = h.clock.now();
    // the store refuses the step's timeline row, as a full disk or a lost connection would: the step rolls back
    h.db.exec(
      "CREATE TEMP TRIGGER refuse_escalation BEFORE INSERT ON alert_events WHEN NEW.type = 'escalated' BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END",
    );
    await h.clock.advanceAsync(MIN);
    await h.dispatcher.drain();
    expect(h.publisher.to('l1')).toEqual([]);
    await h.clock.advanceAsync(1_000);
    await h.dispatcher.drain();
    expect(h.publisher.to('l1')).toEqual([]);

    h.db.exec('DROP TRIGGER refuse_escalation');
    // attempts at 1 min, + 1 s, + 2 s: the third goes through
    await h.clock.advanceAsync(2_000);
    await h.dispatcher.drain();
    expect(h.publisher.to('l1').map((s) => s.at)).toEqual([t0 + MIN + 3_000]);
    const [alert] = (await h.dispatcher.list({})).items;
    const steps = (await h.dispatcher.timeline(alert?.id ?? '')).filter((e) => e.type === 'escalated');
    expect(steps).toHaveLength(1);
    await h.clock.advanceAsync(10 * MIN);
    await h.dispatcher.drain();
    expect(h.publisher.to('l1')).toHaveLength(1);
  });

  it('escalates to community duty when acknowledged but not on site at 15 min', async () => {
    await start();
    await h.dispatcher.handle(raise(h.registry, h.clock, { placeId: 'b1' }));
    const t0 = h.clock.now();
    const id = (await h.dispatcher.list({})).items[0]?.id ?? '';
    h.clock.advance(30_000);
    await h.dispatcher.acknowledge(id, 'w1');
    await h.clock.advanceAsync(20 * MIN);
    await h.dispatcher.drain();
    expect(h.publisher.to('l1')).toEqual([]);
    expect(h.publisher.to('cd1').map((s) => s.at)).toEqual([t0 + 15 * MIN]);
  });

  it('fires the next step on time after a restart in the middle of the ladder', async () => {
    await start();
    await h.dispatcher.handle(raise(h.registry, h.clock, { placeId: 'b1' }));
    const t0 = h.clock.now();
    await h.clock.advanceAsync(2 * MIN);
    await h.dispatcher.drain();
    expect(h.publisher.to('l1')).toHaveLength(1);
    // Crash-like stop: the process goes away; a new dispatcher opens the same file.
    await h.dispatcher.stop();
    h.db.close();
    await h.clock.advanceAsync(MIN);
    const second = h.restart();
    await second.start();
    await h.clock.advanceAsync(2 * MIN - 1);
    await second.drain();
    expect(h.publisher.to('cd1')).toEqual([]);
    await h.clock.advanceAsync(1);
    await second.drain();
    expect(h.publisher.to('cd1').map((s) => s.at)).toEqual([t0 + 5 * MIN]);
    // The leader is not called twice.
    expect(h.publisher.to('l1')).toHaveLength(1);
  });

  it('fires an overdue step at once when the hub was down past its due time', async () => {
    await start();
    await h.dispatcher.handle(raise(h.registry, h.clock, { placeId: 'b1' }));
    await h.dispatcher.stop();
    h.db.close();
    h.clock.advance(3 * MIN);
    const second = h.restart();
    await second.start();
    await second.drain();
    expect(h.publisher.to('l1').map((s) => s.at)).toEqual([h.clock.now()]);
    // Deliveries queued before the stop were not lost either.
    expect(h.publisher.to('w1')).toHaveLength(1);
  });

  it('gives two alerts for two presses of one button, and one alert with a count for repeats of a sensor', async () => {
    await start();
    const press = {
      placeId: 'b1u1',
      ruleId: 'call.press',
      deviceId: 'btn-1',
      deviceType: 'call_button' as const,
    };
    await h.dispatcher.handle(
      raise(h.registry, h.clock, { ...press, dedup: 'per-occurrence', category: 'call' }),
    );
    h.clock.advance(5000);
    await h.dispatcher.handle(
      raise(h.registry, h.clock, { ...press, dedup: 'per-occurrence', category: 'call' }),
    );
    expect((await h.dispatcher.list({ category: 'call' })).total).toBe(2);

    await h.dispatcher.handle(raise(h.registry, h.clock, { placeId: 'b2', deviceId: 'smoke-x' }));
    h.clock.advance(1000);
    await h.dispatcher.handle(raise(h.registry, h.clock, { placeId: 'b2', deviceId: 'smoke-x' }));
    const smoke = (await h.dispatcher.list({ category: 'fire' })).items;
    expect(smoke).toHaveLength(1);
    expect(smoke[0]).toMatchObject({ count: 2, lastSeenAt: h.clock.now() });
  });

  it('groups three smoke sensors on one building into one incident of three alerts', async () => {
    await start();
    for (const floor of [3, 4, 5]) {
      await h.dispatcher.handle(
        raise(h.registry, h.clock, { placeId: 'b1', deviceId: `smoke-f${floor}`, floor }),
      );
      h.clock.advance(20_000);
    }
    // Another building, and the same building after the window: separate incidents.
    await h.dispatcher.handle(raise(h.registry, h.clock, { placeId: 'b2', deviceId: 'smoke-b2' }));
    const alerts = (await h.dispatcher.list({ place: 'b1' })).items;
    expect(alerts).toHaveLength(3);
    const incidents = new Set(alerts.map((a) => a.incidentId));
    expect(incidents.size).toBe(1);
    const incident = await h.dispatcher.incident([...incidents][0] ?? '');
    expect(incident?.alertIds.sort()).toEqual(alerts.map((a) => a.id).sort());
    expect((await h.dispatcher.list({ place: 'b2' })).items[0]?.incidentId).not.toBe(incident?.id);
    h.clock.advance(h.config.incidentWindowMs + 1);
    await h.dispatcher.handle(raise(h.registry, h.clock, { placeId: 'b1', deviceId: 'smoke-late' }));
    const late = (await h.dispatcher.list({ place: 'b1' })).items.find((a) => a.deviceId === 'smoke-late');
    expect(late?.incidentId).not.toBe(incident?.id);
  });

  it('auto-resolves on clear, reopens on a recurrence soon after, and records a resident cancel as a fact', async () => {
    await start();
    const r = raise(h.registry, h.clock, { placeId: 'b1', deviceId: 'smoke-c' });
    await h.dispatcher.handle(r);
    const base = {
      ruleId: r.ruleId,
      deviceId: r.deviceId,
      deviceType: r.deviceType,
      placeId: 'b1',
      place: r.place,
      floor: 3,
    };
    h.clock.advance(20_000);
    await h.dispatcher.handle({
      ...base,
      kind: 'clear',
      resolution: 'prevented',
      note: 'cleared in 20 s',
      at: h.clock.now(),
    });
    let a = (await h.dispatcher.list({})).items[0];
    expect(a).toMatchObject({ status: 'resolved', resolution: 'prevented' });
    h.clock.advance(5 * MIN);
    await h.dispatcher.handle({ ...r, at: h.clock.now() });
    a = (await h.dispatcher.list({})).items[0];
    expect((await h.dispatcher.list({})).total).toBe(1);
    expect(a).toMatchObject({ status: 'dispatched', reopened: true, count: 2, resolvedAt: null });
    expect((await h.dispatcher.timeline(a?.id ?? '')).map((e) => e.type)).toContain('reopened');

    const press = raise(h.registry, h.clock, {
      placeId: 'b1u1',
      ruleId: 'call.press',
      deviceId: 'btn-9',
      dedup: 'per-occurrence',
    });
    await h.dispatcher.handle(press);
    await h.dispatcher.handle({
      ...press,
      kind: 'fact',
      fact: 'cancelled_by_resident',
      note: 'resident pressed cancel',
    } as never);
    const call = (await h.dispatcher.list({})).items.find((x) => x.deviceId === 'btn-9');
    expect(call).toMatchObject({ status: 'dispatched', cancelledByResident: true });
    expect((await h.dispatcher.timeline(call?.id ?? '')).map((e) => e.type)).toContain(
      'cancelled_by_resident',
    );
  });

  it('falls back to the deputy, then to the community duty, when nobody of the role is on duty', async () => {
    // Minor alarms go out without waiting for a digest here: this is about who, not when.
    h = createHarness({ config: { digestWaitMs: 0 } });
    seedCommunity(h.registry);
    const people = h.dispatcher.people;
    // w1 is off today; his deputy d1 is on duty.
    await people.setShifts('w1', [{ weekday: 3, startMinute: 0, endMinute: 60 }]);
    await people.create({ id: 'd1', name: 'Deputy', role: 'grid_worker_parttime', placeIds: ['g1'] });
    await people.setShifts('d1', [{ weekday: 1, startMinute: 9 * 60, endMinute: 18 * 60 }]); // Monday 9–18 local
    await people.update('w1', { deputyId: 'd1' });
    await h.dispatcher.start();
    await h.dispatcher.handle(
      raise(h.registry, h.clock, { placeId: 'b1', severity: 'minor', category: 'bin' }),
    );
    await h.dispatcher.drain();
    expect(h.publisher.sent.map((s) => [s.workerId, (s.payload.recipient as { via: string }).via])).toEqual([
      ['d1', 'deputy'],
    ]);

    // The deputy goes on leave too: the community duty answers.
    await people.addOverride({
      personId: 'd1',
      startsAt: h.clock.now(),
      endsAt: h.clock.now() + 86_400_000,
      onLeave: true,
      note: 'sick',
    });
    await h.dispatcher.handle(
      raise(h.registry, h.clock, { placeId: 'b1', severity: 'minor', category: 'bin', deviceId: 'bin-2' }),
    );
    await h.dispatcher.drain();
    expect(h.publisher.sent.at(-1)).toMatchObject({
      workerId: 'cd1',
      payload: { recipient: { via: 'community_duty' } },
    });
  });

  it('leaves an alert nobody could be told of open, and says so in its timeline', async () => {
    h = createHarness();
    // a building and the places above it, and nobody serving any of them
    const levels = ['street', 'community', 'grid', 'estate', 'building'] as const;
    for (const [i, level] of levels.entries()) {
      const parentId = i === 0 ? null : `p${i - 1}`;
      await h.registry.places.create({
        id: level === 'building' ? 'b1' : `p${i}`,
        level,
        name: level,
        parentId,
      });
    }
    await h.dispatcher.start();
    await h.dispatcher.handle(raise(h.registry, h.clock, { placeId: 'b1', deviceId: 'smoke-alone' }));
    const [alert] = (await h.dispatcher.list({})).items;
    // inserted dispatched with its raise, it goes back to open when no first message went out
    expect(alert?.status).toBe('open');
    const types = (await h.dispatcher.timeline(alert?.id ?? '')).map((e) => e.type);
    expect(types.slice(0, 2)).toEqual(['opened', 'unrouted']);
    expect(h.sink.changes.slice(0, 2).map((c) => [c.change, c.status])).toEqual([
      ['opened', 'open'],
      ['unrouted', 'open'],
    ]);
  });

  it('publishes each change of a transaction as it was then, though the transaction reads the alert once', async () => {
    await start();
    const stream: { type: string; departments: string[]; alert: AlertView }[] = [];
    h.bus.on('alert.streamed', (m) => {
      stream.push(m as unknown as (typeof stream)[number]);
    });
    await h.dispatcher.handle(raise(h.registry, h.clock, { placeId: 'b1', deviceId: 'smoke-tx' }));
    // One transaction opened and dispatched the alert: each change carries the status it had.
    expect(h.sink.changes.map((c) => [c.change, c.status])).toEqual([
      ['opened', 'open'],
      ['dispatched', 'dispatched'],
    ]);
    expect(stream.map((m) => [m.type, m.alert.status])).toEqual([
      ['opened', 'open'],
      ['dispatched', 'dispatched'],
    ]);
    const id = (await h.dispatcher.list({})).items[0]?.id ?? '';
    await h.dispatcher.acknowledge(id, 'w1');
    await h.dispatcher.arrive(id, 'w1');
    await h.dispatcher.whistle(id, 'w1', { department: 'fire' });
    h.clock.advance(MIN);
    await h.dispatcher.reportIn(id, 'fire-user', 'fire');
    // The live stream's message of each change shows the whistles as that change left them.
    const byType = new Map(stream.map((m) => [m.type, m]));
    expect(byType.get('dispatched')?.departments).toEqual([]);
    expect(byType.get('whistled')?.departments).toEqual(['fire']);
    expect(byType.get('whistled')?.alert.whistles[0]?.reportedAt).toBeNull();
    expect(byType.get('reported_in')?.alert.whistles[0]?.reportedBy).toBe('fire-user');
    expect(byType.get('acknowledged')?.alert.status).toBe('acknowledged');
  });

  it('whistles a department in; report-in stops its clock; an overdue report-in escalates', async () => {
    await start();
    await h.dispatcher.handle(raise(h.registry, h.clock, { placeId: 'b1' }));
    const id = (await h.dispatcher.list({})).items[0]?.id ?? '';
    await h.dispatcher.acknowledge(id, 'w1');
    await h.dispatcher.arrive(id, 'w1');
    let a = await h.dispatcher.whistle(id, 'w1', { department: 'fire', note: 'smoke on 3 floors' });
    await h.dispatcher.drain();
    expect(h.publisher.to('f1').at(-1)?.payload).toMatchObject({ change: 'whistled', department: 'fire' });
    expect(a.clocks.find((c) => c.name === 'report_in:fire')).toMatchObject({
      light: 'green',
      stoppedAt: null,
    });
    h.clock.advance(2 * MIN);
    a = await h.dispatcher.reportIn(id, 'fire-user', 'fire');
    expect(a.whistles[0]).toMatchObject({ reportedBy: 'fire-user', escalated: false });
    expect(a.clocks.find((c) => c.name === 'report_in:fire')?.met).toBe(true);

    // Second alert: the department never reports in.
    await h.dispatcher.handle(raise(h.registry, h.clock, { placeId: 'b1', deviceId: 'smoke-2' }));
    const id2 = (await h.dispatcher.list({ status: ['dispatched'] })).items[0]?.id ?? '';
    await h.dispatcher.arrive(id2, 'w1');
    await h.dispatcher.whistle(id2, 'w1', { department: 'fire' });
    const cdBefore = h.publisher.to('cd1').length;
    await h.clock.advanceAsync(h.config.sla.critical.reportInMs);
    await h.dispatcher.drain();
    const after = await h.dispatcher.get(id2);
    expect(after?.whistles[0]?.escalated).toBe(true);
    expect(after?.clocks.find((c) => c.name === 'report_in:fire')?.light).toBe('red');
    expect(h.publisher.to('cd1').length).toBe(cdBefore + 1);
    expect(h.publisher.to('cd1').at(-1)?.payload).toMatchObject({
      change: 'report_in_overdue',
      alertId: id2,
    });
    expect(after?.reach).toBe('community');
  });

  it('retries a failed delivery with back-off and records each attempt', async () => {
    // Exact back-off times: no digest wait, no jitter.
    await start({ config: { digestWaitMs: 0, retryJitter: 0 } });
    h.publisher.failNext = 2;
    await h.dispatcher.handle(
      raise(h.registry, h.clock, { placeId: 'b2', severity: 'minor', category: 'bin' }),
    );
    await h.dispatcher.drain();
    expect(h.publisher.sent).toHaveLength(0);
    await h.clock.advanceAsync(999);
    expect(h.publisher.sent).toHaveLength(0);
    await h.clock.advanceAsync(1);
    await h.dispatcher.drain();
    expect(h.publisher.sent).toHaveLength(0);
    await h.clock.advanceAsync(2000);
    await h.dispatcher.drain();
    expect(h.publisher.to('w2')).toHaveLength(1);
    const id = (await h.dispatcher.list({})).items[0]?.id ?? '';
    const deliveries = (await h.dispatcher.timeline(id)).filter((e) => e.type.startsWith('deliver'));
    expect(deliveries.map((e) => [e.type, e.data.attempt])).toEqual([
      ['delivery_failed', 1],
      ['delivery_failed', 2],
      ['delivered', 3],
    ]);
  });

  it('measures how far alerts run behind their devices: from the reading’s receipt to the raise’s commit', async () => {
    await start();
    const place = h.registry.places.path('b1');
    const receivedAt = h.clock.now() - 3_000;
    const reading = {
      kind: 'event' as const,
      event: 'alarm',
      data: {},
      deviceId: 'smoke-late',
      deviceType: 'smoke' as const,
      placeId: 'b1',
      place,
      floor: 3,
      ts: receivedAt,
      receivedAt,
      qos: 1 as const,
    };
    // taken 3 s after the hub received it (a queue in front of the store), then a second one at once
    await h.dispatcher.handle(raise(h.registry, h.clock, { placeId: 'b1', deviceId: 'smoke-late', reading }));
    await h.dispatcher.handle(
      raise(h.registry, h.clock, {
        placeId: 'b1',
        deviceId: 'smoke-now',
        reading: { ...reading, deviceId: 'smoke-now', receivedAt: h.clock.now() },
      }),
    );
    // a raise without a reading (an absence rule) has no receipt to measure from
    await h.dispatcher.handle(raise(h.registry, h.clock, { placeId: 'b1', deviceId: 'smoke-absent' }));
    const text = await h.metrics.getSingleMetricAsString('gridhub_alerts_raise_delay_seconds');
    const bucket = (le: string) =>
      Number(text.match(new RegExp(`_bucket\\{le="${le}",severity="critical"\\} (\\d+)`))?.[1]);
    expect(text).toContain('gridhub_alerts_raise_delay_seconds_count{severity="critical"} 2');
    expect(bucket('0.001')).toBe(1);
    expect(bucket('2.5')).toBe(1);
    expect(bucket('5')).toBe(2);
  });
  it('false alarm: resolves, suppresses repeats, opens a maintenance task', async () => {
    await start();
    const r = raise(h.registry, h.clock, { placeId: 'b1', deviceId: 'smoke-fa' });
    await h.dispatcher.handle(r);
    const id = (await h.dispatcher.list({})).items[0]?.id ?? '';
    const a = await h.dispatcher.markFalse(id, 'w1', { kind: 'false_alarm', reason: 'cooking steam' });
    expect(a).toMatchObject({ status: 'resolved', resolution: 'false_alarm' });
    h.clock.advance(MIN);
    await h.dispatcher.handle({ ...r, at: h.clock.now() });
    expect((await h.dispatcher.list({})).total).toBe(1);
    expect((await h.dispatcher.timeline(id)).map((e) => e.type)).toContain('maintenance_task_opened');
  });

  it('shows SLA lights on the alert: acknowledge clock green at 74 %, yellow at 75 %, red at 100 %', async () => {
    await start();
    await h.dispatcher.handle(raise(h.registry, h.clock, { placeId: 'b1' }));
    const id = (await h.dispatcher.list({})).items[0]?.id ?? '';
    const ack = async () => (await h.dispatcher.get(id))?.clocks.find((c) => c.name === 'acknowledge');
    h.clock.advance(44_400); // 74 % of 60 s
    expect((await ack())?.light).toBe('green');
    expect((await h.dispatcher.get(id))?.light).toBe('green');
    h.clock.advance(600); // 75 %
    expect((await ack())?.light).toBe('yellow');
    expect((await h.dispatcher.list({ light: 'yellow' })).total).toBe(1);
    h.clock.advance(15_000); // 100 %
    expect((await ack())?.light).toBe('red');
    expect((await h.dispatcher.get(id))?.light).toBe('red');
    // The arrival clock (15 min) is still green at the same instant.
    expect((await h.dispatcher.get(id))?.clocks.find((c) => c.name === 'arrive')?.light).toBe('green');
  });

  it('switches to the critical ladder when a rule raises the severity of an open alert', async () => {
    await start();
    const r = raise(h.registry, h.clock, {
      placeId: 'b1',
      severity: 'minor',
      category: 'bin',
      deviceId: 'bin-hot',
    });
    await h.dispatcher.handle(r);
    const t0 = h.clock.now();
    h.clock.advance(30_000);
    await h.dispatcher.handle({
      ...r,
      kind: 'update',
      severity: 'critical',
      detail: 'bin temperature 80 °C',
      at: h.clock.now(),
    } as never);
    await h.clock.advanceAsync(31_000);
    expect(h.publisher.to('l1').map((s) => s.at)).toEqual([t0 + MIN]);
    expect(await h.dispatcher.get((await h.dispatcher.list({})).items[0]?.id ?? '')).toMatchObject({
      severity: 'critical',
      detail: 'bin temperature 80 °C',
    });
  });
});
