import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { Receiver } from '../channels/receiver.ts';
import { type Harness, raise } from './fixtures.ts';
import { buildRoutesApp } from './routes-app.ts';

/**
 * Findings 2 and 8 of the security review: what a manager, a worker and a department may reach outside their
 * scope, and what leaves the hub. The manager `mgr` has community c1; `sc1` (street command, at s1) is outside.
 */
let h: Harness;
let app: FastifyInstance;
let rx: Receiver | undefined;
afterEach(async () => {
  await app.close();
  await h.close();
  await rx?.stop();
  rx = undefined;
});

const as = (user: string, method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: object) =>
  app.inject({
    method,
    url: `/api${url}`,
    headers: { 'x-test-user': user },
    ...(payload ? { payload } : {}),
  });

const smokeInG1 = async () => {
  await h.dispatcher.handle(raise(h.registry, h.clock, { placeId: 'b1', deviceId: 'smoke-9' }));
  return (await h.dispatcher.list({})).items[0]?.id ?? '';
};

describe('scope holes (finding 8)', () => {
  it('quiet hours: a manager cannot mute or unmute someone outside their scope, and lists only their scope', async () => {
    ({ h, app } = await buildRoutesApp());
    expect(
      (await as('mgr', 'POST', '/quiet-hours', { personId: 'sc1', start: '00:00', end: '23:59' })).statusCode,
    ).toBe(404);
    const street = await as('admin', 'POST', '/quiet-hours', {
      personId: 'sc1',
      start: '22:00',
      end: '07:00',
    });
    expect(street.statusCode).toBe(201);
    const own = await as('mgr', 'POST', '/quiet-hours', { personId: 'w1', start: '22:00', end: '07:00' });
    expect(own.statusCode).toBe(201);
    const ids = (user: string) =>
      as(user, 'GET', '/quiet-hours').then((r) =>
        (r.json() as { items: { id: number }[] }).items.map((i) => i.id),
      );
    expect(await ids('mgr')).toEqual([own.json().quietHours.id]);
    // a worker sees their own, not another worker's
    expect(await ids('w1')).toEqual([own.json().quietHours.id]);
    expect(await ids('w2')).toEqual([]);
    expect((await as('mgr', 'DELETE', `/quiet-hours/${street.json().quietHours.id}`)).statusCode).toBe(404);
    expect(await ids('admin')).toHaveLength(2);
  });

  it('a manager cannot name a deputy outside their scope', async () => {
    ({ h, app } = await buildRoutesApp());
    const res = await as('mgr', 'PATCH', '/people/w1', { deputyId: 'sc1' });
    expect(res.statusCode).toBe(404);
    expect(h.registry.people.get('w1')?.deputyId).toBeNull();
    expect((await as('mgr', 'PATCH', '/people/w1', { deputyId: 'l1' })).statusCode).toBe(200);
  });

  it('a department reads deliveries and the resident only of alerts it was whistled into', async () => {
    ({ h, app } = await buildRoutesApp());
    const id = await smokeInG1();
    expect((await as('fire', 'GET', `/alerts/${id}/deliveries`)).statusCode).toBe(404);
    expect((await as('fire', 'GET', `/alerts/${id}/resident`)).statusCode).toBe(404);
    expect((await as('mgr', 'POST', `/alerts/${id}/whistle`, { department: 'fire' })).statusCode).toBe(200);
    expect((await as('fire', 'GET', `/alerts/${id}/deliveries`)).statusCode).toBe(200);
  });
});

describe('outbound requests only to approved destinations (finding 2)', () => {
  it("a person's contacts name configured endpoints or phone numbers, never URLs", async () => {
    ({ h, app } = await buildRoutesApp({
      config: { webhooks: { 'g1-hook': { url: 'https://example.org/hook' } } },
    }));
    for (const contact of [
      { channel: 'webhook', target: 'http://127.0.0.1:8086/write' },
      { channel: 'wecom', target: 'https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=x' },
      { channel: 'webhook', target: 'not-configured' },
      { channel: 'sms', target: 'http://evil.example/' },
    ]) {
      const res = await as('mgr', 'PATCH', '/people/w1', { contacts: [contact] });
      expect(res.statusCode, contact.target).toBe(400);
      expect(res.json().error.field).toBe('contacts[0].target');
    }
    const ok = await as('mgr', 'PATCH', '/people/w1', {
      contacts: [
        { channel: 'webhook', target: 'g1-hook' },
        { channel: 'sms', target: '+86 138 0000 0001' },
      ],
    });
    expect(ok.statusCode).toBe(200);
  });

  it("a receiver's answer text reaches admins only", async () => {
    rx = await new Receiver().start();
    rx.script('/hook', { status: 500, body: 'db password is hunter2' });
    ({ h, app } = await buildRoutesApp({
      config: { retryJitter: 0, webhooks: { 'g1-hook': { url: rx.url('/hook') } } },
    }));
    await h.dispatcher.channelTargets.add({
      placeId: 'g1',
      role: null,
      channel: 'webhook',
      target: 'g1-hook',
      label: null,
    });
    await h.dispatcher.handle(
      raise(h.registry, h.clock, {
        placeId: 'b1',
        deviceId: 'cam-1',
        deviceType: 'throw_camera',
        ruleId: 'throw.detected',
        severity: 'major',
        category: 'throw',
        title: '高空抛物',
      }),
    );
    const id = (await h.dispatcher.list({})).items[0]?.id ?? '';
    await h.clock.advanceAsync(h.config.digestWaitMs);
    await h.dispatcher.drain();
    const failed = (user: string) =>
      as(user, 'GET', `/alerts/${id}/deliveries`).then((r) =>
        (r.json() as { items: { channel: string; lastError: string | null }[] }).items.find(
          (i) => i.channel === 'webhook',
        ),
      );
    expect(rx.at('/hook')).toHaveLength(1);
    expect((await failed('admin'))?.lastError).toContain('hunter2');
    expect((await failed('w1'))?.lastError).toBe('HTTP 500');
    const timeline = (await as('w1', 'GET', `/alerts/${id}`)).json().timeline as unknown[];
    expect(JSON.stringify(timeline)).not.toContain('hunter2');
    expect(JSON.stringify((await as('admin', 'GET', `/alerts/${id}`)).json().timeline)).toContain('hunter2');
  });
});
