import { afterEach, describe, expect, it } from 'vitest';
import type { AlertsConfig } from '../../src/alerts/config.ts';
import { Receiver } from '../channels/receiver.ts';
import { createHarness, type Harness, raise, seedCommunity, T0 } from './fixtures.ts';

const HOUR = 3_600_000;
let h: Harness;
let rx: Receiver | undefined;

afterEach(async () => {
  await h?.close();
  await rx?.stop();
  rx = undefined;
});

function start(config: Partial<AlertsConfig> = {}): Harness {
  h = createHarness({ config: { retryJitter: 0, ...config } });
  seedCommunity(h.registry);
  h.dispatcher.start();
  return h;
}

async function step(ms: number): Promise<void> {
  await h.clock.advanceAsync(ms);
  await h.dispatcher.drain();
}

const offline = (deviceId: string) =>
  raise(h.registry, h.clock, {
    placeId: 'b1',
    deviceId,
    ruleId: 'presence.offline',
    severity: 'major',
    category: 'device_offline',
    title: '设备离线',
    detail: 'no heartbeat',
  });

describe('storms', () => {
  it('turns 200 devices going offline into one digest per recipient, while a smoke alarm goes out alone at once', async () => {
    rx = await new Receiver().start();
    start({ webhooks: { robot: { url: rx.url('/wecom?key=k') } } });
    h.dispatcher.channelTargets.add({
      placeId: 'g1',
      role: null,
      channel: 'wecom',
      target: 'robot',
      label: null,
    });

    for (let i = 0; i < 200; i++) h.dispatcher.handle(offline(`smoke-${i}`));
    h.dispatcher.handle(raise(h.registry, h.clock, { placeId: 'b1', deviceId: 'smoke-fire' }));
    const fire = h.dispatcher.list({ severity: ['critical'] }).items[0]?.id ?? '';
    await h.dispatcher.drain();

    // The same instant: only the smoke alarm, to each of its recipients, alone.
    const now = h.clock.now();
    expect(h.publisher.sent.map((s) => [s.workerId, s.payload.kind, s.payload.alertId, s.at]).sort()).toEqual(
      [
        ['p1', 'alarm', fire, now],
        ['w1', 'alarm', fire, now],
      ],
    );
    expect(rx.received).toEqual([]);
    h.dispatcher.acknowledge(fire, 'w1');

    await step(h.config.digestWaitMs);
    for (const person of ['w1', 'p1']) {
      const digests = h.publisher.to(person).filter((s) => s.payload.kind === 'digest');
      expect(h.publisher.to(person)).toHaveLength(2);
      expect(digests).toHaveLength(1);
      expect(digests[0]?.payload).toMatchObject({ count: 200, version: 1, updated: false });
      expect(digests[0]?.payload.items).toHaveLength(h.config.digestMaxItems);
    }
    // The grid's robot is a recipient too: one message listing them.
    const robot = rx.at('/wecom');
    expect(robot).toHaveLength(1);
    expect(JSON.stringify(robot[0]?.json())).toContain('告警汇总 200 条');

    // Every folded alert says where it went.
    const some = h.dispatcher.list({ severity: ['major'], limit: 1 }).items[0]?.id ?? '';
    const types = h.dispatcher.timeline(some).map((e) => e.type);
    expect(types).toContain('folded_into_digest');
    expect(h.dispatcher.timeline(some).find((e) => e.type === 'delivered')?.data).toMatchObject({
      channel: 'mqtt',
      version: 1,
    });

    // More of the same storm a minute later: the digest is updated (same id, next version), not repeated.
    const firstId = h.publisher.to('w1').find((s) => s.payload.kind === 'digest')?.payload.digestId;
    await step(60_000);
    for (let i = 200; i < 203; i++) h.dispatcher.handle(offline(`smoke-${i}`));
    await step(h.config.digestWaitMs);
    const latest = h.publisher.to('w1').at(-1)?.payload;
    expect(latest).toMatchObject({
      kind: 'digest',
      digestId: firstId,
      version: 2,
      updated: true,
      count: 203,
      newCount: 3,
    });
  });

  it('holds to a channel’s rate limit, postponing instead of dropping', async () => {
    rx = await new Receiver().start();
    start({ webhooks: { hook: { url: rx.url('/hook') } }, rateLimits: { webhook: { perMinute: 2 } } });
    h.dispatcher.channelTargets.add({
      placeId: 'g1',
      role: null,
      channel: 'webhook',
      target: 'hook',
      label: null,
    });
    const t0 = h.clock.now();
    // One alert every 10 s; virtual time stops at each due moment so the receipt times are exact.
    for (let i = 0; i < 3; i++) {
      h.dispatcher.handle(offline(`cam-${i}`));
      await step(5_000);
      await step(5_000);
    }
    await step(5_000);
    const at = h.dispatcher
      .list({})
      .items.flatMap((a) => h.dispatcher.timeline(a.id))
      .filter((e) => e.type === 'delivered' && e.data.channel === 'webhook')
      .map((e) => e.at - t0)
      .sort((a, b) => a - b);
    // 2 a minute: the first two pass, the third waits for the bucket to refill (not 25 s but 35 s).
    expect(at).toEqual([5_000, 15_000, 35_000]);
    expect(rx.at('/hook')).toHaveLength(3);
  });
});

describe('quiet hours', () => {
  it('holds a minor alert raised in quiet hours until they end, and never holds a critical one', async () => {
    start();
    h.dispatcher.quietHours.add({ placeId: 'g1', personId: null, startMinute: 22 * 60, endMinute: 7 * 60 });
    await step(7 * HOUR); // T0 is 16:00 in Shanghai: now 23:00
    const bin = raise(h.registry, h.clock, {
      placeId: 'b1',
      severity: 'minor',
      category: 'bin',
      deviceId: 'bin-1',
    });
    h.dispatcher.handle(bin);
    const binId = h.dispatcher.list({}).items[0]?.id ?? '';
    h.dispatcher.handle(raise(h.registry, h.clock, { placeId: 'b1', deviceId: 'smoke-night' }));
    const fire = h.dispatcher.list({ severity: ['critical'] }).items[0]?.id ?? '';
    await h.dispatcher.drain();
    const night = h.clock.now();
    // The smoke alarm at once, quiet hours or not.
    expect(h.publisher.to('w1').map((s) => [s.payload.alertId, s.at])).toEqual([[fire, night]]);
    h.dispatcher.acknowledge(fire, 'w1');

    const morning = T0 + 15 * HOUR; // 07:00 next day in Shanghai
    expect(h.dispatcher.timeline(binId).find((e) => e.type === 'held_quiet_hours')?.data).toMatchObject({
      channel: 'mqtt',
      target: 'w1',
      until: morning,
    });
    await step(morning - night - 1);
    expect(h.publisher.to('w1').filter((s) => s.payload.alertId === binId)).toEqual([]);
    await step(1);
    const delivered = h.publisher.to('w1').filter((s) => s.payload.alertId === binId);
    expect(delivered.map((s) => s.at)).toEqual([morning]);
  });

  it('holds per person too, and lets minor alerts through outside the quiet hours', async () => {
    start({ digestWaitMs: 0 });
    h.dispatcher.quietHours.add({ personId: 'w1', placeId: null, startMinute: 12 * 60, endMinute: 14 * 60 });
    // 16:00 local: outside 12–14.
    h.dispatcher.handle(raise(h.registry, h.clock, { placeId: 'b1', severity: 'minor', category: 'bin' }));
    await h.dispatcher.drain();
    expect(h.publisher.to('w1')).toHaveLength(1);
    await step(20 * HOUR); // 12:00 next day
    h.dispatcher.handle(raise(h.registry, h.clock, { placeId: 'b1', severity: 'minor', category: 'bin' }));
    await h.dispatcher.drain();
    expect(h.publisher.to('w1')).toHaveLength(1);
    await step(2 * HOUR);
    expect(h.publisher.to('w1')).toHaveLength(2);
    expect(h.publisher.to('w1')[1]?.at).toBe(T0 + 22 * HOUR);
  });
});
