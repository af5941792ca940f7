import { expect, it } from 'vitest';
import { insertedAlert, MULTI_ROW_MAX } from '../../src/alerts/alert-statements.ts';
import type { AlertStore, ClaimRequest, NewAlert, OutboxInsert } from '../../src/alerts/alert-store.ts';
import { OUTBOX_MIGRATIONS } from '../../src/alerts/outbox-schema.ts';
import {
  openPostgresAlertStores,
  type PostgresAlertStore,
  postgresAlertStore,
} from '../../src/alerts/postgres-alert-store.ts';
import { ALERTS_MIGRATIONS } from '../../src/alerts/schema.ts';
import { sqliteAlertStore } from '../../src/alerts/sqlite-alert-store.ts';
import { ManualClock } from '../../src/clock/clock.ts';
import type { LeaseTables } from '../../src/storage/leases.ts';
import { migrateModuleSync } from '../../src/storage/migrations.ts';
import { describeStores, type StoreUnderTest } from './stores.ts';

/**
 * The alert store's port (src/alerts/alert-store.ts), every operation, on SQLite (synchronous, statements
 * prepared once) and on PostgreSQL (promises, the open transaction held in an AsyncLocalStorage): both are built
 * from the one set of Kysely statements, and each call here is awaited, so the same test drives both and they
 * must answer the same. On PostgreSQL also: two hubs claiming one lane at once never get the same row, and a
 * transaction that throws leaves nothing behind of what its body wrote.
 */
// The PostgreSQL store is used as the port (alert-store.ts) itself: its promises are the port's Awaitables.
type Store = AlertStore;

const T = Date.parse('2026-12-01T16:00:00+08:00');
const MIN = 60_000;
const PLACE = JSON.stringify({ street: 's1', community: 'c1', grid: 'g1', estate: 'e1', building: 'b1' });

async function open(sut: StoreUnderTest): Promise<Store> {
  if (sut.sqlite) {
    migrateModuleSync(sut.store, 'alerts', ALERTS_MIGRATIONS);
    migrateModuleSync(sut.store, 'alerts.outbox', OUTBOX_MIGRATIONS);
    return sqliteAlertStore(sut.sqlite);
  }
  const stores = await openPostgresAlertStores(sut.store, new ManualClock(T));
  // On PostgreSQL a claim is live while its claimer's instance lease is: the hubs these tests name are alive.
  for (const name of LIVE_HUBS) await liveUntil(sut.store, name, Number.MAX_SAFE_INTEGER);
  return stores.alerts;
}

const LIVE_HUBS = ['hub-a', 'hub-b', 'hub-a2', 'hub-b2', 'hub-c', 'x'];

/** Write an instance's lease on the shared database, as its heartbeat does (storage/leases.ts). */
const liveUntil = (store: StoreUnderTest['store'], name: string, expiresAt: number) =>
  store.write(
    store
      .builder<LeaseTables>()
      .insertInto('instance_leases')
      .values({ instance_id: name, expires_at: expiresAt })
      .onConflict((oc) => oc.column('instance_id').doUpdateSet({ expires_at: expiresAt })),
  );

const alert = (id: string, over: Partial<NewAlert> = {}): NewAlert => ({
  id,
  ruleId: 'call-button',
  deviceId: 'btn-1',
  deviceType: 'call_button',
  placeId: 'b1',
  place: PLACE,
  gridId: 'g1',
  floor: 3,
  severity: 'critical',
  category: 'care',
  title: '紧急呼叫',
  detail: '3 楼按下呼叫按钮',
  evidence: '{}',
  dedup: 'per-device',
  incidentId: 'i1',
  at: T,
  status: 'open',
  ...over,
});

const outbox = (over: Partial<OutboxInsert> = {}): OutboxInsert => ({
  alert_id: 'a1',
  channel: 'mqtt',
  target: 'w1',
  payload: '{"t":"alarm"}',
  attempts: 0,
  idempotency_key: `gh-${Math.random()}`,
  person_id: 'w1',
  severity: 'major',
  digestible: 0,
  rung: null,
  held_until: null,
  max_attempts: null,
  next_at: T,
  state: 'pending',
  last_error: null,
  last_status: null,
  claimed_by: null,
  lease_until: null,
  created_at: T,
  ...over,
});

/** The ids of claimed rows, in order of id. */
const ids = (rows: readonly { id: number }[]): number[] => rows.map((r) => r.id).sort((a, b) => a - b);

const lane = (over: Partial<ClaimRequest> = {}): ClaimRequest => ({
  now: T,
  channel: 'mqtt',
  target: 'w1',
  owner: 'hub-a',
  leaseUntil: T + MIN,
  limit: 10,
  onlyCritical: 0,
  onlyFresh: 0,
  ...over,
});

async function withAlert(s: Store, id = 'a1', over: Partial<NewAlert> = {}): Promise<void> {
  await s.statements.insertIncident('i1', 'care', 'b1', PLACE, T, T);
  await s.statements.insertAlert(alert(id, over));
}

describeStores('alert store statements', ({ dialect, fresh }) => {
  it('records alerts, incidents and timelines, finds the open and the recently resolved alert', async () => {
    const s = await open(await fresh());
    const st = s.statements;
    expect(await st.insertIncident('i1', 'care', 'b1', PLACE, T, T)).toBe(1);
    expect(await st.incidentFor('care', 'b1', T - MIN)).toEqual({ id: 'i1' });
    expect(await st.incidentFor('care', 'b1', T + 1)).toBeUndefined();
    expect(await st.joinIncident(T + MIN, 'i1')).toBe(1);
    expect(await st.incident('i1')).toEqual({
      id: 'i1',
      category: 'care',
      group_key: 'b1',
      place: PLACE,
      opened_at: T,
      last_at: T + MIN,
      alert_count: 2,
    });

    expect(await st.insertAlert(alert('a1'))).toBe(1);
    expect(await st.insertAlert(alert('a2', { at: T + MIN }))).toBe(1);
    const a1 = await st.alert('a1');
    expect(a1).toMatchObject({
      id: 'a1',
      rule_id: 'call-button',
      status: 'open',
      count: 1,
      floor: 3,
      opened_at: T,
      clock_start: T,
      last_seen_at: T,
      updated_at: T,
      reach: 'grid',
      escalation_step: 0,
      acknowledged_at: null,
      incident_id: 'i1',
    });
    // the place levels are columns the database fills from the path
    expect(a1).toMatchObject({ street_id: 's1', community_id: 'c1', building_id: 'b1', unit_id: null });
    expect(await st.alert('nope')).toBeUndefined();
    expect((await st.openFor('call-button', 'btn-1'))?.id).toBe('a2');
    expect(await st.incidentAlerts('i1')).toEqual([{ id: 'a1' }, { id: 'a2' }]);

    expect(await st.repeat(T + 2 * MIN, '又按了一次', '{"n":2}', T + 2 * MIN, 'a2')).toBe(1);
    expect(await st.alert('a2')).toMatchObject({ count: 2, last_seen_at: T + 2 * MIN, detail: '又按了一次' });

    await s.updateAlert(
      'a2',
      { status: 'resolved', resolved_at: T + 3 * MIN, resolution: 'handled' },
      T + 3 * MIN,
    );
    expect(await st.alert('a2')).toMatchObject({ status: 'resolved', updated_at: T + 3 * MIN });
    expect((await st.openFor('call-button', 'btn-1'))?.id).toBe('a1');
    // a raise's one read: the open alert and the recent real resolution, each if any
    const raised = async (since: number) =>
      (await st.raised('call-button', 'btn-1', since)).map((r) => `${r.id}:${r.status}`).sort();
    expect(await raised(T)).toEqual(['a1:open', 'a2:resolved']);
    expect(await raised(T + 4 * MIN)).toEqual(['a1:open']);
    await s.updateAlert('a2', { resolution: 'false_alarm' }, T + 3 * MIN);
    expect(await raised(T)).toEqual(['a1:open']);
    await s.updateAlert('a2', { resolution: 'handled' }, T + 3 * MIN);
    await s.updateAlert('a1', { status: 'resolved', resolved_at: T + 2 * MIN, resolution: 'handled' }, T);
    // the latest resolution only, and no open alert
    expect(await raised(T)).toEqual(['a2:resolved']);
    expect(await st.openFor('call-button', 'btn-1')).toBeUndefined();

    expect(await st.insertEvent('a1', T, 'system', 'raised', '{}')).toBe(1);
    expect(await st.insertEvent('a1', T + 1, 'w1', 'acknowledged', '{"via":"app"}')).toBe(1);
    expect(await st.events('a1')).toEqual([
      { id: 1, at: T, actor: 'system', type: 'raised', data: '{}' },
      { id: 2, at: T + 1, actor: 'w1', type: 'acknowledged', data: '{"via":"app"}' },
    ]);
    // a transaction's events go in together, in the order recorded; a list longer than one statement takes, in
    // chunks of MULTI_ROW_MAX
    const many = Array.from({ length: MULTI_ROW_MAX + 3 }, (_, i) => ({
      alert_id: 'a2',
      at: T + i,
      actor: 'channel:mqtt',
      type: 'delivered',
      data: JSON.stringify({ attempt: i }),
    }));
    expect(await s.insertEvents(many.slice(0, 2))).toBe(2);
    expect(await s.insertEvents(many.slice(2))).toBe(MULTI_ROW_MAX + 1);
    expect(await s.insertEvents([])).toBe(0);
    const written = await st.events('a2');
    expect(written.map((e) => e.data)).toEqual(many.map((e) => e.data));
    expect(written.map((e) => e.id)).toEqual(written.map((_, i) => 3 + i));

    expect(await st.journalSeen(7, 'call-button', T)).toBe(1);
    expect(await st.journalSeen(7, 'call-button', T)).toBe(0); // a replay
    expect(await st.journalSeen(7, 'smoke', T)).toBe(1);
    // a device's eventId, whichever journal row brought it: once per rule and device
    expect(await st.eventSeen('call-1', 'press-1', 'call-button', T)).toBe(1);
    expect(await st.eventSeen('call-1', 'press-1', 'call-button', T)).toBe(0);
    expect(await st.eventSeen('call-1', 'press-1', 'fall', T)).toBe(1);
    expect(await st.eventSeen('call-2', 'press-1', 'call-button', T)).toBe(1);

    expect(await st.insertRatingToken('h1', 'a1', T + MIN)).toBe(1);
    expect(await st.ratingToken('h1')).toEqual({ alert_id: 'a1', expires_at: T + MIN, used_at: null });
    expect(await st.useRatingToken(T + 1, 'h1')).toBe(1);
    expect((await st.ratingToken('h1'))?.used_at).toBe(T + 1);
    expect(await st.ratingToken('h2')).toBeUndefined();
  });

  it('a raise goes on with the row it inserted: insertedAlert is the row the store reads back', async () => {
    const s = await open(await fresh());
    await s.statements.insertIncident('i1', 'care', 'b1', PLACE, T, T);
    for (const a of [
      alert('a1'),
      alert('a2', { gridId: null, floor: null, evidence: '{"smoke":0.4}' }),
      // a raise inserts the alert it dispatches at once with that status (lifecycle.ts)
      alert('a3', { status: 'dispatched' }),
    ]) {
      await s.statements.insertAlert(a);
      const read: Record<string, unknown> = { ...(await s.statements.alert(a.id)) };
      for (const level of ['street', 'community', 'estate', 'building', 'unit']) delete read[`${level}_id`];
      // every column but the place levels the database derives, with the same values and types
      expect(insertedAlert(a)).toStrictEqual(read);
    }
  });

  it('holds back repeats while suppressed, counts them, and lifts the suppression when fixed', async () => {
    const st = (await open(await fresh())).statements;
    expect(await st.suppression('r1', 'd1', T)).toBeUndefined();
    expect(await st.suppress('r1', 'd1', T + 10 * MIN, 'false_alarm')).toBe(1);
    expect(await st.suppression('r1', 'd1', T)).toEqual({ until: T + 10 * MIN });
    expect(await st.suppression('r1', 'd1', T + 10 * MIN)).toBeUndefined();
    expect(await st.countSuppressed('r1', 'd1')).toBe(1);
    expect(await st.countSuppressed('r1', 'other')).toBe(0);
    // a second suppression of the pair replaces the first
    expect(await st.suppress('r1', 'd1', T + 20 * MIN, 'device_fault')).toBe(1);
    expect(await st.suppression('r1', 'd1', T + 15 * MIN)).toEqual({ until: T + 20 * MIN });
    await st.suppress('r2', 'd1', T + 5 * MIN, 'false_alarm');
    await st.suppress('r2', 'd2', T + 5 * MIN, 'false_alarm');
    expect(await st.liftSuppressions(T + MIN, 'd1', T + MIN)).toBe(2);
    expect(await st.suppression('r1', 'd1', T + MIN)).toBeUndefined();
    expect(await st.suppression('r2', 'd2', T + MIN)).toEqual({ until: T + 5 * MIN });
  });

  it('keeps whistles and maintenance tasks, with the place of their alert', async () => {
    const s = await open(await fresh());
    const st = s.statements;
    await withAlert(s);
    expect(await st.insertWhistle('a1', 'fire', null, T, 'l1', T + 30 * MIN)).toBe(1);
    expect(await st.insertWhistle('a1', 'police', '门锁', T + 1, 'l1', T + 60 * MIN)).toBe(2);
    expect(await st.whistleReported(T + 5 * MIN, 'f1', 1)).toBe(1);
    expect(await st.whistleEscalated(2)).toBe(1);
    expect(await st.whistles('a1')).toEqual([
      {
        id: 1,
        alert_id: 'a1',
        department: 'fire',
        note: null,
        whistled_at: T,
        whistled_by: 'l1',
        due_at: T + 30 * MIN,
        reported_at: T + 5 * MIN,
        reported_by: 'f1',
        escalated: 0,
      },
      expect.objectContaining({ id: 2, department: 'police', note: '门锁', escalated: 1, reported_at: null }),
    ]);
    expect((await st.whistle(2))?.department).toBe('police');
    expect(await st.whistle(3)).toBeUndefined();

    expect(await st.insertTask('btn-1', 'a1', 'device_fault', '按钮失灵', T, 'w1')).toBe(1);
    expect(await st.insertTask('btn-2', 'a1', 'device_fault', '电池', T + 1, 'w1')).toBe(2);
    expect(await st.task(1)).toEqual({
      id: 1,
      device_id: 'btn-1',
      alert_id: 'a1',
      reason: 'device_fault',
      note: '按钮失灵',
      created_at: T,
      created_by: 'w1',
      done_at: null,
      done_by: null,
      done_note: null,
      place: PLACE,
    });
    expect(await st.taskOnly(1)).toMatchObject({ id: 1, device_id: 'btn-1', place: null });
    expect(await st.closeTask(T + MIN, 'w1', '换了电池', 2)).toBe(1);
    const tasks = async (open: boolean | undefined) => (await s.maintenanceTasks(open)).map((t) => t.id);
    expect(await tasks(undefined)).toEqual([2, 1]);
    expect(await tasks(true)).toEqual([1]);
    expect(await tasks(false)).toEqual([2]);
    expect((await s.maintenanceTasks(false))[0]).toMatchObject({
      done_by: 'w1',
      done_note: '换了电池',
      place: PLACE,
    });
  });

  it('fires escalation timers when due, earliest first, and voids them by step, whistle and milestone', async () => {
    const s = await open(await fresh());
    const st = s.statements;
    await withAlert(s);
    expect(await st.nextTimer()).toBeNull();
    await st.insertTimer('a1', 'step', 1, 'acknowledged', T + 10 * MIN);
    await st.insertTimer('a1', 'step', 0, 'acknowledged', T + 5 * MIN);
    // a ladder's timers go in with one statement, in the order given
    expect(
      await s.insertTimers([
        { alert_id: 'a1', kind: 'report_in', ref: 1, unless: null, due_at: T + 5 * MIN },
        { alert_id: 'a1', kind: 'step', ref: 2, unless: 'on_site', due_at: T + 20 * MIN },
      ]),
    ).toBe(2);
    expect(await s.insertTimers([])).toBe(0);
    expect(await st.nextTimer()).toBe(T + 5 * MIN);
    const due = await st.dueTimers(T + 10 * MIN);
    expect(due.map((t) => [t.kind, t.ref, t.due_at])).toEqual([
      ['step', 0, T + 5 * MIN],
      ['report_in', 1, T + 5 * MIN],
      ['step', 1, T + 10 * MIN],
    ]);
    expect(due[0]).toMatchObject({ id: 2, alert_id: 'a1', unless: 'acknowledged' });
    expect(due[1]).toMatchObject({ id: 3, alert_id: 'a1', unless: null });
    expect(await st.stepFired('a1', 0)).toBe(false);
    expect(await st.setTimerState('fired', 2)).toBe(1);
    expect(await st.stepFired('a1', 0)).toBe(true);
    expect(await st.voidStep('a1', 0)).toBe(0); // fired already
    expect(await st.voidReportIn('a1', 1)).toBe(1);
    expect(await st.voidUnless('a1', 'acknowledged')).toBe(1); // step 1
    expect(await st.nextTimer()).toBe(T + 20 * MIN);
    expect(await st.voidSteps('a1')).toBe(1);
    expect(await st.nextTimer()).toBeNull();
    await st.insertTimer('a1', 'step', 3, null, T);
    await st.insertTimer('a1', 'report_in', 2, null, T);
    expect(await st.voidAll('a1')).toBe(2);
    expect(await st.dueTimers(T + 99 * MIN)).toEqual([]);

    // Done timers of an alert closed long enough ago are pruned; pending ones and open alerts' are kept.
    await st.insertTimer('a1', 'step', 4, null, T + 30 * MIN);
    expect(await st.pruneTimers(T + MIN)).toBe(0); // a1 is open
    await s.updateAlert('a1', { status: 'closed' }, T);
    expect(await st.pruneTimers(T)).toBe(0); // not before its update
    expect(await st.pruneTimers(T + 1)).toBe(6);
    expect(await st.dueTimers(T + 99 * MIN)).toHaveLength(1);
  });

  it('keeps the outbox: pending count, an alert’s rows, digest siblings, folds, digests and pruning', async () => {
    const s = await open(await fresh());
    const st = s.statements;
    await withAlert(s);
    expect(await st.pendingOutbox()).toBe(0);
    const id1 = await s.insertOutbox(outbox({ digestible: 1, severity: 'minor' }));
    const id2 = await s.insertOutbox(outbox({ digestible: 1, severity: 'minor', next_at: T + 5 * MIN }));
    const id3 = await s.insertOutbox(outbox({ digestible: 1, held_until: T + 60 * MIN }));
    const id4 = await s.insertOutbox(outbox({ channel: 'stream', target: '*' }));
    const id5 = await s.insertOutbox(outbox({ channel: 'sms', target: '138', rung: 2, claimed_by: 'hub-a' }));
    expect([id1, id2, id3, id4, id5]).toEqual([1, 2, 3, 4, 5]);
    expect(await st.pendingOutbox()).toBe(5);
    const mine = await st.outboxOf('a1');
    expect(mine.map((r) => r.id)).toEqual([1, 2, 3, 5]); // not the live stream's
    expect(mine[0]).toMatchObject({
      alert_id: 'a1',
      channel: 'mqtt',
      target: 'w1',
      attempts: 0,
      state: 'pending',
      digestible: 1,
      severity: 'minor',
      next_at: T,
      last_error: null,
      last_status: null,
      max_attempts: null,
    });
    expect(await s.claims.row(5)).toMatchObject({ claimed_by: 'hub-a', lease_until: null, rung: 2 });
    expect(await st.rungLive('a1', 2)).toBe(1);

    const siblings = async (dueBy: number, now: number) =>
      (await st.digestSiblings('mqtt', 'w1', dueBy, now)).map((r) => r.id);
    expect(await siblings(T, T)).toEqual([1]); // 2 is not due by then, 3 is held by quiet hours
    expect(await siblings(T + 5 * MIN, T)).toEqual([1, 2]);
    expect(await siblings(T + 5 * MIN, T + 60 * MIN)).toEqual([1, 2, 3]);
    expect(await st.postpone(T + 90 * MIN, 2)).toBe(1);
    expect(await siblings(T + 5 * MIN, T + 60 * MIN)).toEqual([1, 3]);
    expect(await st.fold('folded into digest d1', 3)).toBe(1);
    expect(await s.claims.row(3)).toMatchObject({ state: 'folded', last_error: 'folded into digest d1' });
    expect(await siblings(T + 5 * MIN, T + 60 * MIN)).toEqual([1]);
    expect(await st.pendingOutbox()).toBe(4);

    expect(await st.digest('mqtt', 'w1')).toBeUndefined();
    expect(await st.putDigest('mqtt', 'w1', 'd1', 1, '["a1"]', T, T)).toBe(1);
    expect(await st.putDigest('mqtt', 'w1', 'd1', 2, '["a1","a2"]', T, T + MIN)).toBe(1);
    expect(await st.digest('mqtt', 'w1')).toMatchObject({
      digest_id: 'd1',
      version: 2,
      items: '["a1","a2"]',
      started_at: T,
      last_at: T + MIN,
    });

    // Only rows that are done with (not pending) and older than the cut are pruned.
    expect(await st.pruneOutbox(T + 1)).toBe(1); // the folded one
    expect(await st.pruneOutbox(T + 1)).toBe(0);
    expect(await s.outboxDone(200, [5])).toBe(1);
    expect(await st.rungLive('a1', 2)).toBe(1); // delivered counts as live
    expect(await s.claims.retry(T, 'gone', 410, 'dead', 5)).toBe(1);
    expect(await st.rungLive('a1', 2)).toBe(0); // dead is not

    expect(await st.journalSeen(1, 'r', T)).toBe(1);
    expect(await st.journalSeen(2, 'r', T + MIN)).toBe(1);
    expect(await st.pruneJournal(T + MIN)).toBe(1);
    expect(await st.journalSeen(1, 'r', T + MIN)).toBe(1); // forgotten, so taken again

    expect(await st.eventSeen('d', 'e1', 'r', T)).toBe(1);
    expect(await st.eventSeen('d', 'e2', 'r', T + MIN)).toBe(1);
    expect(await st.pruneEventSeen(T + MIN)).toBe(1);
    expect(await st.eventSeen('d', 'e1', 'r', T + MIN)).toBe(1); // forgotten, so taken again
    expect(await st.eventSeen('d', 'e2', 'r', T + MIN)).toBe(0);
  });

  it('runs the must-reach ladder: started, stepped, due, stopped and started again', async () => {
    const s = await open(await fresh());
    const st = s.statements;
    await withAlert(s);
    await st.insertAlert(alert('a3'));
    expect(await st.reach('a1')).toBeUndefined();
    expect(await st.nextReach()).toBeNull();
    expect(await st.startReach('a1', T + MIN)).toBe(1);
    expect(await st.startReach('a3', T + 2 * MIN)).toBe(1);
    expect(await st.reach('a1')).toEqual({ alert_id: 'a1', rung: 0, next_at: T + MIN, state: 'active' });
    expect(await st.nextReach()).toBe(T + MIN);
    expect((await st.dueReach(T + 2 * MIN)).map((r) => r.alert_id)).toEqual(['a1', 'a3']);
    expect(await st.setReach(1, T + 5 * MIN, 'active', 'a1')).toBe(1);
    expect((await st.dueReach(T + 2 * MIN)).map((r) => r.alert_id)).toEqual(['a3']);
    expect(await st.stopReach('a3')).toBe(1);
    expect(await st.stopReach('a3')).toBe(0);
    expect(await st.nextReach()).toBe(T + 5 * MIN);
    // a reopened alert starts its ladder again from the first rung
    expect(await st.startReach('a1', T + 9 * MIN)).toBe(1);
    expect(await st.reach('a1')).toEqual({ alert_id: 'a1', rung: 0, next_at: T + 9 * MIN, state: 'active' });
  });

  it('takes a due timer or ladder once: a second take, or one of a ladder that moved, answers 0', async () => {
    const s = await open(await fresh());
    const st = s.statements;
    await withAlert(s);
    await st.insertTimer('a1', 'step', 0, 'acknowledged', T + 5 * MIN);
    const [timer] = await st.dueTimers(T + 5 * MIN);
    expect(await st.takeTimer(timer?.id as number)).toBe(1);
    expect(await st.setTimerState('fired', timer?.id as number)).toBe(1);
    expect(await st.takeTimer(timer?.id as number)).toBe(0);
    await st.startReach('a1', T + MIN);
    expect(await st.takeReach('a1', 0, T + MIN)).toBe(1);
    await st.setReach(1, T + 3 * MIN, 'active', 'a1');
    // what another instance read before the ladder moved on is no longer there to take
    expect(await st.takeReach('a1', 0, T + MIN)).toBe(0);
    expect(await st.takeReach('a1', 1, T + 3 * MIN)).toBe(1);
  });

  it('lists due lanes, critical first and among them the phones, and claims a lane critical first', async () => {
    const s = await open(await fresh());
    const c = s.claims;
    await withAlert(s);
    await s.insertOutbox(outbox({ channel: 'sms', target: '138', severity: 'major' }));
    await s.insertOutbox(outbox({ channel: 'mqtt', target: 'w1', severity: 'major' }));
    await s.insertOutbox(outbox({ channel: 'robot', target: 'g1', severity: 'critical' }));
    await s.insertOutbox(outbox({ channel: 'mqtt', target: 'w2', severity: 'critical' }));
    await s.insertOutbox(outbox({ channel: 'mqtt', target: 'w2', severity: 'minor' }));
    await s.insertOutbox(outbox({ channel: 'sms', target: '139', next_at: T + MIN })); // not due
    await s.insertOutbox(outbox({ channel: 'sms', target: '137', lease_until: T + MIN, claimed_by: 'x' }));
    expect(await c.dueLanes(T)).toEqual([
      { channel: 'mqtt', target: 'w2', critical: 1 },
      { channel: 'robot', target: 'g1', critical: 1 },
      { channel: 'mqtt', target: 'w1', critical: 0 },
      { channel: 'sms', target: '138', critical: 0 },
    ]);
    // once the lease ran out and the later row fell due, those lanes are due too (after the ordered ones)
    const later = (await c.dueLanes(T + MIN)).map((l) => l.target);
    expect(later.slice(0, 3)).toEqual(['w2', 'g1', 'w1']);
    expect(later.slice(3).sort()).toEqual(['137', '138', '139']);
  });

  it('claims a lane critical first, up to its limit, and never a row under a live claim', async () => {
    const s = await open(await fresh());
    const c = s.claims;
    await withAlert(s);
    const major = await s.insertOutbox(outbox({ severity: 'major', next_at: T - 3 * MIN }));
    const minor = await s.insertOutbox(outbox({ severity: 'minor', next_at: T - 2 * MIN }));
    const critical = await s.insertOutbox(outbox({ severity: 'critical', next_at: T - MIN }));
    await s.insertOutbox(outbox({ severity: 'critical', next_at: T + MIN })); // not due
    await s.insertOutbox(outbox({ target: 'w2', severity: 'critical' })); // another lane

    // RETURNING has no order (the outbox sorts what it claimed): which rows, is what the claim decides
    const first = await c.claim(lane({ limit: 2 }));
    expect(ids(first)).toEqual([major, critical]);
    expect(first.find((r) => r.id === critical)).toMatchObject({
      claimed_by: 'hub-a',
      lease_until: T + MIN,
      state: 'pending',
      target: 'w1',
    });
    // a live claim is not claimed again, by this hub or another
    expect(ids(await c.claim(lane({ owner: 'hub-b' })))).toEqual([minor]);
    expect(await c.claim(lane({ owner: 'hub-b' }))).toEqual([]);
    expect(await c.nextWake(T)).toBe(T + MIN); // the claims run out, and a row falls due
    // an expired claim (its hub died) is taken over
    const later = await c.claim(lane({ owner: 'hub-b', now: T + MIN, leaseUntil: T + 2 * MIN }));
    expect(later.map((r) => r.severity).sort()).toEqual(['critical', 'critical', 'major', 'minor']);
    expect(later.every((r) => r.claimed_by === 'hub-b' && r.lease_until === T + 2 * MIN)).toBe(true);

    // the old owner cannot give back what it no longer holds; the new one can
    expect(await c.release(major, 'hub-a')).toBe(0);
    expect(await c.release(major, 'hub-b')).toBe(1);
    expect(await c.row(major)).toMatchObject({ claimed_by: null, lease_until: null });
    expect(await c.releaseOwn('hub-b')).toBe(3);
    expect(await c.releaseOwn('hub-b')).toBe(0);

    // outcomes clear the claim
    await c.claim(lane({ now: T + MIN }));
    expect(await s.outboxDone(204, [critical])).toBe(1);
    expect(await c.row(critical)).toMatchObject({
      state: 'done',
      attempts: 1,
      last_status: 204,
      claimed_by: null,
    });
    expect(await s.outboxDone(null, [critical])).toBe(1); // a status already known is kept
    expect(await c.row(critical)).toMatchObject({ attempts: 2, last_status: 204 });
    // one transaction's deliveries of one status go in one statement, in chunks of MULTI_ROW_MAX
    const delivered: number[] = [];
    for (let i = 0; i < MULTI_ROW_MAX + 2; i++)
      delivered.push(await s.insertOutbox(outbox({ target: `w${i}` })));
    expect(await s.outboxDone(null, delivered)).toBe(MULTI_ROW_MAX + 2);
    for (const id of [delivered[0], delivered[MULTI_ROW_MAX + 1]])
      expect(await c.row(id as number)).toMatchObject({ state: 'done', attempts: 1, last_status: null });
    expect(await s.outboxDone(null, [])).toBe(0);
    expect(await c.retry(T + 5 * MIN, 'timeout', null, 'pending', major)).toBe(1);
    expect(await c.row(major)).toMatchObject({
      attempts: 1,
      next_at: T + 5 * MIN,
      last_error: 'timeout',
      last_status: null,
      state: 'pending',
      claimed_by: null,
      lease_until: null,
    });
    expect(await c.postpone(T + 3 * MIN, minor)).toBe(1);
    expect(await c.row(minor)).toMatchObject({ next_at: T + 3 * MIN, claimed_by: null });
    expect(await c.nextWake(T + MIN)).toBe(T + 3 * MIN); // the postponed row falls due
  });

  it('claims only critical rows, or only fresh ones, for a lane in back-off', async () => {
    const s = await open(await fresh());
    const c = s.claims;
    await withAlert(s);
    const tried = await s.insertOutbox(outbox({ severity: 'critical' }));
    await c.retry(T, 'broker down', null, 'pending', tried);
    const fresh1 = await s.insertOutbox(outbox({ severity: 'critical' }));
    const major = await s.insertOutbox(outbox({ severity: 'major' }));
    const claimed = async (r: Partial<ClaimRequest>) =>
      ids(await c.claim(lane({ owner: `p${Math.random()}`, leaseUntil: T, ...r })));
    // leaseUntil = now: the claim is over at once, so each probe sees every row again
    expect(await claimed({ onlyCritical: 1 })).toEqual([tried, fresh1]);
    expect(await claimed({ onlyFresh: 1 })).toEqual([fresh1, major]);
    expect(await claimed({ onlyCritical: 1, onlyFresh: 1 })).toEqual([fresh1]);
    expect(await claimed({})).toEqual([tried, fresh1, major]);

    // a gathered alarm never tried is foldable even while its lane is in back-off
    expect(await c.foldable(T, 'mqtt', 'w1')).toBeUndefined();
    const gathered = await s.insertOutbox(outbox({ digestible: 1, severity: 'minor' }));
    expect(await c.foldable(T, 'mqtt', 'w1')).toMatchObject({ id: gathered, digestible: 1 });
    expect(await c.foldable(T, 'mqtt', 'w2')).toBeUndefined();
    expect(await c.nextWake(T)).toBeNull();
  });

  it('commits a transaction’s statements together, and a throw rolls back every one of them', async () => {
    const sut = await fresh();
    const s = await open(sut);
    await withAlert(s);
    const boom = new Error('boom');
    // One body for both stores: on SQLite its statements answer plain values (it commits within one turn of
    // the event loop), on PostgreSQL promises, run on the transaction's connection.
    const body = (id: string, fail: boolean) => async () => {
      await s.statements.insertAlert(alert(id));
      await s.statements.insertEvent(id, T, 'system', 'raised', '{}');
      await s.updateAlert('a1', { status: 'acknowledged' }, T + MIN);
      await s.statements.insertTimer(id, 'step', 0, null, T + MIN);
      if (fail) throw boom;
    };
    await expect(s.transaction(body('a2', true))).rejects.toBe(boom);
    expect(await s.statements.alert('a2')).toBeUndefined();
    expect(await s.statements.events('a2')).toEqual([]);
    expect((await s.statements.alert('a1'))?.status).toBe('open');
    expect(await s.statements.nextTimer()).toBeNull();
    expect(s.inTransaction).toBe(false);

    if (dialect === 'postgres') {
      const pg = s as PostgresAlertStore;
      const other = postgresAlertStore(sut.reopen());
      const typesOf = async (id: string) => (await pg.statements.events(id)).map((e) => e.type);
      // Work a body starts and does not await (a timer armed in it that fires before the commit) inherits its
      // context; the transaction it asks for is its own, after this one: it sees this one's writes committed.
      let late: Promise<string[]> | undefined;
      await pg.transaction(async () => {
        expect(pg.inTransaction).toBe(true);
        await body('a3', false)();
        // the body's writes are its transaction's: another connection does not see them before the commit…
        expect(await other.statements.alert('a3')).toBeUndefined();
        late = pg.transaction(() => typesOf('a3'));
        await pg.statements.insertEvent('a3', T + 1, 'w1', 'acknowledged', '{}');
        expect(await other.statements.events('a3')).toEqual([]);
      });
      expect(pg.inTransaction).toBe(false);
      expect(await late).toEqual(['raised', 'acknowledged']);
      expect((await other.statements.events('a3')).map((e) => e.type)).toEqual(['raised', 'acknowledged']);
      expect((await other.statements.alert('a1'))?.status).toBe('acknowledged');

      // …and the other way round: one that rolls back takes nothing of the one started inside it with it
      let started: Promise<number> | undefined;
      await expect(
        pg.transaction(async () => {
          started = pg.transaction(() => pg.statements.insertEvent('a3', T + 2, 'w1', 'note', '{}'));
          await pg.statements.insertEvent('a3', T + 3, 'w1', 'note', '{}');
          throw boom;
        }),
      ).rejects.toBe(boom);
      expect(await started).toBe(1);
      expect(await other.statements.events('a3')).toHaveLength(3);
    }
  });

  if (dialect === 'postgres') {
    it('lets one of two hubs racing for a due timer or must-reach rung take it; the other skips it at once, and takes it if the first rolls back', async () => {
      const sut = await fresh();
      const a = (await open(sut)) as PostgresAlertStore;
      const b = postgresAlertStore(sut.reopen());
      await withAlert(a);
      await a.statements.insertTimer('a1', 'step', 0, 'acknowledged', T + 5 * MIN);
      await a.statements.startReach('a1', T + MIN);
      const [timer] = await a.statements.dueTimers(T + 5 * MIN);
      const id = timer?.id as number;
      await a.transaction(async () => {
        expect(await a.statements.takeTimer(id)).toBe(1);
        expect(await a.statements.takeReach('a1', 0, T + MIN)).toBe(1);
        // B asks while A's firing transaction holds both rows: answered at once (were B to wait for A's commit
        // here, it would wait for ever, A waiting on B), and B's own transaction goes on
        await b.transaction(async () => {
          expect(await b.statements.takeTimer(id)).toBe(0);
          expect(await b.statements.takeReach('a1', 0, T + MIN)).toBe(0);
        });
        await a.statements.setTimerState('fired', id);
      });
      // fired by A: nobody's to take any more
      expect(await b.statements.takeTimer(id)).toBe(0);
      // A's rung transaction rolls back: the rung is still due, and B takes it
      const boom = new Error('boom');
      await expect(
        a.transaction(async () => {
          expect(await a.statements.takeReach('a1', 0, T + MIN)).toBe(1);
          throw boom;
        }),
      ).rejects.toBe(boom);
      expect(await b.statements.takeReach('a1', 0, T + MIN)).toBe(1);
    });

    it('frees the claims of an instance whose lease ran out at once, not at the end of each claim', async () => {
      const sut = await fresh();
      const a = (await open(sut)) as PostgresAlertStore;
      await withAlert(a);
      const row = await a.insertOutbox(outbox({ severity: 'critical' }));
      await liveUntil(sut.store, 'hub-dying', T + 3_000);
      // hub-dying claims the row for a minute (a slow receiver's attempt may take that long)…
      expect(ids(await a.claims.claim(lane({ owner: 'hub-dying', leaseUntil: T + MIN })))).toEqual([row]);
      // …and while its lease is live, nobody takes it, and the sweep finds nothing orphaned
      expect(await a.claims.claim(lane({ owner: 'hub-b', now: T + 2_999 }))).toEqual([]);
      expect(await a.claims.orphaned(T + 2_999)).toBe(0);
      expect((await a.claims.dueLanes(T + 2_999)).length).toBe(0);
      // its lease runs out (it died): the row is orphaned and claimable, 57 s before its claim would end
      expect(await a.claims.orphaned(T + 3_000)).toBe(1);
      expect(await a.claims.dueLanes(T + 3_000)).toEqual([{ channel: 'mqtt', target: 'w1', critical: 1 }]);
      const taken = await a.claims.claim(lane({ owner: 'hub-b', now: T + 3_000, leaseUntil: T + 2 * MIN }));
      expect(taken).toMatchObject([{ id: row, claimed_by: 'hub-b', lease_until: T + 2 * MIN }]);
      // hub-b is alive: its claim is not orphaned
      expect(await a.claims.orphaned(T + 3_000)).toBe(0);
    });

    it('never gives two hubs claiming one lane at once the same row (FOR UPDATE SKIP LOCKED)', async () => {
      const sut = await fresh();
      const a = (await open(sut)) as PostgresAlertStore;
      const b = postgresAlertStore(sut.reopen());
      await withAlert(a);
      for (let i = 0; i < 50; i++)
        await a.insertOutbox(outbox({ severity: i % 5 === 0 ? 'critical' : 'major' }));

      // Hub A holds its claim's row locks in an open transaction while hub B claims the same lane: B neither
      // waits for A (it would wait forever here, A waiting on B) nor takes A's rows.
      let mine: number[] = [];
      let theirs: number[] = [];
      await a.transaction(async () => {
        mine = ids(await a.claims.claim(lane({ owner: 'hub-a', limit: 30 })));
        theirs = ids(await b.claims.claim(lane({ owner: 'hub-b', limit: 30 })));
      });
      expect(mine).toHaveLength(30);
      expect(theirs).toHaveLength(20);
      expect(mine.filter((id) => theirs.includes(id))).toEqual([]);
      expect(await a.claims.claim(lane({ owner: 'hub-c' }))).toEqual([]);

      // Many rounds racing on two pools, each claim its own statement: every row is claimed exactly once.
      await a.statements.pruneOutbox(Number.MAX_SAFE_INTEGER);
      await a.claims.releaseOwn('hub-a');
      await a.claims.releaseOwn('hub-b');
      const rows = (await a.statements.outboxOf('a1')).map((r) => r.id);
      const taken = new Map<number, string>();
      const doubled: number[] = [];
      const claimer = async (store: PostgresAlertStore, owner: string) => {
        for (;;) {
          const got = await store.claims.claim(lane({ owner, limit: 3 }));
          if (got.length === 0) return;
          for (const r of got) {
            if (taken.has(r.id)) doubled.push(r.id);
            taken.set(r.id, owner);
          }
        }
      };
      await Promise.all([
        claimer(a, 'hub-a'),
        claimer(b, 'hub-b'),
        claimer(a, 'hub-a2'),
        claimer(b, 'hub-b2'),
      ]);
      expect(doubled).toEqual([]);
      expect([...taken.keys()].sort((x, y) => x - y)).toEqual(rows);
      // both hubs took part
      expect(new Set(taken.values()).size).toBeGreaterThan(1);
    });
  }
});
