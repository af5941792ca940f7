import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock/clock.ts';
import { type DemoActivity, startDemoActivity } from '../../src/demo/activity.ts';
import { startTestHub, type TestHub } from '../helpers/hub.ts';

const clock = new ManualClock(Date.UTC(2026, 0, 5, 8, 0, 0));
let t: TestHub;
let activity: DemoActivity;

/** A seeded generator, so the happenings of the run are the same every time. */
function seeded(seed: number): () => number {
  let x = seed;
  return () => {
    x = (x * 1_103_515_245 + 12_345) % 2_147_483_648;
    return x / 2_147_483_648;
  };
}

beforeAll(async () => {
  t = await startTestHub({ clock });
  if (!t.credentials) throw new Error('no demo');
  activity = await startDemoActivity({
    credentials: t.credentials,
    mqttUrl: t.hub.urls.mqtt,
    clock,
    log: pino({ level: 'silent' }),
    random: seeded(7),
  });
});
afterAll(async () => {
  await activity?.stop();
  await t?.close();
});

describe('the demo activity of `npm start`', () => {
  it('keeps its devices alive and raises the odd alert over 30 minutes, never an offline one', async () => {
    const admin = await t.login('admin');
    // Half a virtual hour in 10-second steps; each step waits for the broker to acknowledge what was sent.
    for (let i = 0; i < 180; i++) {
      await clock.advanceAsync(10_000);
      await activity.idle();
    }
    const devices = (await (await t.api(admin, '/api/devices?limit=5000')).json()) as {
      items: { id: string; placeId: string; online: boolean; lastSeen: string | null }[];
    };
    const living = devices.items.filter((d) => d.lastSeen !== null);
    // The cameras, e-bike detectors and bins of estates E1 and E3: 2 × (3 + 3 + 1).
    expect(living.length).toBe(14);
    expect(living.every((d) => /^E[13]\b/.test(d.placeId) && d.online)).toBe(true);

    const alerts = (await (await t.api(admin, '/api/alerts?limit=500')).json()) as {
      items: { category: string; deviceId: string }[];
    };
    expect(alerts.items.length).toBeGreaterThan(0);
    expect(alerts.items.filter((a) => a.category === 'device_offline')).toEqual([]);
  });
});
