import { connectAsync, type MqttClient } from 'mqtt';
import type { Browser, BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock/clock.ts';
import { topics } from '../../src/domain/wire.ts';
import { ensureWebBuilt, findChromium, launchChromium } from '../browser/browser.ts';
import { startTestHub, type TestHub } from '../helpers/hub.ts';

const chromiumPath = findChromium();
if (!chromiumPath) {
  console.warn(
    '[test/channels/stream-board] SKIPPED: no Chromium at /usr/bin/chromium; install it (apt-get install chromium) or set GRIDHUB_TEST_CHROMIUM',
  );
}

// 2026-01-05 16:00 in Shanghai: the day shifts are on duty.
const clock = new ManualClock(Date.UTC(2026, 0, 5, 8, 0, 0));
let t: TestHub | undefined;
let browser: Browser | undefined;
let context: BrowserContext | undefined;
const clients: MqttClient[] = [];

/** A demo smoke detector of an estate (E1, E2: grid G1; E3, E4: grid G2) raises its alarm at QoS 1. */
async function smokeAlarm(estate: RegExp): Promise<string> {
  const hub = t as TestHub;
  const device = hub.credentials?.devices.find((d) => d.type === 'smoke' && estate.test(d.placeId));
  if (!device) throw new Error(`no demo smoke device at ${estate}`);
  const client = await connectAsync(hub.hub.urls.mqtt, {
    username: device.id,
    password: device.secret,
    clientId: device.id,
    reconnectPeriod: 0,
  });
  clients.push(client);
  await client.publishAsync(topics.event(device.id), JSON.stringify({ event: 'alarm' }), { qos: 1 });
  return device.id;
}

/** The device's latest alert (its id from the table, its view from the dispatcher). */
async function alertOf(deviceId: string) {
  const hub = t as TestHub;
  const row = hub.hub.db
    .prepare<[string], { id: string }>(
      'SELECT id FROM alerts WHERE device_id = ? ORDER BY opened_at DESC LIMIT 1',
    )
    .get(deviceId);
  return row ? await hub.hub.dispatcher.get(row.id) : undefined;
}

const cutOffs = async () =>
  Number(
    /gridhub_alerts_stream_cutoffs_total (\d+)/.exec(await (t as TestHub).hub.metrics.metrics())?.[1] ?? 0,
  );

describe.skipIf(!chromiumPath)('the duty board on a slow network', () => {
  beforeAll(async () => {
    ensureWebBuilt();
    t = await startTestHub({ clock, env: { GRIDHUB_ALERTS_STREAM_MAX_BUFFERED_BYTES: '65536' } });
    browser = await launchChromium(chromiumPath as string);
  }, 120_000);

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
    await context?.close().catch(() => undefined);
    await browser?.close();
    await t?.close();
  });

  it('is cut off when it falls behind, reconnects by itself with a fresh ticket, and shows what it missed', async () => {
    const hub = t as TestHub;
    context = await (browser as Browser).newContext({ locale: 'zh-CN', timezoneId: 'Asia/Shanghai' });
    const page = await context.newPage();
    const user = hub.credentials?.users.find((u) => u.username === 'manager');
    await page.goto(`${hub.hub.urls.http}/`);
    await page.fill('input[name=username]', 'manager');
    await page.fill('input[name=password]', user?.password ?? '');
    await page.click('button[type=submit]');
    await page.waitForSelector('[data-stream="live"]');
    const first = await smokeAlarm(/^E1-/);
    const firstAlert = await alertOf(first);
    await page.locator(`[data-alert-id="${firstAlert?.id}"]`).waitFor({ timeout: 5000 });

    // The board's computer freezes (its page stops running, so it reads nothing of its stream any more).
    const cdp = await context.newCDPSession(page);
    await cdp.send('Debugger.enable');
    await cdp.send('Debugger.pause');
    // Changes of that alert, each carrying a large note, until the board's connection is that far behind.
    const view = firstAlert as unknown as Record<string, unknown>;
    for (let i = 0; i < 2000 && (await cutOffs()) === 0; i++) {
      hub.hub.bus.emit('alert.streamed', {
        type: 'note',
        alertId: String(view.id),
        at: clock.now(),
        place: firstAlert?.place ?? {},
        departments: [],
        alert: { ...view, detail: `${'烟'.repeat(10_000)}` },
      });
      await new Promise((r) => setTimeout(r, 1));
    }
    expect(await cutOffs()).toBe(1);

    // While it is away a second alarm comes; the page runs again and the board catches up on its own.
    // (another grid: a second smoke alarm of the same building would join the first one's incident)
    const second = await smokeAlarm(/^E3-/);
    const secondAlert = await alertOf(second);
    await cdp.send('Debugger.resume');
    await page.locator(`[data-alert-id="${secondAlert?.id}"]`).waitFor({ timeout: 20_000 });
    await page.waitForSelector('[data-stream="live"]', { timeout: 20_000 });
  }, 90_000);
});
