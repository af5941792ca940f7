import { createHmac } from 'node:crypto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { AlertsConfig } from '../../src/alerts/config.ts';
import { Receiver } from '../channels/receiver.ts';
import { createHarness, type Harness, raise, seedCommunity } from './fixtures.ts';

let h: Harness;
let rx: Receiver;

afterEach(async () => {
  await h?.close();
  await rx?.stop();
});

async function setup(config: (rx: Receiver) => Partial<AlertsConfig>): Promise<void> {
  rx = await new Receiver().start();
  h = createHarness({ config: { retryJitter: 0, ...config(rx) } });
  seedCommunity(h.registry);
}

/** A channel target for grid g1 (every role), as an admin adds one. */
async function gridTarget(channel: string, target: string): Promise<void> {
  await h.dispatcher.channelTargets.add({ placeId: 'g1', role: null, channel, target, label: null });
}

/** Advance virtual time and let every delivery that fell due finish (real HTTP to the receiver). */
async function step(ms: number): Promise<void> {
  await h.clock.advanceAsync(ms);
  await h.dispatcher.drain();
}

const throwAlarm = (deviceId = 'cam-1') =>
  raise(h.registry, h.clock, {
    placeId: 'b1',
    deviceId,
    deviceType: 'throw_camera',
    ruleId: 'throw.detected',
    severity: 'major',
    category: 'throw',
    title: '高空抛物',
    detail: 'confidence 0.93, floor 12',
  });

describe('webhook channels', () => {
  it('posts plain JSON, WeCom, DingTalk and Feishu robot formats, each signed the way its platform checks', async () => {
    await setup((r) => ({
      webhooks: {
        plain: { url: r.url('/plain'), secret: 'plain-secret' },
        wecom: { url: r.url('/wecom?key=wk-123') },
        ding: { url: r.url('/ding?access_token=dt-456'), secret: 'SECding' },
        fei: { url: r.url('/fei'), secret: 'fei-secret' },
      },
    }));
    for (const [channel, target] of [
      ['webhook', 'plain'],
      ['wecom', 'wecom'],
      ['dingtalk', 'ding'],
      ['feishu', 'fei'],
    ] as const) {
      await gridTarget(channel, target);
    }
    await h.dispatcher.start();
    await h.dispatcher.handle(throwAlarm());
    const id = (await h.dispatcher.list({})).items[0]?.id ?? '';
    await step(h.config.digestWaitMs);

    const [plain] = rx.at('/plain');
    expect(plain).toBeDefined();
    const body = plain?.json() ?? {};
    expect(body).toMatchObject({
      kind: 'alarm',
      alertId: id,
      severity: 'major',
      title: '高空抛物',
      attempt: 1,
    });
    expect(body.idempotencyKey).toBe(plain?.headers['idempotency-key']);
    const ts = String(plain?.headers['x-gridhub-timestamp']);
    const expected = createHmac('sha256', 'plain-secret').update(`${ts}.${plain?.body.toString('utf8')}`);
    expect(plain?.headers['x-gridhub-signature']).toBe(`sha256=${expected.digest('hex')}`);

    const [wecom] = rx.at('/wecom');
    expect(wecom?.url.searchParams.get('key')).toBe('wk-123');
    const wbody = wecom?.json() as { msgtype: string; markdown: { content: string } };
    expect(wbody.msgtype).toBe('markdown');
    expect(wbody.markdown.content).toContain('高空抛物');
    expect(wbody.markdown.content).toContain(id);
    expect(wecom?.headers['idempotency-key']).toMatch(/^gh-/);

    const [ding] = rx.at('/ding');
    const dts = ding?.url.searchParams.get('timestamp') ?? '';
    expect(ding?.url.searchParams.get('access_token')).toBe('dt-456');
    expect(Math.abs(Number(dts) - Date.now())).toBeLessThan(60_000); // milliseconds, wall clock
    expect(ding?.url.searchParams.get('sign')).toBe(
      createHmac('sha256', 'SECding').update(`${dts}\nSECding`).digest('base64'),
    );
    const dbody = ding?.json() as { msgtype: string; markdown: { title: string; text: string } };
    expect(dbody.msgtype).toBe('markdown');
    expect(dbody.markdown.title).toContain('高空抛物');

    const [fei] = rx.at('/fei');
    const fbody = fei?.json() as {
      timestamp: string;
      sign: string;
      msg_type: string;
      card: {
        header: { title: { content: string } };
        elements: { tag: string; actions?: { url: string }[] }[];
      };
    };
    expect(Math.abs(Number(fbody.timestamp) - Date.now() / 1000)).toBeLessThan(60); // seconds
    expect(fbody.sign).toBe(
      createHmac('sha256', `${fbody.timestamp}\nfei-secret`).update('').digest('base64'),
    );
    expect(fbody.msg_type).toBe('interactive');
    expect(fbody.card.header.title.content).toContain('高空抛物');
    // The card's button opens the alert in the worker view.
    const button = fbody.card.elements.find((e) => e.tag === 'action')?.actions?.[0];
    expect(button?.url).toMatch(new RegExp(`/worker/#/alerts/${id}$`));

    const delivered = (await h.dispatcher.timeline(id))
      .filter((e) => e.type === 'delivered')
      .map((e) => [e.data.channel, e.data.status]);
    expect(delivered).toEqual(
      expect.arrayContaining([
        ['webhook', 200],
        ['wecom', 200],
        ['dingtalk', 200],
        ['feishu', 200],
      ]),
    );
  });

  it('treats a robot’s 200 with an error code as a failure', async () => {
    await setup((r) => ({ webhooks: { wecom: { url: r.url('/wecom?key=k') } }, maxAttempts: 1 }));
    rx.script('/wecom', { status: 200, body: { errcode: 93000, errmsg: 'invalid webhook url' } });
    await gridTarget('wecom', 'wecom');
    await h.dispatcher.start();
    await h.dispatcher.handle(throwAlarm());
    await step(h.config.digestWaitMs);
    const id = (await h.dispatcher.list({})).items[0]?.id ?? '';
    const dead = (await h.dispatcher.timeline(id)).find((e) => e.type === 'delivery_dead');
    expect(dead?.data).toMatchObject({ channel: 'wecom', status: 200 });
    expect(String(dead?.data.error)).toContain('93000');
  });

  it('retries after a 500 and a timeout with the same idempotency key, backing off exponentially', async () => {
    await setup((r) => ({
      webhooks: { plain: { url: r.url('/plain') } },
      deliveryTimeoutMs: 300,
      retryBaseMs: 1000,
    }));
    rx.script('/plain', { status: 500, body: { error: 'boom' } }, 'hang', { status: 200 });
    await gridTarget('webhook', 'plain');
    await h.dispatcher.start();
    await h.dispatcher.handle(throwAlarm());
    const id = (await h.dispatcher.list({})).items[0]?.id ?? '';
    const t0 = h.clock.now() + h.config.digestWaitMs;
    await step(h.config.digestWaitMs);
    expect(rx.at('/plain')).toHaveLength(1);
    await step(999);
    expect(rx.at('/plain')).toHaveLength(1);
    await step(1); // t0 + 1 s: second attempt, which hangs past the timeout
    expect(rx.at('/plain')).toHaveLength(2);
    await step(1999);
    expect(rx.at('/plain')).toHaveLength(2);
    await step(1); // t0 + 3 s: third attempt, taken
    const reqs = rx.at('/plain');
    expect(reqs).toHaveLength(3);
    const keys = reqs.map((r) => r.headers['idempotency-key']);
    expect(new Set(keys).size).toBe(1);
    expect(reqs.map((r) => r.json().idempotencyKey)).toEqual(keys);
    expect(reqs.map((r) => r.json().attempt)).toEqual([1, 2, 3]);

    const attempts = (await h.dispatcher.timeline(id))
      .filter((e) => e.data.channel === 'webhook')
      .map((e) => ({ type: e.type, at: e.at, attempt: e.data.attempt, status: e.data.status }));
    expect(attempts).toEqual([
      { type: 'delivery_failed', at: t0, attempt: 1, status: 500 },
      { type: 'delivery_failed', at: t0 + 1000, attempt: 2, status: null },
      { type: 'delivered', at: t0 + 3000, attempt: 3, status: 200 },
    ]);
    const timeoutEvent = (await h.dispatcher.timeline(id)).find((e) => e.data.attempt === 2);
    expect(String(timeoutEvent?.data.error)).toMatch(/300 ms/);
    // …and in the metrics, by channel and response code.
    const responses = await h.metrics.getSingleMetricAsString('gridhub_alerts_delivery_responses_total');
    expect(responses).toContain('channel="webhook",code="500"} 1');
    expect(responses).toContain('channel="webhook",code="none"} 1');
    expect(responses).toContain('channel="webhook",code="200"} 1');
    const outcomes = await h.metrics.getSingleMetricAsString('gridhub_alerts_deliveries_total');
    expect(outcomes).toContain('channel="webhook",outcome="failed"} 2');
  });

  it('puts a delivery in the dead state with the reason: at once on a 4xx, after N tries on 5xx', async () => {
    await setup((r) => ({
      webhooks: { bad: { url: r.url('/bad') }, down: { url: r.url('/down') } },
      maxAttempts: 3,
      retryBaseMs: 1000,
    }));
    rx.script('/bad', { status: 400, body: { error: 'unknown field' } });
    rx.script('/down', { status: 503 });
    for (const target of ['bad', 'down']) {
      await gridTarget('webhook', target);
    }
    await h.dispatcher.start();
    await h.dispatcher.handle(throwAlarm());
    const id = (await h.dispatcher.list({})).items[0]?.id ?? '';
    await step(h.config.digestWaitMs);
    await step(1000);
    await step(2000);
    await step(60_000);
    expect(rx.at('/bad')).toHaveLength(1);
    expect(rx.at('/down')).toHaveLength(3);
    const rows = (await h.dispatcher.deliveries(id)).filter((d) => d.channel === 'webhook');
    expect(rows.map((r) => [r.state, r.attempts, r.lastStatus])).toEqual([
      ['dead', 1, 400],
      ['dead', 3, 503],
    ]);
    expect(rows[0]?.lastError).toMatch(/^not retryable: HTTP 400/);
    expect(rows[1]?.lastError).toMatch(/^gave up after 3 attempts: HTTP 503/);
    expect((await h.dispatcher.timeline(id)).filter((e) => e.type === 'delivery_dead')).toHaveLength(2);
  });
  it('leaves a delivery that fails while the hub stops claimed for the next start, no attempt counted', async () => {
    await setup((r) => ({ webhooks: { plain: { url: r.url('/plain') } }, deliveryTimeoutMs: 300 }));
    rx.script('/plain', 'hang', { status: 200 });
    await gridTarget('webhook', 'plain');
    await h.dispatcher.start();
    await h.dispatcher.handle(throwAlarm());
    const id = (await h.dispatcher.list({})).items[0]?.id ?? '';
    // not `drain`, which would wait for the delivery to time out: the hub stops while the receiver hangs
    await h.clock.advanceAsync(h.config.digestWaitMs);
    await vi.waitUntil(() => rx.at('/plain').length === 1);
    await h.dispatcher.stop();
    const webhook = async () => (await h.dispatcher.deliveries(id)).filter((d) => d.channel === 'webhook');
    // the delivery timed out while the hub stopped: still pending, no attempt counted, no failure recorded
    expect((await webhook()).map((d) => [d.state, d.attempts, d.lastError])).toEqual([['pending', 0, null]]);
    expect((await h.dispatcher.timeline(id)).some((e) => e.type === 'delivery_failed')).toBe(false);

    h.db.close();
    const again = h.restart();
    await again.start();
    // the group heard from us at the first attempt: the robot window holds the message until it ends
    await h.clock.advanceAsync(h.config.messages.robotWindowMs);
    await again.drain();
    expect(rx.at('/plain')).toHaveLength(2);
    expect((await webhook()).map((d) => [d.state, d.attempts])).toEqual([['done', 1]]);
    const keys = rx.at('/plain').map((r) => r.headers['idempotency-key']);
    expect(new Set(keys).size).toBe(1);
  });
});

/** The call button cb-1 of unit b1u1 pressed: a critical alert of its own (per occurrence). */
async function pressCallButton(): Promise<void> {
  await h.dispatcher.handle(
    raise(h.registry, h.clock, {
      placeId: 'b1u1',
      deviceId: 'cb-1',
      deviceType: 'call_button',
      ruleId: 'call.press',
      category: 'call',
      title: '一键呼叫',
      detail: 'press',
      dedup: 'per-occurrence',
    }),
  );
}

describe('must-reach ladder', () => {
  it('walks app push with group robot → SMS/voice → family contact, on silence in time', async () => {
    await setup((r) => ({
      webhooks: { robot: { url: r.url('/robot?access_token=t'), secret: 'SECr' } },
      smsGatewayUrl: r.url('/sms'),
      mustReachStepMs: 30_000,
      mustReachMaxAttempts: 3,
      retryBaseMs: 1000,
    }));
    rx.script('/robot', { status: 500 });
    await gridTarget('dingtalk', 'robot');
    await h.dispatcher.people.update('w1', { phone: '13800000001' });
    await h.dispatcher.people.update('p1', { phone: '13900000002' });
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
    await h.dispatcher.start();
    const t0 = h.clock.now();
    await pressCallButton();
    const id = (await h.dispatcher.list({})).items[0]?.id ?? '';
    await h.dispatcher.drain();
    // Rung 0 at once: the app push to the on-duty worker and property duty, and the grid's group robot with it.
    expect(h.publisher.sent.map((s) => s.workerId).sort()).toEqual(['p1', 'w1']);
    expect(rx.at('/robot')).toHaveLength(1);
    expect(rx.at('/sms')).toHaveLength(0);

    await step(1000);
    await step(2000); // the robot's third and last attempt dies; the app push went through, so the rung holds
    expect(rx.at('/robot')).toHaveLength(3);
    expect(rx.at('/sms')).toHaveLength(0);
    await step(26_999);
    expect(rx.at('/sms')).toHaveLength(0);
    await step(1); // 30 s, not acknowledged: SMS and voice to those notified
    const sms = rx.at('/sms').map((r) => r.json());
    expect(sms.map((b) => [b.channel, b.to]).sort()).toEqual([
      ['sms', '13800000001'],
      ['sms', '13900000002'],
      ['voice', '13800000001'],
      ['voice', '13900000002'],
    ]);
    // The gateway needs the worker's number; the resident's is in no SMS or call, masked or not.
    expect(String(sms.find((b) => b.channel === 'sms')?.text)).toMatch(/^【智慧社区】/);
    expect(JSON.stringify(sms)).not.toContain('13700000003');
    expect(JSON.stringify(sms)).not.toContain('高血压');
    expect(rx.at('/sms')[0]?.headers['idempotency-key']).toBe(sms[0]?.idempotencyKey);

    await step(30_000); // still nobody acknowledges: the resident's family
    const family = rx
      .at('/sms')
      .slice(4)
      .map((r) => [r.json().channel, r.json().to]);
    expect(family.sort()).toEqual([
      ['sms', '13600000004'],
      ['voice', '13600000004'],
    ]);

    const ladder = (await h.dispatcher.timeline(id))
      .filter((e) => e.type === 'must_reach')
      .map((e) => ({ at: e.at - t0, rung: e.data.step, reason: e.data.reason }));
    expect(ladder).toEqual([
      { at: 30_000, rung: 'sms_voice', reason: 'not acknowledged within 30 s of app_push_group_robot' },
      { at: 60_000, rung: 'family_contact', reason: 'not acknowledged within 30 s of sms_voice' },
    ]);
    // Targets in the timeline are masked too.
    const smsStep = (await h.dispatcher.timeline(id)).find((e) => e.data.step === 'sms_voice');
    expect(JSON.stringify(smsStep?.data.targets)).toContain('138****0001');
    expect(JSON.stringify(await h.dispatcher.timeline(id))).not.toContain('13800000001');

    // An acknowledgement ends the ladder: no more calls or SMS (the robot keeps retrying its failed messages).
    await h.dispatcher.acknowledge(id, 'w1');
    const before = rx.at('/sms').length;
    await step(120_000);
    expect(rx.at('/sms').length).toBe(before);
    expect((await h.dispatcher.timeline(id)).some((e) => e.type === 'must_reach_exhausted')).toBe(false);
  });

  it('tries a rung whose transaction failed again after a back-off: the ladder does not stop there', async () => {
    await setup((r) => ({ smsGatewayUrl: r.url('/sms'), mustReachStepMs: 30_000 }));
    await h.dispatcher.people.update('w1', { phone: '13800000001' });
    await h.dispatcher.start();
    const t0 = h.clock.now();
    await pressCallButton();
    const id = (await h.dispatcher.list({})).items[0]?.id ?? '';
    await h.dispatcher.drain();
    // the store refuses the rung's timeline row at 30 s, as a lost connection would: the rung rolls back
    h.db.exec(
      "CREATE TEMP TRIGGER refuse_rung BEFORE INSERT ON alert_events WHEN NEW.type = 'must_reach' BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END",
    );
    await step(30_000);
    expect(rx.at('/sms')).toHaveLength(0);
    h.db.exec('DROP TRIGGER refuse_rung');
    await step(1_000);
    expect(
      rx
        .at('/sms')
        .map((r) => r.json().channel)
        .sort(),
    ).toEqual(['sms', 'voice']);
    const ladder = (await h.dispatcher.timeline(id)).filter((e) => e.type === 'must_reach');
    expect(ladder.map((e) => [e.at - t0, e.data.step])).toEqual([[31_000, 'sms_voice']]);
  });

  it('moves on at once when every delivery of a rung is dead: phones, not 30 s later', async () => {
    await setup((r) => ({
      webhooks: { robot: { url: r.url('/robot') } },
      smsGatewayUrl: r.url('/sms'),
      mustReachMaxAttempts: 3,
      retryBaseMs: 1000,
    }));
    rx.script('/robot', { status: 500 });
    await gridTarget('wecom', 'robot');
    await h.dispatcher.people.update('w1', { phone: '13800000001' });
    h.publisher.failNext = 1000; // the broker refuses every app push
    await h.dispatcher.start();
    const t0 = h.clock.now();
    await h.dispatcher.handle(raise(h.registry, h.clock, { placeId: 'b1' }));
    const id = (await h.dispatcher.list({})).items[0]?.id ?? '';
    await h.dispatcher.drain();
    await step(1000);
    expect(rx.at('/sms')).toHaveLength(0);
    await step(2000); // the third attempt of the app pushes and the robot dies: the rung has failed
    expect(rx.at('/sms').map((r) => r.json().to)).toEqual(['13800000001', '13800000001']);
    const moved = (await h.dispatcher.timeline(id)).find((e) => e.type === 'must_reach');
    expect(moved).toMatchObject({
      at: t0 + 3000,
      data: { step: 'sms_voice', reason: 'every app_push_group_robot delivery failed' },
    });
  });

  it('keeps its place on the ladder across a restart', async () => {
    await setup((r) => ({ smsGatewayUrl: r.url('/sms') }));
    await h.dispatcher.people.update('w1', { phone: '13800000001' });
    await h.dispatcher.start();
    const t0 = h.clock.now();
    await h.dispatcher.handle(raise(h.registry, h.clock, { placeId: 'b1' }));
    const id = (await h.dispatcher.list({})).items[0]?.id ?? '';
    await step(10_000);
    await h.dispatcher.stop();
    h.db.close();
    await h.clock.advanceAsync(5_000);
    const again = h.restart();
    await again.start();
    await step(14_999);
    expect(rx.at('/sms')).toHaveLength(0);
    await step(1); // t0 + 30 s: no robot configured, so straight to SMS/voice
    expect(rx.at('/sms').map((r) => r.json().to)).toEqual(['13800000001', '13800000001']);
    const stepEvent = (await again.timeline(id)).find((e) => e.type === 'must_reach');
    expect(stepEvent).toMatchObject({
      at: t0 + 30_000,
      data: { step: 'sms_voice', skipped: [] },
    });
  });

  it('stops at the first rung when the alarm is acknowledged in time', async () => {
    await setup((r) => ({ smsGatewayUrl: r.url('/sms') }));
    await h.dispatcher.people.update('w1', { phone: '13800000001' });
    await h.dispatcher.start();
    await h.dispatcher.handle(raise(h.registry, h.clock, { placeId: 'b1' }));
    const id = (await h.dispatcher.list({})).items[0]?.id ?? '';
    await step(20_000);
    await h.dispatcher.acknowledge(id, 'w1');
    await step(120_000);
    expect(rx.received).toEqual([]);
    expect((await h.dispatcher.timeline(id)).filter((e) => e.type.startsWith('must_reach'))).toEqual([]);
  });
});
