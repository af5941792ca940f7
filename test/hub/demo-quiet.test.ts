import { connectAsync } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock/clock.ts';
import { topics } from '../../src/domain/wire.ts';
import { startTestHub, type TestHub } from '../helpers/hub.ts';

const clock = new ManualClock(Date.UTC(2026, 0, 5, 8, 0, 0));
let t: TestHub;

beforeAll(async () => {
  t = await startTestHub({ clock });
});
afterAll(async () => t?.close());

interface Listed {
  items: { deviceId: string; category: string }[];
}

describe('a fresh demo start', () => {
  it('raises no alert for a device that never connected in its first 10 minutes; a silent one goes offline', async () => {
    const admin = await t.login('admin');
    // One camera (1-minute heartbeat) speaks once and falls silent: the control that offline alerts still work.
    const cam = t.credentials?.devices.find((d) => d.type === 'throw_camera');
    if (!cam) throw new Error('no demo camera');
    const client = await connectAsync(t.hub.urls.mqtt, {
      username: cam.id,
      password: cam.secret,
      reconnectPeriod: 0,
    });
    await client.publishAsync(topics.telemetry(cam.id), JSON.stringify({ online: true }), { qos: 1 });
    await client.endAsync();

    // Ten minutes of virtual time, in 15-second steps so every timer due on the way fires in order.
    for (let i = 0; i < 40; i++) await clock.advanceAsync(15_000);

    const res = await t.api(admin, '/api/alerts?limit=500');
    const body = (await res.json()) as Listed;
    // 45 cameras and e-bike detectors (1-minute heartbeats) never connected: none of them is offline.
    expect(body.items.map((a) => [a.deviceId, a.category])).toEqual([[cam.id, 'device_offline']]);

    const devices = (await (await t.api(admin, '/api/devices?limit=5000')).json()) as {
      items: { id: string; lastSeen: string | null }[];
    };
    const never = devices.items.filter((d) => d.lastSeen === null);
    expect(never.length).toBe(devices.items.length - 1);
  });
});
