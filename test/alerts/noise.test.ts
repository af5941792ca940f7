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

async function start(config: Partial<AlertsConfig> = {}): Promise<Harness> {
  h = createHarness({ config: { retryJitter: 0, ...config } });
  seedCommunity(h.registry);
  await h.dispatcher.start();
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
  const ROBOTS = ['wecom', 'dingtalk', 'feishu'] as const;

  /** The grid's three group robots, each at its own path of the receiver. */
  function robots(): Partial<AlertsConfig> {
    return { webhooks: Object.fromEntries(ROBOTS.map((r) => [r, { url: rx?.url(`/${r}`) ?? '' }])) };
  }

  it('turns 50 devices of one grid going offline into one summary per group robot per window, while each critical alarm goes out alone and at once', async () => {
    rx = await new Receiver(() => h.clock.now()).start();
    await start(robots());
    for (const r of ROBOTS) {
      await h.dispatcher.channelTargets.add({
        placeId: 'g1',
        role: null,
        channel: r,
        target: r,
        label: null,
      });
    }
    const t0 = h.clock.now();
    for (let i = 0; i < 25; i++) await h.dispatcher.handle(offline(`smoke-${i}`));
    await h.dispatcher.handle(raise(h.registry, h.clock, { placeId: 'b1', deviceId: 'smoke-fire' }));
    for (let i = 25; i < 50; i++) await h.dispatcher.handle(offline(`smoke-${i}`));
    await h.dispatcher.handle(
      raise(h.registry, h.clock, {
        placeId: 'b1u1',
        deviceId: 'cb-1',
        deviceType: 'call_button',
        ruleId: 'call.press',
        category: 'call_for_help',
        title: 'One-key call',
        dedup: 'per-occurrence',
      }),
    );
    const critical = (await h.dispatcher.list({ severity: ['critical'] })).items.map((a) => a.id);
    expect(critical).toHaveLength(2);
    await h.dispatcher.drain();

    // The same instant: each critical alarm to each robot, alone, and nothing of the storm yet.
    for (const r of ROBOTS) {
      const got = rx.at(`/${r}`);
      expect(got.map((m) => m.at - t0)).toEqual([0, 0]);
      expect(got.map((m) => m.body.toString())).toEqual([
        expect.stringContaining('烟感报警'),
        expect.stringContaining('一键呼叫'),
      ]);
    }
    for (const id of critical) await h.dispatcher.acknowledge(id, 'w1');

    // After the wait for company: one summary per robot, counting all 50 and naming devices.
    await step(h.config.digestWaitMs);
    for (const r of ROBOTS) {
      const got = rx.at(`/${r}`).slice(2);
      expect(got).toHaveLength(1);
      expect(got[0]?.at).toBe(t0 + h.config.digestWaitMs);
      const body = got[0]?.body.toString() ?? '';
      expect(body).toContain('告警汇总：50 条');
      expect(body).toContain('设备离线 50 条');
      expect(body).toContain('smoke-0');
      expect(body).toContain('/worker/#/alerts');
    }
    const wecom = rx.at('/wecom')[2]?.json() as { markdown: { content: string } };
    expect(Buffer.byteLength(wecom.markdown.content, 'utf8')).toBeLessThanOrEqual(4096);

    // More of the same storm within the window: no growing re-send; they wait for the window's end, then one
    // summary of only the new ones.
    await step(15_000);
    for (let i = 50; i < 53; i++) await h.dispatcher.handle(offline(`smoke-${i}`));
    await step(h.config.digestWaitMs);
    await step(30_000);
    for (const r of ROBOTS) expect(rx.at(`/${r}`)).toHaveLength(3);
    const windowEnd = t0 + h.config.digestWaitMs + h.config.messages.robotWindowMs;
    await step(windowEnd - h.clock.now());
    for (const r of ROBOTS) {
      const got = rx.at(`/${r}`);
      expect(got).toHaveLength(4);
      expect(got[3]?.at).toBe(windowEnd);
      expect(got[3]?.body.toString()).toContain('告警汇总：3 条');
    }

    // The worker app can replace a digest by its id: there it is one digest, updated.
    const digests = h.publisher.to('w1').filter((s) => s.payload.kind === 'digest');
    expect(digests.map((d) => [d.payload.count, d.payload.version])).toEqual([
      [50, 1],
      [53, 2],
    ]);
    expect(digests[0]?.payload.items).toHaveLength(h.config.digestMaxItems);

    // Every folded alert says where it went.
    const some = (await h.dispatcher.list({ severity: ['major'], limit: 1 })).items[0]?.id ?? '';
    expect((await h.dispatcher.timeline(some)).map((e) => e.type)).toContain('folded_into_digest');
  });

  it('holds each robot to its rate limit, postponing instead of dropping, without slowing another robot', async () => {
    rx = await new Receiver(() => h.clock.now()).start();
    await start({
      webhooks: { a: { url: rx.url('/a') }, b: { url: rx.url('/b') } },
      rateLimits: { dingtalk: { perMinute: 2 } },
    });
    await h.dispatcher.channelTargets.add({
      placeId: 'g1',
      role: null,
      channel: 'dingtalk',
      target: 'a',
      label: null,
    });
    await h.dispatcher.channelTargets.add({
      placeId: 'g2',
      role: null,
      channel: 'dingtalk',
      target: 'b',
      label: null,
    });
    const t0 = h.clock.now();
    // Critical alarms are never folded, so only the rate limit decides when each goes out.
    for (let i = 0; i < 3; i++) {
      await h.dispatcher.handle(raise(h.registry, h.clock, { placeId: 'b1', deviceId: `fire-a${i}` }));
      await h.dispatcher.drain();
      await step(10_000);
    }
    await h.dispatcher.handle(raise(h.registry, h.clock, { placeId: 'b2', deviceId: 'fire-b' }));
    await h.dispatcher.drain();
    // 2 a minute to robot a: the first two pass, the third waits for a token (not 20 s but 30 s); robot b is not
    // held back by robot a's bucket.
    expect(rx.at('/a').map((m) => m.at - t0)).toEqual([0, 10_000, 30_000]);
    expect(rx.at('/b').map((m) => m.at - t0)).toEqual([30_000]);
  });
});

describe('quiet hours', () => {
  it('holds a minor alert raised in quiet hours until they end, and never holds a critical one', async () => {
    await start();
    await h.dispatcher.quietHours.add({
      placeId: 'g1',
      personId: null,
      startMinute: 22 * 60,
      endMinute: 7 * 60,
    });
    await step(7 * HOUR); // T0 is 16:00 in Shanghai: now 23:00
    const bin = raise(h.registry, h.clock, {
      placeId: 'b1',
      severity: 'minor',
      category: 'bin',
      deviceId: 'bin-1',
    });
    await h.dispatcher.handle(bin);
    const binId = (await h.dispatcher.list({})).items[0]?.id ?? '';
    await h.dispatcher.handle(raise(h.registry, h.clock, { placeId: 'b1', deviceId: 'smoke-night' }));
    const fire = (await h.dispatcher.list({ severity: ['critical'] })).items[0]?.id ?? '';
    await h.dispatcher.drain();
    const night = h.clock.now();
    // The smoke alarm at once, quiet hours or not.
    expect(h.publisher.to('w1').map((s) => [s.payload.alertId, s.at])).toEqual([[fire, night]]);
    await h.dispatcher.acknowledge(fire, 'w1');

    const morning = T0 + 15 * HOUR; // 07:00 next day in Shanghai
    expect(
      (await h.dispatcher.timeline(binId)).find((e) => e.type === 'held_quiet_hours')?.data,
    ).toMatchObject({
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
    await start({ digestWaitMs: 0 });
    await h.dispatcher.quietHours.add({
      personId: 'w1',
      placeId: null,
      startMinute: 12 * 60,
      endMinute: 14 * 60,
    });
    // 16:00 local: outside 12–14.
    await h.dispatcher.handle(
      raise(h.registry, h.clock, { placeId: 'b1', severity: 'minor', category: 'bin' }),
    );
    await h.dispatcher.drain();
    expect(h.publisher.to('w1')).toHaveLength(1);
    await step(20 * HOUR); // 12:00 next day
    await h.dispatcher.handle(
      raise(h.registry, h.clock, { placeId: 'b1', severity: 'minor', category: 'bin' }),
    );
    await h.dispatcher.drain();
    expect(h.publisher.to('w1')).toHaveLength(1);
    await step(2 * HOUR);
    expect(h.publisher.to('w1')).toHaveLength(2);
    expect(h.publisher.to('w1')[1]?.at).toBe(T0 + 22 * HOUR);
  });
});
