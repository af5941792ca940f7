/**
 * What people act on, in a real Chromium at phone size: the worker's phone shows the resident card of a one-key
 * call (unmasked, with a number to call back); a manager who is not acting on it sees it masked, a manager of
 * another community not at all; the resident's rating page takes a rating once and refuses the second use.
 */
import { connectAsync, type MqttClient } from 'mqtt';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock/clock.ts';
import { topics } from '../../src/domain/wire.ts';
import { Receiver } from '../channels/receiver.ts';
import { startTestHub, type TestHub } from '../helpers/hub.ts';
import { ensureWebBuilt, findChromium, launchChromium } from './browser.ts';

const chromiumPath = findChromium();
if (!chromiumPath) {
  console.warn(
    '[test/browser/messages] SKIPPED: no Chromium at /usr/bin/chromium; install it (apt-get install chromium) or set GRIDHUB_TEST_CHROMIUM',
  );
}

// 2026-01-05 16:00 in Shanghai: grid 1's day shift, so g1-worker-a (user `worker`) is on duty.
const clock = new ManualClock(Date.UTC(2026, 0, 5, 8, 0, 0));
const PHONE = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, locale: 'zh-CN' };
let t: TestHub;
let browser: Browser;
let gateway: Receiver;
const contexts: BrowserContext[] = [];
const clients: MqttClient[] = [];
const pageErrors: string[] = [];
const passwords = new Map<string, string>();

async function newPage(): Promise<Page> {
  const context = await browser.newContext(PHONE);
  contexts.push(context);
  const page = await context.newPage();
  page.on('pageerror', (err) => pageErrors.push(`${page.url()}: ${err.message}`));
  return page;
}

async function logIn(page: Page, username: string): Promise<void> {
  const password =
    passwords.get(username) ?? t.credentials?.users.find((u) => u.username === username)?.password;
  if (!password) throw new Error(`no password for ${username}`);
  await page.goto(`${t.hub.urls.http}/worker/`);
  await page.fill('input[name=username]', username);
  await page.fill('input[name=password]', password);
  await page.click('button[type=submit]');
}

/** An office manager of a community: a user with a scope but no person on any duty roster. */
async function manager(username: string, scope: string): Promise<void> {
  const password = `pw-${username}-0123456789`;
  await t.hub.registry.users.create(
    { username, password, role: 'manager', scope: [scope], personId: null, displayName: username },
    clock.now(),
  );
  passwords.set(username, password);
}

async function alertFor(deviceId: string): Promise<string> {
  const admin = await t.login('admin');
  const end = Date.now() + 5000;
  for (;;) {
    const body = (await (await t.api(admin, '/api/alerts?limit=100')).json()) as {
      items: { id: string; deviceId: string }[];
    };
    const hit = body.items.find((a) => a.deviceId === deviceId);
    if (hit) return hit.id;
    if (Date.now() > end) throw new Error(`no alert for ${deviceId}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe.skipIf(!chromiumPath)('messages people act on, in Chromium at phone size', () => {
  let callId = '';
  let buttonId = '';

  beforeAll(async () => {
    ensureWebBuilt();
    gateway = await new Receiver().start();
    t = await startTestHub({ clock, env: { GRIDHUB_ALERTS_SMS_GATEWAY_URL: gateway.url('/sms') } });
    browser = await launchChromium(chromiumPath as string);
    await manager('office-c1', 'C1');
    await manager('office-c2', 'C2');
  }, 120_000);

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
    for (const c of contexts) await c.close().catch(() => undefined);
    await browser?.close();
    await t?.close();
    await gateway?.stop();
  });

  it('shows the worker the resident card of a one-key call; a manager not on it sees it masked, another community not at all', async () => {
    const worker = await newPage();
    await logIn(worker, 'worker');
    await worker.waitForSelector('[data-mqtt="connected"]', { timeout: 15_000 });

    const button = t.credentials?.devices.find(
      (d) => d.type === 'call_button' && d.placeId.startsWith('E1-'),
    );
    if (!button) throw new Error('no demo call button in grid G1');
    buttonId = button.id;
    const resident = await t.hub.dispatcher.residents.forDevice(button.id);
    if (!resident?.phone || !resident.healthNotes) throw new Error('the demo resident has no phone or notes');
    const client = await connectAsync(t.hub.urls.mqtt, {
      username: button.id,
      password: button.secret,
      clientId: `${button.id}-messages-test`,
      reconnectPeriod: 0,
    });
    clients.push(client);
    await client.publishAsync(topics.event(button.id), JSON.stringify({ event: 'press' }), { qos: 1 });
    callId = await alertFor(button.id);

    // The phone: the card came with the alarm, unmasked, with a number to tap.
    const card = worker.locator(`[data-alert-id="${callId}"] [data-resident="unmasked"]`);
    await card.waitFor({ timeout: 10_000 });
    expect(await card.locator('[data-field=name]').textContent()).toBe(resident.name);
    expect(await card.locator('a[data-phone=tel]').first().getAttribute('href')).toBe(
      `tel:${resident.phone}`,
    );
    expect(await card.textContent()).toContain(resident.healthNotes);
    await worker.screenshot({ path: 'test-artifacts/worker-resident-card.png' });

    // A manager of the community who is not acting on the call: the card masked, nothing to call.
    const office = await newPage();
    await logIn(office, 'office-c1');
    const masked = office.locator(`[data-alert-id="${callId}"] [data-resident="masked"]`);
    await masked.waitFor({ timeout: 10_000 });
    const text = (await masked.textContent()) ?? '';
    expect(text).not.toContain(resident.phone);
    expect(text).not.toContain(resident.name);
    expect(text).not.toContain(resident.healthNotes);
    expect(await masked.locator('a[data-phone=tel]').count()).toBe(0);

    // On the board too: the office manager opens the call and sees the card masked.
    const board = await newPage();
    await board.setViewportSize({ width: 1366, height: 768 });
    await board.goto(`${t.hub.urls.http}/`);
    await board.fill('input[name=username]', 'office-c1');
    await board.fill('input[name=password]', passwords.get('office-c1') ?? '');
    await board.click('button[type=submit]');
    await board.locator(`[data-alert-id="${callId}"]`).first().click();
    const onBoard = board.locator(`[data-alert="${callId}"] [data-resident="masked"]`);
    await onBoard.waitFor({ timeout: 10_000 });
    expect((await onBoard.textContent()) ?? '').not.toContain(resident.phone);

    // A manager of another community: the alert is not theirs to see at all.
    const other = await newPage();
    await logIn(other, 'office-c2');
    await other.waitForSelector('.worker');
    expect(await other.locator(`[data-alert-id="${callId}"]`).count()).toBe(0);
    const login = await fetch(`${t.hub.urls.http}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'office-c2', password: passwords.get('office-c2') }),
    });
    const { token } = (await login.json()) as { token: string };
    expect((await t.api(token, `/api/alerts/${callId}/resident`)).status).toBe(404);

    // Every unmasked sight is audited: the card sent to the people on it, no unmasked read by the office.
    const audit = (await (await t.api(await t.login('admin'), '/api/audit?limit=200')).json()) as {
      items: { username: string; action: string; alertId: string | null }[];
    };
    const onCall = audit.items.filter((e) => e.alertId === callId);
    expect(onCall.some((e) => e.action === 'resident.sent' && e.username === 'person:g1-worker-a')).toBe(
      true,
    );
    expect(onCall.some((e) => e.username === 'office-c1' && e.action === 'resident.read')).toBe(false);
    expect(pageErrors).toEqual([]);
  }, 60_000);

  it('texts the resident a rating link after resolve; the page takes one rating and refuses the second use', async () => {
    expect(callId).not.toBe('');
    const worker = await t.login('worker');
    const res = await t.api(worker, `/api/alerts/${callId}/resolve`, {
      method: 'POST',
      body: JSON.stringify({ note: '已上门，老人安好' }),
    });
    expect(res.status).toBe(200);
    const resident = await t.hub.dispatcher.residents.forDevice(buttonId);
    // The SMS to the resident: the provider template, the signature, the link to the hub's page.
    const end = Date.now() + 5000;
    while (!gateway.at('/sms').some((r) => r.json().templateCode === 'GH_RATING_ZH') && Date.now() < end) {
      await new Promise((r) => setTimeout(r, 50));
    }
    const sms = gateway
      .at('/sms')
      .map((r) => r.json())
      .find((b) => b.templateCode === 'GH_RATING_ZH');
    expect(sms).toMatchObject({ channel: 'sms', to: resident?.phone, signName: '智慧社区' });
    const text = String(sms?.text);
    expect(text).toMatch(/^【智慧社区】您好，您在.+的一键呼叫已处理完毕，请为本次服务评分：http/);
    const link = /(https?:\/\/\S+\/r\/[A-Za-z0-9_-]+)/.exec(text)?.[1] ?? '';
    expect(link.startsWith(t.hub.urls.http)).toBe(true);

    const page = await newPage();
    await page.goto(link);
    await page.waitForSelector('.stars button');
    expect(await page.locator('h1').textContent()).toBe('请为本次服务评分');
    expect(await page.locator('.about').textContent()).toContain('一键呼叫');
    await page.locator('.stars button[data-score="4"]').tap();
    expect(await page.locator('.score-word').textContent()).toBe('满意');
    await page.fill('textarea[name=comment]', '网格员来得很快，谢谢');
    await page.screenshot({ path: 'test-artifacts/rating-page.png' });
    await page.locator('button.submit').tap();
    await page.waitForSelector('[data-state=thanks]');

    const detail = (await (await t.api(worker, `/api/alerts/${callId}`)).json()) as {
      alert: { rating: number | null; ratingComment: string | null };
    };
    expect(detail.alert).toMatchObject({ rating: 4, ratingComment: '网格员来得很快，谢谢' });

    // The second use: the page says so, and the API refuses a rating sent anyway.
    const again = await newPage();
    await again.goto(link);
    await again.waitForSelector('[data-state=used]');
    expect(await again.locator('.stars button').count()).toBe(0);
    const token = link.split('/r/')[1] ?? '';
    const second = await fetch(`${t.hub.urls.http}/api/public/rate/${token}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ score: 1 }),
    });
    expect(second.status).toBe(404);
    const after = (await (await t.api(worker, `/api/alerts/${callId}`)).json()) as {
      alert: { rating: number };
    };
    expect(after.alert.rating).toBe(4);
    expect(pageErrors).toEqual([]);
  }, 60_000);
});
