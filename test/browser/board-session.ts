/** What the board's browser tests share: a hub, Chromium, logging in, demo devices publishing, screenshots. */
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { connectAsync, type MqttClient } from 'mqtt';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { ManualClock } from '../../src/clock/clock.ts';
import type { DemoCredentials } from '../../src/domain/wire.ts';
import { startTestHub, type TestHub } from '../helpers/hub.ts';
import { ensureWebBuilt, launchChromium } from './browser.ts';

const ARTIFACTS = new URL('../../test-artifacts/', import.meta.url);
const SCREENSHOTS = new URL('../../docs/screenshots/', import.meta.url);

export type DemoDevice = DemoCredentials['devices'][number];

export interface BoardSession {
  t: TestHub;
  browser: Browser;
  pageErrors: string[];
  /** A page of the duty board (1 366 × 768, Shanghai time) in a language, logged in as `username`. */
  board(lang: 'zh-CN' | 'en', username: string, hash?: string): Promise<Page>;
  device(type: DemoDevice['type'], placeId: RegExp, index?: number): DemoDevice;
  /** Connect a demo device over MQTT (kept open until close). */
  connect(d: DemoDevice): Promise<MqttClient>;
  screenshot(page: Page, name: string): Promise<void>;
  close(): Promise<void>;
}

export async function startBoardSession(clock: ManualClock, chromiumPath: string): Promise<BoardSession> {
  ensureWebBuilt();
  const t = await startTestHub({ clock });
  const browser = await launchChromium(chromiumPath);
  const contexts: BrowserContext[] = [];
  const clients: MqttClient[] = [];
  const pageErrors: string[] = [];
  return {
    t,
    browser,
    pageErrors,
    async board(lang, username, hash = '') {
      const context = await browser.newContext({
        viewport: { width: 1366, height: 768 },
        locale: lang === 'zh-CN' ? 'zh-CN' : 'en-US',
        timezoneId: 'Asia/Shanghai',
        acceptDownloads: true,
      });
      contexts.push(context);
      const page = await context.newPage();
      page.on('pageerror', (err) => pageErrors.push(`${page.url()}: ${err.message}`));
      const user = t.credentials?.users.find((u) => u.username === username);
      if (!user) throw new Error(`no demo user ${username}`);
      await page.goto(`${t.hub.urls.http}/${hash}`);
      await page.fill('input[name=username]', username);
      await page.fill('input[name=password]', user.password);
      await page.click('button[type=submit]');
      await page.waitForSelector('[data-stream="live"]');
      return page;
    },
    device(type, placeId, index = 0) {
      const d = t.credentials?.devices.filter((x) => x.type === type && placeId.test(x.placeId))[index];
      if (!d) throw new Error(`no demo ${type} at ${placeId}`);
      return d;
    },
    async connect(d) {
      const c = await connectAsync(t.hub.urls.mqtt, {
        username: d.id,
        password: d.secret,
        clientId: `${d.id}-browser-test`,
        reconnectPeriod: 0,
      });
      clients.push(c);
      return c;
    },
    /**
     * Saved under test-artifacts/ on every run; copied to docs/screenshots (shown in the README) when missing
     * there or with GRIDHUB_UPDATE_SCREENSHOTS=1, since every run differs by ids and times.
     */
    async screenshot(page, name) {
      mkdirSync(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: new URL(name, ARTIFACTS).pathname });
      if (existsSync(new URL(name, SCREENSHOTS)) && process.env.GRIDHUB_UPDATE_SCREENSHOTS !== '1') return;
      mkdirSync(SCREENSHOTS, { recursive: true });
      copyFileSync(new URL(name, ARTIFACTS), new URL(name, SCREENSHOTS));
    },
    async close() {
      await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
      for (const c of contexts) await c.close().catch(() => undefined);
      await browser.close();
      await t.close();
    },
  };
}
