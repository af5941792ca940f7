import { connectAsync } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock/clock.ts';
import { topics } from '../../src/domain/wire.ts';
import { startTestHub, type TestHub } from '../helpers/hub.ts';

// 21:00 in Shanghai: the building heads' evening on call (18:00–08:00).
const clock = new ManualClock(Date.UTC(2026, 0, 5, 13, 0, 0));
let t: TestHub;

beforeAll(async () => {
  t = await startTestHub({ clock });
});
afterAll(async () => t?.close());

describe('1+3+N in the demo', () => {
  it('seeds a building head per building and a volunteer per estate; a smoke alarm reaches its building head', async () => {
    const admin = await t.login('admin');
    const people = (await (await t.api(admin, '/api/people')).json()) as {
      items: { id: string; role: string }[];
    };
    expect(people.items.filter((p) => p.role === 'building_head')).toHaveLength(24);
    expect(people.items.filter((p) => p.role === 'volunteer')).toHaveLength(8);

    const smoke = t.credentials?.devices.find((d) => d.type === 'smoke' && d.placeId.startsWith('E2-B3-'));
    if (!smoke) throw new Error('no smoke sensor in E2-B3');
    const c = await connectAsync(t.hub.urls.mqtt, {
      username: smoke.id,
      password: smoke.secret,
      reconnectPeriod: 0,
    });
    await c.publishAsync(topics.event(smoke.id), JSON.stringify({ event: 'alarm' }), { qos: 1 });
    await c.endAsync();
    const list = (await (await t.api(admin, '/api/alerts?limit=10')).json()) as { items: { id: string }[] };
    const id = list.items[0]?.id ?? '';
    const detail = (await (await t.api(admin, `/api/alerts/${id}`)).json()) as {
      timeline: { type: string; data: { recipients?: { personId: string; role: string }[] } }[];
    };
    const recipients = detail.timeline.find((e) => e.type === 'dispatched')?.data.recipients ?? [];
    // The night grid worker, the property duty and the head of this building — no other building's head.
    expect(recipients.map((r) => r.personId).sort()).toEqual(['bh-E2-B3', 'g1-worker-b', 'property-duty-1']);
  });
});
