import { createECDH, randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import type { AlertsConfig } from '../../src/alerts/config.ts';
import { type Harness, raise } from './fixtures.ts';
import { buildRoutesApp } from './routes-app.ts';

let h: Harness;
let app: FastifyInstance;

const G1_ROBOT = { 'g1-robot': { url: 'https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k' } };

async function build(config?: Partial<AlertsConfig>): Promise<void> {
  ({ h, app } = await buildRoutesApp({ config: { webhooks: G1_ROBOT, ...config } }));
}

afterEach(async () => {
  await app?.close();
  await h?.close();
});

const as = (user: string, method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, payload?: object) =>
  app.inject({
    method,
    url: `/api${url}`,
    headers: { 'x-test-user': user },
    ...(payload ? { payload } : {}),
  });

const RESIDENT = {
  name: '王秀英',
  phone: '13700000003',
  familyName: '王强',
  familyPhone: '13600000004',
  healthNotes: '高血压，独居',
  deviceId: 'cb-1',
  placeId: 'b1u1',
};

async function callButton(): Promise<string> {
  await h.dispatcher.handle(
    raise(h.registry, h.clock, {
      placeId: 'b1u1',
      deviceId: 'cb-1',
      deviceType: 'call_button',
      ruleId: 'call.press',
      category: 'call',
      title: '一键呼叫',
      dedup: 'per-occurrence',
    }),
  );
  return (await h.dispatcher.list({})).items[0]?.id ?? '';
}

describe('privacy', () => {
  it('masks the resident everywhere, unmasks only for those acting on the alert, and audits each unmasked read', async () => {
    await build();
    expect((await as('w1', 'PUT', '/residents/r1', RESIDENT)).statusCode).toBe(403);
    const put = await as('admin', 'PUT', '/residents/r1', RESIDENT);
    expect(put.statusCode).toBe(200);
    expect(put.json().resident).toMatchObject({ name: '王**', phone: '137****0003', healthNotes: '***' });
    expect(put.body).not.toContain('13700000003');

    const id = await callButton();
    await h.dispatcher.drain();
    // The alarm on the phone of each person acting on it (worker and property duty, both notified) carries the
    // resident's card: they have to call back. `resident` stays masked; each card sent is audited.
    for (const person of ['w1', 'p1']) {
      const alarm = h.publisher.to(person)[0]?.payload;
      expect(alarm?.resident).toMatchObject({ phone: '137****0003', familyPhone: '136****0004' });
      expect(alarm?.residentCard).toEqual({
        name: '王秀英',
        phone: '13700000003',
        familyName: '王强',
        familyPhone: '13600000004',
        healthNotes: '高血压，独居',
        masked: false,
      });
    }
    expect(h.publisher.sent.map((s) => s.workerId).sort()).toEqual(['p1', 'w1']);
    const sentAudit = (await h.dispatcher.audit.list({})).filter((e) => e.action === 'resident.sent');
    expect(sentAudit.map((e) => e.username).sort()).toEqual(['person:p1', 'person:w1']);
    expect(sentAudit[0]).toMatchObject({ subject: 'resident:r1', alertId: id, detail: { channel: 'mqtt' } });

    // Alert detail and list: masked, for everyone.
    for (const user of ['w1', 'mgr', 'admin']) {
      const detail = await as(user, 'GET', `/alerts/${id}`);
      expect(detail.json().alert.resident).toMatchObject({ phone: '137****0003', masked: true });
      expect(detail.body).not.toMatch(/13700000003|13600000004|高血压/);
      expect((await as(user, 'GET', '/alerts')).body).not.toMatch(/13700000003|高血压/);
    }

    // w1 was notified: acting on it; the manager was not.
    const mine = await as('w1', 'GET', `/alerts/${id}/resident`);
    expect(mine.json()).toMatchObject({
      masked: false,
      resident: { phone: '13700000003', familyPhone: '13600000004', healthNotes: '高血压，独居' },
    });
    const theirs = await as('mgr', 'GET', `/alerts/${id}/resident`);
    expect(theirs.json()).toMatchObject({ masked: true, resident: { phone: '137****0003' } });
    expect((await as('w2', 'GET', `/alerts/${id}/resident`)).statusCode).toBe(404);

    expect((await as('w1', 'GET', '/audit')).statusCode).toBe(403);
    const audit = (await as('admin', 'GET', '/audit')).json().items as Record<string, unknown>[];
    expect(audit.filter((e) => e.action === 'resident.read')).toEqual([
      expect.objectContaining({ username: 'w1', subject: 'resident:r1', alertId: id }),
    ]);
    expect(audit.some((e) => e.action === 'resident.write' && e.username === 'admin')).toBe(true);

    // Once resolved, nobody is acting on it any more.
    await h.dispatcher.resolve(id, 'w1', { note: '老人误按' });
    expect((await as('w1', 'GET', `/alerts/${id}/resident`)).json().masked).toBe(true);
  });

  it('registers Web Push subscriptions per user device and hands out the VAPID public key', async () => {
    await build();
    const ecdh = createECDH('prime256v1');
    ecdh.generateKeys();
    const sub = {
      endpoint: 'https://fcm.googleapis.com/fcm/send/abc',
      keys: {
        p256dh: ecdh.getPublicKey().toString('base64url'),
        auth: randomBytes(16).toString('base64url'),
      },
    };
    const key = (await as('w1', 'GET', '/push/vapid-public-key')).json().publicKey as string;
    expect(Buffer.from(key, 'base64url')).toHaveLength(65);
    expect((await as('w1', 'POST', '/push/subscriptions', sub)).statusCode).toBe(201);
    expect((await as('w1', 'POST', '/push/subscriptions', sub)).statusCode).toBe(201); // same device: upsert
    expect((await as('w1', 'GET', '/push/subscriptions')).json().items).toHaveLength(1);
    // SSRF (finding 2): only https endpoints of the public push services of alerts.webPushServices
    for (const endpoint of [
      'http://127.0.0.1:9/push',
      'https://127.0.0.1/push',
      'https://push.example.net/x',
    ]) {
      const refused = await as('w1', 'POST', '/push/subscriptions', { ...sub, endpoint });
      expect(refused.statusCode, endpoint).toBe(400);
    }
    expect((await as('admin', 'POST', '/push/subscriptions', sub)).statusCode).toBe(400);
    expect(
      (await as('w1', 'POST', '/push/subscriptions', { ...sub, keys: { p256dh: 'x', auth: 'y' } }))
        .statusCode,
    ).toBe(400);
    expect((await as('w2', 'DELETE', '/push/subscriptions', { endpoint: sub.endpoint })).statusCode).toBe(
      404,
    );
    expect((await as('w1', 'DELETE', '/push/subscriptions', { endpoint: sub.endpoint })).statusCode).toBe(
      200,
    );
    expect(await h.dispatcher.pushStore.list('w1')).toEqual([]);
  });
});

describe('maintenance', () => {
  it('lists the task a device-fault mark opened, in scope, and closing it ends the suppression', async () => {
    await build();
    const r = raise(h.registry, h.clock, { placeId: 'b1', deviceId: 'smoke-dusty' });
    await h.dispatcher.handle(r);
    const id = (await h.dispatcher.list({})).items[0]?.id ?? '';
    await as('w1', 'POST', `/alerts/${id}/false-alarm`, {
      kind: 'device_fault',
      reason: 'dust in the chamber',
    });
    h.clock.advance(60_000);
    await h.dispatcher.handle({ ...r, at: h.clock.now() });
    expect((await h.dispatcher.list({})).total).toBe(1); // suppressed

    const tasks = (await as('w1', 'GET', '/maintenance')).json().items as { id: number; deviceId: string }[];
    expect(tasks).toEqual([
      expect.objectContaining({ deviceId: 'smoke-dusty', alertId: id, reason: 'device_fault' }),
    ]);
    expect((await as('w2', 'GET', '/maintenance')).json().items).toEqual([]);
    expect((await as('w2', 'POST', `/maintenance/${tasks[0]?.id}/close`, {})).statusCode).toBe(404);

    const closed = await as('w1', 'POST', `/maintenance/${tasks[0]?.id}/close`, { note: 'cleaned' });
    expect(closed.json().task).toMatchObject({ doneBy: 'w1', doneNote: 'cleaned' });
    expect((await as('w1', 'POST', `/maintenance/${tasks[0]?.id}/close`, {})).statusCode).toBe(409);
    expect((await as('w1', 'GET', '/maintenance')).json().items).toEqual([]);
    expect((await as('w1', 'GET', '/maintenance?state=closed')).json().items).toHaveLength(1);

    h.clock.advance(60_000);
    await h.dispatcher.handle({ ...r, at: h.clock.now() });
    expect((await h.dispatcher.list({})).total).toBe(2); // the fixed device's alarm counts again
  });
});

describe('quiet hours and channel targets API', () => {
  it('lets managers set quiet hours and admins set channel targets', async () => {
    await build({ webhooks: { 'g1-robot': { url: 'http://127.0.0.1:9/robot' } } });
    expect(
      (await as('w1', 'POST', '/quiet-hours', { placeId: 'g1', start: '22:00', end: '07:00' })).statusCode,
    ).toBe(403);
    const q = await as('mgr', 'POST', '/quiet-hours', { placeId: 'g1', start: '22:00', end: '07:00' });
    expect(q.statusCode).toBe(201);
    expect(q.json().quietHours).toMatchObject({ startMinute: 1320, endMinute: 420 });
    expect((await as('mgr', 'POST', '/quiet-hours', { start: '22:00', end: '07:00' })).statusCode).toBe(400);
    expect((await as('w1', 'GET', '/quiet-hours')).json().items[0]).toMatchObject({
      start: '22:00',
      end: '07:00',
    });

    expect(
      (await as('mgr', 'POST', '/channel-targets', { placeId: 'g1', channel: 'wecom', target: 'g1-robot' }))
        .statusCode,
    ).toBe(403);
    // A target naming an endpoint the config does not have is refused now, not at the first alarm.
    const missing = await as('admin', 'POST', '/channel-targets', {
      placeId: 'g1',
      channel: 'wecom',
      target: 'g2-robot',
    });
    expect(missing.statusCode).toBe(400);
    expect(missing.json().error).toMatchObject({
      code: 'REQUEST_INVALID',
      field: 'target',
      message: 'no webhook endpoint named g2-robot in alerts.webhooks; configured: g1-robot',
    });
    const noSms = await as('admin', 'POST', '/channel-targets', {
      placeId: 'g1',
      channel: 'sms',
      target: '13800000000',
    });
    expect(noSms.json().error.message).toMatch(/^channel sms is not configured on this hub/);
    // SSRF (finding 2): a target names a configured endpoint, never a URL — not even for admins
    for (const target of ['http://127.0.0.1:8086/write', 'https://evil.example/x', 'nope']) {
      const refused = await as('admin', 'POST', '/channel-targets', {
        placeId: 'g1',
        channel: 'wecom',
        target,
      });
      expect(refused.statusCode, target).toBe(400);
    }
    const t = await as('admin', 'POST', '/channel-targets', {
      placeId: 'g1',
      channel: 'wecom',
      target: 'g1-robot',
    });
    expect(t.statusCode).toBe(201);
    expect((await as('admin', 'GET', '/channel-targets')).json().items).toHaveLength(1);
    expect((await as('admin', 'DELETE', `/channel-targets/${t.json().target.id}`)).statusCode).toBe(200);
  });
});
