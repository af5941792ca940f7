import { request as httpRequest, type IncomingMessage } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { type Harness, raise } from './fixtures.ts';
import { buildRoutesApp } from './routes-app.ts';

let h: Harness;
let app: FastifyInstance;

async function build(): Promise<void> {
  ({ h, app } = await buildRoutesApp({ keepAliveMs: 60_000 }));
}

afterEach(async () => {
  await app?.close();
  await h?.close();
});

const as = (user: string, method: 'GET' | 'POST' | 'PUT' | 'PATCH', url: string, payload?: object) =>
  app.inject({
    method,
    url: `/api${url}`,
    headers: { 'x-test-user': user },
    ...(payload ? { payload } : {}),
  });

async function smokeInG1(): Promise<string> {
  await h.dispatcher.handle(
    raise(h.registry, h.clock, { placeId: 'b1', deviceId: `smoke-${Math.random()}` }),
  );
  return (await h.dispatcher.list({})).items[0]?.id ?? '';
}

/** Open the SSE stream as `user` and collect alert events until `stop()`. */
async function openStream(address: string, user: string) {
  const before = h.dispatcher.stream.subscribers;
  const url = new URL('/api/alerts/stream', address);
  const events: { type: string; alertId: string }[] = [];
  const res = await new Promise<IncomingMessage>((resolve, reject) => {
    const req = httpRequest(url, { headers: { 'x-test-user': user } }, resolve);
    req.on('error', reject);
    req.end();
  });
  let buf = '';
  res.setEncoding('utf8');
  res.on('data', (chunk: string) => {
    buf += chunk;
    let i = buf.indexOf('\n\n');
    while (i >= 0) {
      const block = buf.slice(0, i);
      buf = buf.slice(i + 2);
      const data = block.split('\n').find((l) => l.startsWith('data: '));
      if (data) events.push(JSON.parse(data.slice(6)) as { type: string; alertId: string });
      i = buf.indexOf('\n\n');
    }
  });
  // Wait until the server has subscribed this connection.
  while (h.dispatcher.stream.subscribers === before) await new Promise((r) => setTimeout(r, 5));
  return { events, res, stop: () => res.destroy() };
}

describe('alerts routes', () => {
  it('answers 404 to a worker of another grid and hides the alert from their list and stream', async () => {
    await build();
    const address = await app.listen({ port: 0, host: '127.0.0.1' });
    const s1 = await openStream(address, 'w1');
    const s2 = await openStream(address, 'w2');
    const id = await smokeInG1();
    await h.dispatcher.drain();
    await new Promise((r) => setTimeout(r, 50));

    expect((await as('w1', 'GET', `/alerts/${id}`)).statusCode).toBe(200);
    const foreign = await as('w2', 'GET', `/alerts/${id}`);
    expect(foreign.statusCode).toBe(404);
    expect(foreign.body).not.toContain('烟感');
    expect((await as('w2', 'POST', `/alerts/${id}/acknowledge`, {})).statusCode).toBe(404);
    expect((await as('w2', 'GET', '/alerts')).json()).toMatchObject({ total: 0, items: [] });
    expect((await as('w1', 'GET', '/alerts')).json()).toMatchObject({ total: 1 });
    expect((await as('mgr', 'GET', '/alerts')).json()).toMatchObject({ total: 1 });

    expect(s1.events.map((e) => e.type)).toEqual(['opened', 'dispatched']);
    expect(s1.events.every((e) => e.alertId === id)).toBe(true);
    expect(s2.events).toEqual([]);
    s1.stop();
    s2.stop();
  });

  it('runs the closed loop over HTTP: acknowledge, arrive, resolve, resident rates by link, close', async () => {
    await build();
    const id = await smokeInG1();
    h.clock.advance(40_000);
    let r = await as('w1', 'POST', `/alerts/${id}/acknowledge`, {});
    expect(r.json().alert).toMatchObject({ status: 'acknowledged', acknowledgedBy: 'w1' });
    expect(r.json().alert.clocks[0]).toMatchObject({ name: 'acknowledge', met: true, light: 'green' });
    expect((await as('w1', 'POST', `/alerts/${id}/acknowledge`, {})).json().error.code).toBe(
      'ALERT_TRANSITION_INVALID',
    );
    h.clock.advance(5 * 60_000);
    r = await as('w1', 'POST', `/alerts/${id}/arrive`, {});
    expect(r.json().alert.status).toBe('on_site');
    h.clock.advance(10 * 60_000);
    r = await as('w1', 'POST', `/alerts/${id}/resolve`, { note: 'burnt toast, aired the flat' });
    expect(r.statusCode).toBe(200);
    const { ratingPath } = r.json() as { ratingPath: string };
    expect(r.json().alert).toMatchObject({ status: 'resolved', resolution: 'handled' });

    const rated = await app.inject({
      method: 'POST',
      url: ratingPath,
      payload: { score: 5, comment: '很快' },
    });
    expect(rated.json()).toEqual({ ok: true, alertId: id, rating: 5 });
    // One-time: the link is spent.
    expect((await app.inject({ method: 'POST', url: ratingPath, payload: { score: 1 } })).statusCode).toBe(
      404,
    );
    expect((await app.inject({ method: 'POST', url: ratingPath, payload: { score: 9 } })).statusCode).toBe(
      400,
    );

    r = await as('w1', 'POST', `/alerts/${id}/close`, {});
    expect(r.json().alert.status).toBe('closed');
    const detail = (await as('admin', 'GET', `/alerts/${id}`)).json();
    const timeline = detail.timeline as { type: string; actor: string }[];
    // Delivery receipts and the must-reach ladder (nothing beyond app push is configured here) aside:
    const facts = timeline.filter((e) => !e.type.startsWith('deliver') && !e.type.startsWith('must_reach'));
    expect(facts.map((e) => [e.type, e.actor])).toEqual([
      ['opened', 'rule:smoke.alarm'],
      ['dispatched', 'system'],
      ['acknowledged', 'w1'],
      ['on_site', 'w1'],
      ['resolved', 'w1'],
      ['rated', 'resident'],
      ['closed', 'w1'],
    ]);
    expect(detail.incident.alertIds).toEqual([id]);
  });

  it('lets the fire department see and report in only on alerts it was whistled into', async () => {
    await build();
    const id = await smokeInG1();
    expect((await as('fire', 'GET', `/alerts/${id}`)).statusCode).toBe(404);
    expect((await as('fire', 'POST', `/alerts/${id}/whistle`, { department: 'fire' })).statusCode).toBe(403);
    const w = await as('w1', 'POST', `/alerts/${id}/whistle`, {
      department: 'fire',
      note: 'smoke in stairwell',
    });
    expect(w.statusCode).toBe(200);
    expect((await as('fire', 'GET', '/alerts')).json().total).toBe(1);
    const r = await as('fire', 'POST', `/alerts/${id}/report-in`, {});
    expect(r.statusCode).toBe(200);
    expect(r.json().alert.whistles[0]).toMatchObject({ department: 'fire', reportedBy: 'fire' });
    expect((await as('w1', 'POST', `/alerts/${id}/report-in`, {})).statusCode).toBe(403);
  });

  it('filters alerts by status, severity, light and time, with paging', async () => {
    await build();
    await smokeInG1();
    h.clock.advance(50_000);
    await h.dispatcher.handle(
      raise(h.registry, h.clock, { placeId: 'b2', severity: 'minor', category: 'bin', deviceId: 'bin-1' }),
    );
    // Critical alert at 50 s of its 1-min acknowledge allowance (83 %): yellow. The minor one: green.
    let r = (await as('admin', 'GET', '/alerts?light=yellow')).json();
    expect(r.items.map((a: { category: string }) => a.category)).toEqual(['fire']);
    r = (await as('admin', 'GET', '/alerts?severity=minor,major')).json();
    expect(r.total).toBe(1);
    r = (await as('admin', 'GET', `/alerts?from=${h.clock.now()}`)).json();
    expect(r.total).toBe(1);
    r = (await as('admin', 'GET', '/alerts?limit=1&offset=1')).json();
    expect(r).toMatchObject({ total: 2, limit: 1, offset: 1 });
    expect(r.items).toHaveLength(1);
    expect((await as('admin', 'GET', '/alerts?status=bogus')).statusCode).toBe(400);
  });

  it('manages people, shifts and overrides, and tells who is on duty', async () => {
    await build();
    let r = await as('mgr', 'POST', '/people', {
      id: 'w3',
      name: '王五',
      role: 'grid_worker',
      placeIds: ['g2'],
      deputyId: 'w2',
    });
    expect(r.statusCode).toBe(201);
    expect(
      (await as('w1', 'POST', '/people', { id: 'x', name: 'x', role: 'volunteer', placeIds: ['g1'] }))
        .statusCode,
    ).toBe(403);
    r = await as('mgr', 'PUT', '/people/w3/shifts', {
      shifts: [{ weekday: 1, startMinute: 8 * 60, endMinute: 20 * 60 }],
    });
    expect(r.json().shifts).toHaveLength(1);
    // T0 is Monday 16:00 local: w3 and w2 are both on duty in g2.
    r = await as('w2', 'GET', '/duty?place=b2');
    const workers = (r.json().roles as { role: string; people: { id: string }[] }[]).find(
      (x) => x.role === 'grid_worker',
    );
    expect(workers?.people.map((p) => p.id).sort()).toEqual(['w2', 'w3']);
    r = await as('mgr', 'POST', '/people/w3/overrides', {
      startsAt: h.clock.now() - 1000,
      endsAt: h.clock.now() + 3_600_000,
      onLeave: true,
      note: 'leave',
    });
    expect(r.statusCode).toBe(201);
    r = await as('mgr', 'GET', `/duty?place=b2&at=${new Date(h.clock.now()).toISOString()}`);
    const again = (r.json().roles as { role: string; people: { id: string }[] }[]).find(
      (x) => x.role === 'grid_worker',
    );
    expect(again?.people.map((p) => p.id)).toEqual(['w2']);
    // Scope: w1 sees neither the g2 people nor g2's duty.
    expect((await as('w1', 'GET', '/people/w3')).statusCode).toBe(404);
    expect((await as('w1', 'GET', '/duty?place=b2')).statusCode).toBe(404);
    expect((await as('w1', 'GET', '/people')).json().items.map((p: { id: string }) => p.id)).toEqual([
      'l1',
      'p1',
      'w1',
    ]);
    r = await as('mgr', 'PATCH', '/people/w3', { name: '王五五', active: false });
    expect(r.json().person).toMatchObject({ name: '王五五', active: false });
  });

  it('cuts KPIs to the caller’s scope', async () => {
    await build();
    await smokeInG1();
    await h.dispatcher.handle(raise(h.registry, h.clock, { placeId: 'b2', deviceId: 'smoke-g2' }));
    const mine = (await as('w2', 'GET', '/kpis')).json();
    expect(mine.overall.total).toBe(1);
    expect(mine.grids.map((g: { gridId: string }) => g.gridId)).toEqual(['g2']);
    expect((await as('mgr', 'GET', `/kpis?from=${h.clock.now()}`)).json().overall.total).toBe(2);
  });
});
