import { connectAsync, type MqttClient } from 'mqtt';
import type { Browser, BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock/clock.ts';
import { topics, type WorkerDigest, workerMessageSchema } from '../../src/domain/wire.ts';
import { startTestHub, type TestHub } from '../helpers/hub.ts';
import { ensureWebBuilt, findChromium, launchChromium } from './browser.ts';

const chromiumPath = findChromium();
if (!chromiumPath)
  console.warn('[test/browser] SKIPPED worker digest: no Chromium (apt-get install chromium)');

// 2026-01-05 16:00 in Shanghai: the day shift of grid 1, so g1-worker-a (user `worker`) is on duty.
const clock = new ManualClock(Date.UTC(2026, 0, 5, 8, 0, 0));
let t: TestHub;
let browser: Browser;
const clients: MqttClient[] = [];

/** The demo's grid worker: their login, and the MQTT account their phone's alarms come to. */
function demoWorker() {
  const login = t.credentials?.users.find((u) => u.username === 'worker');
  const worker = t.credentials?.workers.find((w) => w.personId === login?.personId);
  if (!login || !worker) throw new Error('no demo worker');
  return { login, worker };
}

/** An MQTT client of the hub's broker, closed after the tests. */
async function mqttClient(username: string, password: string, clientId: string): Promise<MqttClient> {
  const c = await connectAsync(t.hub.urls.mqtt, { username, password, clientId, reconnectPeriod: 0 });
  clients.push(c);
  return c;
}

/** The worker view logged in, once its alarm connection is up; the page's script errors go to `errors`. */
async function workerPage(
  context: BrowserContext,
  login: { username: string; password: string },
  errors: string[] = [],
) {
  const page = await context.newPage();
  page.on('pageerror', (err) => errors.push(err.message));
  await page.goto(`${t.hub.urls.http}/worker/`);
  await page.fill('input[name=username]', login.username);
  await page.fill('input[name=password]', login.password);
  await page.click('button[type=submit]');
  await page.waitForSelector('[data-mqtt="connected"]', { timeout: 10_000 });
  return page;
}

describe.skipIf(!chromiumPath)('worker view in Chromium', () => {
  beforeAll(async () => {
    ensureWebBuilt();
    t = await startTestHub({ clock });
    browser = await launchChromium(chromiumPath as string);
  }, 120_000);
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
    await browser?.close();
    await t?.close();
  });

  it('shows every alert of a digest that arrives over MQTT as the worker’s own', async () => {
    const creds = t.credentials;
    const { login, worker } = demoWorker();

    const context = await browser.newContext({ viewport: { width: 390, height: 844 }, locale: 'zh-CN' });
    const errors: string[] = [];
    const page = await workerPage(context, login, errors);

    // What the phone receives, seen by a second subscriber of the same worker.
    const watcher = await mqttClient(worker.username, worker.token, `${worker.username}-test-watcher`);
    const digests: WorkerDigest[] = [];
    watcher.on('message', (_topic, payload) => {
      const message = workerMessageSchema.parse(JSON.parse(payload.toString()));
      if (message.kind === 'digest') digests.push(message);
    });
    await watcher.subscribeAsync(worker.alarmsTopic, { qos: 1 });

    // Four e-bike detectors of grid G1 report once, then fall silent: 3 minutes later (3 heartbeats) all four are
    // offline at the same instant, and the worker gets one digest instead of four alarms.
    const detectors = (creds?.devices ?? [])
      .filter((d) => d.type === 'ebike_elevator' && /^E[12]-B/.test(d.placeId))
      .slice(0, 4);
    expect(detectors).toHaveLength(4);
    for (const detector of detectors) {
      const c = await mqttClient(detector.id, detector.secret, detector.id);
      await c.publishAsync(topics.telemetry(detector.id), JSON.stringify({ online: true }), { qos: 1 });
      await c.endAsync();
    }
    await clock.advanceAsync(3 * 60_000 + 1_000);
    await clock.advanceAsync(10_000);

    const detectorIds = new Set(detectors.map((b) => b.id));
    const offline = async () =>
      (await t.hub.dispatcher.list({})).items.filter(
        (a) => detectorIds.has(a.deviceId) && a.category === 'device_offline',
      );
    await expect.poll(async () => (await offline()).length, { timeout: 5000 }).toBe(4);
    await expect
      .poll(
        async () => {
          const alerts = await offline();
          return digests.some((d) => alerts.every((a) => d.alertIds.includes(a.id)));
        },
        { timeout: 5000 },
      )
      .toBe(true);

    // Each alert of the digest joins the phone's list, marked as pushed to this worker.
    for (const alert of await offline()) {
      await page.locator(`[data-alert-id="${alert.id}"] .badge.mine`).waitFor({ timeout: 5000 });
    }
    expect(errors).toEqual([]);
    await context.close();
  });

  it('rings once for an alarm sent twice (a re-send after a failover), and again for a new one', async () => {
    const { login, worker } = demoWorker();
    const button = t.credentials?.devices.find(
      (d) => d.type === 'call_button' && d.placeId.startsWith('E1-'),
    );
    if (!button) throw new Error('no demo call button in grid G1');

    const context = await browser.newContext({ viewport: { width: 390, height: 844 }, locale: 'zh-CN' });
    // the phone's vibrations, counted: every alarm the page takes for new vibrates once
    await context.addInitScript(`
      window.vibrations = 0;
      Object.defineProperty(navigator, 'vibrate', { configurable: true, value: () => ++window.vibrations > 0 });
    `);
    const page = await workerPage(context, login);
    const vibrations = async () => Number(await page.evaluate('window.vibrations'));

    const watcher = await mqttClient(worker.username, worker.token, `${worker.username}-resend-watcher`);
    const alarms: Record<string, unknown>[] = [];
    watcher.on('message', (_topic, payload) => {
      const message = JSON.parse(payload.toString()) as Record<string, unknown>;
      if (message.kind === 'alarm' && message.device) alarms.push(message);
    });
    await watcher.subscribeAsync(worker.alarmsTopic, { qos: 1 });

    const device = await mqttClient(button.id, button.secret, `${button.id}-resend-test`);
    await device.publishAsync(topics.event(button.id), JSON.stringify({ event: 'press' }), { qos: 1 });
    await expect
      .poll(() => alarms.find((a) => (a.device as { id: string }).id === button.id), { timeout: 5000 })
      .toBeTruthy();
    const alarm = alarms.find((a) => (a.device as { id: string }).id === button.id) as Record<
      string,
      unknown
    >;
    expect(alarm.messageId).toEqual(expect.any(String));
    await expect.poll(vibrations, { timeout: 5000 }).toBe(1);

    // The same message again, as a surviving instance re-sends a delivery the dead one had not recorded; then
    // a new message of the same alert. They reach the phone in this order, so once the new one has rung, the
    // re-send has been taken and dropped.
    await t.hub.ingest.publishToWorker(worker.personId, alarm);
    await t.hub.ingest.publishToWorker(worker.personId, {
      ...alarm,
      messageId: `${String(alarm.messageId)}-new`,
    });
    await expect.poll(vibrations, { timeout: 5000 }).toBeGreaterThan(1);
    expect(await vibrations()).toBe(2);
    await context.close();
  }, 60_000);
});
