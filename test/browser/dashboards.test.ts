import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { connectAsync, type MqttClient } from 'mqtt';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock/clock.ts';
import { topics } from '../../src/domain/wire.ts';
import { startTestHub, type TestHub } from '../helpers/hub.ts';
import { ensureWebBuilt, findChromium, launchChromium } from './browser.ts';

const chromiumPath = findChromium();
if (!chromiumPath) {
  console.warn(
    '[test/browser] SKIPPED: no Chromium at /usr/bin/chromium; install it (apt-get install chromium) or set GRIDHUB_TEST_CHROMIUM',
  );
}

const ARTIFACTS = new URL('../../test-artifacts/', import.meta.url);
const SCREENSHOTS = new URL('../../docs/screenshots/', import.meta.url);

// 2026-01-05 16:00 in Shanghai: the day shift (08–20) of grid 1, so g1-worker-a (user `worker`) is on duty.
const clock = new ManualClock(Date.UTC(2026, 0, 5, 8, 0, 0));
let t: TestHub;
let browser: Browser;
const contexts: BrowserContext[] = [];
const clients: MqttClient[] = [];
const pageErrors: string[] = [];
/** The alert the board test raises and whistles the fire department into. */
let whistledAlertId = '';

async function newPage(options: Parameters<Browser['newContext']>[0]): Promise<Page> {
  const context = await browser.newContext(options);
  contexts.push(context);
  const page = await context.newPage();
  page.on('pageerror', (err) => pageErrors.push(`${page.url()}: ${err.message}`));
  return page;
}

async function logIn(page: Page, path: string, username: string): Promise<void> {
  const user = t.credentials?.users.find((u) => u.username === username);
  if (!user) throw new Error(`no demo user ${username}`);
  await page.goto(`${t.hub.urls.http}${path}`);
  await page.fill('input[name=username]', username);
  await page.fill('input[name=password]', user.password);
  await page.click('button[type=submit]');
}

/** A demo smoke detector of grid G1 (community C1) raises its alarm at QoS 1; returns the device id. */
async function smokeAlarm(index: number): Promise<string> {
  const device = t.credentials?.devices.filter((d) => d.type === 'smoke' && /^E[12]-/.test(d.placeId))[index];
  if (!device) throw new Error('no demo smoke device in grid G1');
  const client = await connectAsync(t.hub.urls.mqtt, {
    username: device.id,
    password: device.secret,
    clientId: `${device.id}-browser-test`,
    reconnectPeriod: 0,
  });
  clients.push(client);
  sensors.set(device.id, client);
  await client.publishAsync(topics.event(device.id), JSON.stringify({ event: 'alarm' }), { qos: 1 });
  return device.id;
}

const sensors = new Map<string, MqttClient>();
function sensor(deviceId: string): MqttClient {
  const c = sensors.get(deviceId);
  if (!c) throw new Error(`${deviceId} is not connected`);
  return c;
}

async function alertIdFor(deviceId: string): Promise<string> {
  const admin = await t.login('admin');
  const end = Date.now() + 5000;
  for (;;) {
    const res = await t.api(admin, '/api/alerts?limit=100');
    const body = (await res.json()) as { items: { id: string; deviceId: string }[] };
    const hit = body.items.find((a) => a.deviceId === deviceId);
    if (hit) return hit.id;
    if (Date.now() > end) throw new Error(`no alert for ${deviceId}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function saveScreenshot(name: string): URL {
  mkdirSync(ARTIFACTS, { recursive: true });
  return new URL(name, ARTIFACTS);
}

/**
 * Copy a screenshot to docs/screenshots for the README: when it is missing there, or when asked with
 * GRIDHUB_UPDATE_SCREENSHOTS=1 (every run differs by ids and times, and would dirty the checkout).
 */
function publish(name: string): void {
  if (existsSync(new URL(name, SCREENSHOTS)) && process.env.GRIDHUB_UPDATE_SCREENSHOTS !== '1') return;
  mkdirSync(SCREENSHOTS, { recursive: true });
  copyFileSync(new URL(name, ARTIFACTS), new URL(name, SCREENSHOTS));
}

describe.skipIf(!chromiumPath)('dashboards in Chromium', () => {
  beforeAll(async () => {
    ensureWebBuilt();
    t = await startTestHub({ clock });
    browser = await launchChromium(chromiumPath as string);
  }, 120_000);

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
    for (const c of contexts) await c.close().catch(() => undefined);
    await browser?.close();
    await t?.close();
  });

  it('board: a smoke alarm appears live, is opened, acknowledged, and its timeline shows it', async () => {
    // A duty screen left on another zone still shows the community's (Asia/Shanghai) times.
    const page = await newPage({
      viewport: { width: 1366, height: 768 },
      locale: 'en-US',
      timezoneId: 'America/New_York',
    });
    await logIn(page, '/', 'manager');
    await page.waitForSelector('[data-stream="live"]');
    // The manager's scope is community C1: its tree shows C1's grids, not C2's.
    await page.waitForSelector('[data-place="C1"]');
    expect(await page.locator('[data-place="G1"]').count()).toBe(1);
    expect(await page.locator('[data-place="G3"]').count()).toBe(0);
    await page.waitForSelector('[data-kpi="closureRate"]');

    // Languages: English from the browser, switchable to Chinese and back.
    expect(await page.textContent('.topbar h1')).toBe('GridHub duty board');
    await page.selectOption('select.lang', 'zh-CN');
    expect(await page.textContent('.topbar h1')).toBe('GridHub 值班大屏');
    await page.selectOption('select.lang', 'en');

    // Devices of a place: select grid G1 in the tree, list its devices, then back to all alerts.
    await page.click('[data-place="G1"] .tree-name');
    await page.click('[data-tab="devices"]');
    await page.waitForSelector('[data-device-id="smoke-001"]');
    const listed = await page.locator('[data-device-id]').count();
    expect(listed).toBeGreaterThan(10);
    expect(await page.locator('[data-device-id="bin-003"]').count()).toBe(0); // bin-003 is in grid G2
    await page.click('.tree-all');
    await page.click('[data-tab="alerts"]');

    const deviceId = await smokeAlarm(0);
    const alertId = await alertIdFor(deviceId);
    const row = page.locator(`[data-alert-id="${alertId}"]`);
    // No reload: the row arrives over the SSE stream, marked new and flashing as critical.
    await row.waitFor({ timeout: 5000 });
    expect(await row.getAttribute('class')).toMatch(/\bflash\b/);
    expect(await row.locator('.new-mark').count()).toBe(1);
    // The hub's clock stands at 08:00:00 UTC: 16:00:00 in the community, 03:00:00 in New York.
    expect(await row.locator('.alert-time').textContent()).toMatch(/^Jan 5,( 2026,)? 16:00:0\d$/); // the year shows when the browser's today is in another;
    expect(await page.locator('[data-place="G1"] .count').first().textContent()).toBe('1');

    await row.click();
    const detail = page.locator(`[data-alert="${alertId}"]`);
    await detail.waitFor();
    await detail.locator('[data-event="opened"]').first().waitFor();
    // Who was notified, in English punctuation: "Notified 网格员1A (grid worker), 物业值班员1 (property duty)".
    const notified = (await detail.locator('[data-event="dispatched"] .ev-data').first().textContent()) ?? '';
    expect(notified).toMatch(/^Notified \S+ \(grid worker\), \S+ \(property duty\)$/);
    // A delivery names its channel once, beside the title, and says to whom in its text.
    const delivered = detail.locator('[data-event="delivered"]').first();
    await delivered.waitFor({ timeout: 5000 });
    expect(await delivered.locator('strong').textContent()).toBe('Delivered');
    const channel = (await delivered.locator('.muted').textContent()) ?? '';
    expect(channel).toMatch(/^(app push|browser push|webhook|WeCom robot|DingTalk robot|Feishu robot)$/);
    expect(await delivered.locator('.ev-data').textContent()).toMatch(/^to \S/);
    expect(await delivered.locator('.ev-data').textContent()).not.toContain(channel);
    await detail.locator('[data-action="acknowledge"]').click();
    await detail.locator('[data-event="acknowledged"]').waitFor({ timeout: 5000 });
    expect(await detail.locator('.badge.status').textContent()).toBe('Acknowledged');
    await page.waitForSelector(`[data-alert-id="${alertId}"][data-status="acknowledged"]`);

    // Whistle the fire department in from the detail panel.
    await detail.locator('[data-action="whistle"]').click();
    await detail.locator('[data-form="whistle"] select').selectOption('fire');
    await detail.locator('[data-form="whistle"] button[type=submit]').click();
    await detail.locator('[data-event="whistled"]').waitFor({ timeout: 5000 });
    whistledAlertId = alertId;

    // KPI tiles follow the stream: one alert in the manager's scope, none closed yet.
    await expect.poll(() => page.textContent('[data-kpi="total"] .kpi-value'), { timeout: 5000 }).toBe('1');
    expect(await page.textContent('[data-kpi="closureRate"] .kpi-value')).toBe('0%');

    await page.screenshot({ path: saveScreenshot('board.png').pathname });
    publish('board.png');
    // The same board in Chinese, the language its users see first (the README shows both).
    await page.selectOption('select.lang', 'zh-CN');
    await detail.locator('.badge.status', { hasText: '已接警' }).waitFor({ timeout: 5000 });
    expect(await page.textContent('.topbar h1')).toBe('GridHub 值班大屏');
    await page.screenshot({ path: saveScreenshot('board-zh.png').pathname });
    publish('board-zh.png');
    await page.selectOption('select.lang', 'en');

    // Fits a 1366×768 laptop and a wall screen without horizontal scrolling.
    const fits = 'document.documentElement.scrollWidth <= window.innerWidth';
    expect(await page.evaluate(fits)).toBe(true);
    await page.setViewportSize({ width: 2560, height: 1440 });
    expect(await page.evaluate(fits)).toBe(true);
    await page.screenshot({ path: saveScreenshot('board-wall.png').pathname });
    await page.setViewportSize({ width: 1366, height: 768 });

    // The device page: status, battery and the charts of its telemetry fields.
    await sensor(deviceId).publishAsync(
      topics.telemetry(deviceId),
      JSON.stringify({ smoke: 0.02, temperature: 22.5, battery: 87 }),
      { qos: 1 },
    );
    await detail.locator('button.link').click();
    const devicePage = page.locator(`[data-device="${deviceId}"]`);
    await devicePage.locator('[data-online="true"]').waitFor();
    await devicePage.locator('figure[data-field="smoke"] canvas').first().waitFor({ timeout: 10_000 });
    await devicePage.locator('[data-battery="87"]').waitFor({ timeout: 10_000 });
    await page.screenshot({ path: saveScreenshot('board-device.png').pathname });
  }, 60_000);

  it('worker view: an alarm arrives over MQTT, is resolved with a note and rated; another grid never sees it', async () => {
    const phone = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, locale: 'zh-CN' };
    const page = await newPage(phone);
    await logIn(page, '/worker/', 'worker');
    await page.waitForSelector('[data-mqtt="connected"]', { timeout: 10_000 });
    const other = await newPage(phone);
    await logIn(other, '/worker/', 'worker2');
    await other.waitForSelector('[data-mqtt="connected"]', { timeout: 10_000 });

    const manifest = await page.evaluate(async () => (await fetch('/worker/manifest.webmanifest')).json());
    expect(manifest).toMatchObject({ start_url: '/worker/', display: 'standalone' });
    // Installable: every manifest icon is served, and the service worker controls /worker/.
    for (const icon of (manifest as { icons: { src: string }[] }).icons) {
      expect((await fetch(`${t.hub.urls.http}${icon.src}`)).status, icon.src).toBe(200);
    }
    await expect
      .poll(
        () => page.evaluate("navigator.serviceWorker.getRegistration('/worker/').then((r) => !!r?.active)"),
        {
          timeout: 5000,
        },
      )
      .toBe(true);

    const deviceId = await smokeAlarm(1);
    const alertId = await alertIdFor(deviceId);
    const card = page.locator(`[data-alert-id="${alertId}"]`);
    await card.waitFor({ timeout: 5000 });
    // Pushed to this worker over MQTT (not only found in the list): marked as assigned.
    await card.locator('.badge.mine').waitFor({ timeout: 5000 });

    // Critical and not yet acknowledged: a banner stays on top until someone acknowledges.
    await page.locator(`[data-banner="${alertId}"]`).waitFor();
    // "新的紧急警情：" with the full-width colon, then what and where
    expect(await page.locator(`[data-banner="${alertId}"]`).textContent()).toMatch(
      /^新的紧急警情：\S.* · \S/,
    );
    // On a phone the card reads at a glance: the time in its head as people write it, the place on one line.
    expect(await card.locator('.alarm-head time').textContent()).toMatch(
      /^\d{1,2}月\d{1,2}日 \d{2}:\d{2}:\d{2}$/,
    );
    const placeLines = await card.locator('.alarm-place').evaluate((el) => {
      const range = el.ownerDocument.createRange();
      range.selectNodeContents(el);
      return range.getClientRects().length;
    });
    expect(placeLines).toBe(1);
    await page.screenshot({ path: saveScreenshot('worker.png').pathname });
    publish('worker.png');

    await card.locator('[data-action="acknowledge"]').tap();
    await page.waitForSelector(`[data-alert-id="${alertId}"][data-status="acknowledged"]`);
    expect(await page.locator(`[data-banner="${alertId}"]`).count()).toBe(0);

    await card.locator('[data-action="arrive"]').tap();
    await page.waitForSelector(`[data-alert-id="${alertId}"][data-status="on_site"]`);
    await card.locator('textarea[name=note]').fill('厨房油烟，已通风，无明火');
    await card.locator('button[data-action="resolve"]').tap();
    await page.waitForSelector(`[data-alert-id="${alertId}"][data-status="resolved"]`);
    await card.locator('[data-score="5"]').tap();
    await card.locator('button[data-action="rate"]').tap();
    await card.waitFor({ state: 'detached', timeout: 5000 });

    const admin = await t.login('admin');
    const res = await t.api(admin, `/api/alerts/${alertId}`);
    const { alert } = (await res.json()) as {
      alert: { status: string; rating: number; resolutionNote: string; resolvedBy: string };
    };
    expect(alert).toMatchObject({ status: 'resolved', rating: 5, resolvedBy: 'worker' });
    expect(alert.resolutionNote).toBe('厨房油烟，已通风，无明火');

    // Logging out revokes the session and the MQTT token the page issued itself.
    const mqttLogin = JSON.parse(
      String(await page.evaluate("localStorage.getItem('gridhub.worker.mqtt')")),
    ) as {
      token: string;
    };
    expect((await t.api(mqttLogin.token, '/api/me')).status).toBe(200);
    await page.locator('[data-action="logout"]').tap();
    await page.waitForSelector('input[name=username]');
    await expect.poll(async () => (await t.api(mqttLogin.token, '/api/me')).status).toBe(401);

    // worker2 works grid G3: neither pushed nor listed, and the API answers 404.
    await other.reload();
    await other.waitForSelector('[data-mqtt="connected"]', { timeout: 10_000 });
    await other.waitForSelector('.empty, .cards');
    expect(await other.locator(`[data-alert-id="${alertId}"]`).count()).toBe(0);
    const token2 = await t.login('worker2');
    expect((await t.api(token2, `/api/alerts/${alertId}`)).status).toBe(404);
  }, 60_000);

  it('a whistled department sees only that alert on its board and reports in', async () => {
    expect(whistledAlertId).not.toBe('');
    const page = await newPage({ viewport: { width: 1366, height: 768 }, locale: 'zh-CN' });
    await logIn(page, '/', 'fire');
    const row = page.locator(`[data-alert-id="${whistledAlertId}"]`);
    await row.waitFor();
    expect(await page.locator('[data-alert-id]').count()).toBe(1);
    await row.click();
    const detail = page.locator(`[data-alert="${whistledAlertId}"]`);
    await detail.locator('[data-action="report-in"]').click();
    await detail.locator('[data-event="reported_in"]').waitFor({ timeout: 5000 });
    expect(await detail.locator('[data-action="report-in"]').count()).toBe(0);
  }, 60_000);

  it('raised no uncaught errors in the pages', () => {
    expect(pageErrors).toEqual([]);
  });
});
