/**
 * What the dispatcher puts in people's messages and whom it calls: the alarm's status as it is when it goes out,
 * the grid leader called at night for a fire, and the rating link texted to the resident after resolve.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { AlertsConfig } from '../../src/alerts/config.ts';
import { workerMessageSchema } from '../../src/domain/wire.ts';
import { Receiver } from '../channels/receiver.ts';
import { createHarness, type Harness, raise, seedCommunity } from './fixtures.ts';

const HOUR = 3_600_000;
let h: Harness;
let rx: Receiver;

afterEach(async () => {
  await h?.close();
  await rx?.stop();
});

async function setup(config: Partial<AlertsConfig> = {}): Promise<void> {
  rx = await new Receiver(() => h.clock.now()).start();
  h = createHarness({
    config: { retryJitter: 0, smsGatewayUrl: rx.url('/gw'), ...config },
    // p1 reads English; everyone else has no account and gets the default, Chinese.
    localeOf: (personId) => (personId === 'p1' ? 'en-US' : undefined),
  });
  seedCommunity(h.registry);
  await h.dispatcher.people.update('l1', { phone: '13800000011' });
  // The grid leader works days (08–22); the night belongs to the duty roster's fallbacks.
  await h.registry.people.setShifts(
    'l1',
    [0, 1, 2, 3, 4, 5, 6].map((weekday) => ({ weekday, startMinute: 8 * 60, endMinute: 22 * 60 })),
  );
  await h.dispatcher.start();
}

async function step(ms: number): Promise<void> {
  await h.clock.advanceAsync(ms);
  await h.dispatcher.drain();
}

const callButton = () =>
  raise(h.registry, h.clock, {
    placeId: 'b1u1',
    deviceId: 'cb-1',
    deviceType: 'call_button',
    ruleId: 'call.press',
    category: 'call_for_help',
    title: 'One-key call',
    dedup: 'per-occurrence',
  });

describe('messages', () => {
  it('says "dispatched" in the alarm that dispatches it', async () => {
    await setup();
    await h.dispatcher.handle(raise(h.registry, h.clock, { placeId: 'b1' }));
    await h.dispatcher.drain();
    const alarm = h.publisher.to('w1')[0]?.payload;
    expect(alarm).toMatchObject({ kind: 'alarm', change: 'opened', status: 'dispatched' });
    expect((await h.dispatcher.get(String(alarm?.alertId)))?.status).toBe('dispatched');
  });

  it('sends alarms and digests that the typed wire contract carries whole, resident card included', async () => {
    await setup();
    await h.dispatcher.residents.put({
      id: 'r1',
      name: '王秀英',
      phone: '13700000003',
      familyName: '王强',
      familyPhone: '13600000004',
      healthNotes: '高血压，独居',
      deviceId: 'cb-1',
      placeId: 'b1u1',
    });
    await h.dispatcher.handle(callButton());
    for (let i = 0; i < 3; i++) {
      await h.dispatcher.handle(
        raise(h.registry, h.clock, {
          placeId: 'b1',
          deviceId: `cam-${i}`,
          severity: 'major',
          category: 'device_offline',
        }),
      );
    }
    await h.dispatcher.drain();
    await step(h.config.digestWaitMs);
    const sent = h.publisher.to('w1').map((s) => s.payload);
    expect(sent.map((p) => p.kind)).toEqual(['alarm', 'digest']);
    // Parsing must keep every field: what the worker view reads is exactly what the hub sent.
    for (const p of sent) expect(workerMessageSchema.parse(p)).toEqual(p);
    expect(workerMessageSchema.parse(sent[0])).toMatchObject({ residentCard: { phone: '13700000003' } });
  });

  it('writes each person’s alarm in the language of their account, Chinese by default', async () => {
    await setup();
    await h.dispatcher.people.update('w1', { phone: '13800000001' });
    await h.dispatcher.people.update('p1', { phone: '13900000002' });
    await h.dispatcher.handle(raise(h.registry, h.clock, { placeId: 'b1' }));
    await h.dispatcher.drain();
    expect(h.publisher.to('w1')[0]?.payload.lang).toBe('zh-CN');
    expect(h.publisher.to('p1')[0]?.payload.lang).toBe('en');
    await step(30_000); // not acknowledged: SMS to both phones, each in its reader's language
    const sms = rx
      .at('/gw')
      .map((r) => r.json())
      .filter((b) => b.channel === 'sms');
    expect(sms.find((b) => b.to === '13800000001')).toMatchObject({ templateCode: 'GH_ALARM_ZH' });
    expect(sms.find((b) => b.to === '13900000002')).toMatchObject({ templateCode: 'GH_ALARM_EN' });
    expect(String(sms.find((b) => b.to === '13900000002')?.text)).toMatch(
      /^【智慧社区】Critical: Smoke alarm at /,
    );
  });

  it('calls the grid leader at night for a fire when nobody acknowledges, on shift or not', async () => {
    await setup();
    await step(7 * HOUR); // 23:00 in Shanghai: the leader is off shift
    const t1 = h.clock.now();
    await h.dispatcher.handle(raise(h.registry, h.clock, { placeId: 'b1', deviceId: 'smoke-night' }));
    const id = (await h.dispatcher.list({})).items[0]?.id ?? '';
    await h.dispatcher.drain();
    await step(59_999);
    expect(rx.at('/gw').filter((r) => r.json().to === '13800000011')).toEqual([]);
    await step(1);
    const call = rx.at('/gw').find((r) => r.json().to === '13800000011');
    expect(call?.at).toBe(t1 + 60_000);
    expect(call?.json()).toMatchObject({ channel: 'voice' });
    expect(String(call?.json().text)).toMatch(/^社区网格紧急通知。阳光小区1号楼3楼，烟感报警。/);
    // An app alarm too, since the roster did not pick the leader.
    expect(h.publisher.to('l1').map((s) => s.payload.change)).toEqual(['leader_call']);
    const escalated = (await h.dispatcher.timeline(id)).find((e) => e.type === 'escalated');
    expect(escalated?.data.called).toEqual([expect.objectContaining({ personId: 'l1', via: 'leader_call' })]);
  });

  it('does not call the leader when the severity is configured off', async () => {
    await setup();
    h.config.messages = {
      ...h.config.messages,
      leaderCall: { critical: false, major: false, minor: false },
    };
    await step(7 * HOUR);
    await h.dispatcher.handle(raise(h.registry, h.clock, { placeId: 'b1', deviceId: 'smoke-night' }));
    await h.dispatcher.drain();
    await step(60_000);
    expect(rx.at('/gw').filter((r) => r.json().to === '13800000011')).toEqual([]);
    expect(h.publisher.to('l1')).toEqual([]);
  });

  it('texts the resident the rating link after resolve, holds it through quiet hours, never after a false alarm', async () => {
    await setup();
    await h.dispatcher.residents.put({
      id: 'r1',
      name: '王秀英',
      phone: '13700000003',
      familyName: '王强',
      familyPhone: '13600000004',
      healthNotes: '高血压，独居',
      deviceId: 'cb-1',
      placeId: 'b1u1',
    });
    await h.dispatcher.handle(callButton());
    const first = (await h.dispatcher.list({})).items[0]?.id ?? '';
    const { ratingToken } = await h.dispatcher.resolve(first, 'w1', { note: '已上门' });
    await h.dispatcher.drain();
    const sms = rx
      .at('/gw')
      .map((r) => r.json())
      .filter((b) => b.templateCode === 'GH_RATING_ZH');
    expect(sms).toHaveLength(1);
    expect(sms[0]).toMatchObject({ to: '13700000003', templateParam: { token: ratingToken } });
    expect(String(sms[0]?.text)).toBe(
      `【智慧社区】您好，您在阳光小区1号楼1单元3楼的一键呼叫已处理完毕，请为本次服务评分：http://127.0.0.1:8080/r/${ratingToken}`,
    );
    // The timeline says a link went out, never the token.
    expect(JSON.stringify(await h.dispatcher.timeline(first))).not.toContain(ratingToken);

    // A false alarm is not a service to rate.
    await h.dispatcher.handle(callButton());
    const second = (await h.dispatcher.list({ status: ['dispatched'] })).items[0]?.id ?? '';
    await h.dispatcher.markFalse(second, 'w1', { kind: 'false_alarm', reason: '误按' });
    await h.dispatcher.drain();
    expect(rx.at('/gw').filter((r) => r.json().templateCode === 'GH_RATING_ZH')).toHaveLength(1);

    // Resolved at 23:30 in the place's quiet hours: the SMS waits for the morning.
    await h.dispatcher.quietHours.add({
      placeId: 'g1',
      personId: null,
      startMinute: 22 * 60,
      endMinute: 7 * 60,
    });
    await step(7.5 * HOUR);
    await h.dispatcher.handle(callButton());
    const night = (await h.dispatcher.list({ status: ['dispatched'] })).items[0]?.id ?? '';
    await h.dispatcher.resolve(night, 'w1', { note: '已上门' });
    await h.dispatcher.drain();
    expect(rx.at('/gw').filter((r) => r.json().templateCode === 'GH_RATING_ZH')).toHaveLength(1);
    await step(7.5 * HOUR); // 07:00
    const morning = rx.at('/gw').filter((r) => r.json().templateCode === 'GH_RATING_ZH');
    expect(morning).toHaveLength(2);
  });
});
