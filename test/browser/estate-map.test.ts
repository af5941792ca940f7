import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock/clock.ts';
import { topics } from '../../src/domain/wire.ts';
import { type BoardSession, startBoardSession } from './board-session.ts';
import { findChromium } from './browser.ts';

const chromiumPath = findChromium();
if (!chromiumPath)
  console.warn('[test/browser] SKIPPED: no Chromium at /usr/bin/chromium (apt-get install chromium)');

// 16:00 in Shanghai on a Monday: grid 1's day shift is on duty.
const clock = new ManualClock(Date.UTC(2026, 0, 5, 8, 0, 0));
let s: BoardSession;

describe.skipIf(!chromiumPath)('the estate map (需求地图) in Chromium', () => {
  beforeAll(async () => {
    s = await startBoardSession(clock, chromiumPath as string);
  }, 120_000);
  afterAll(async () => s?.close());

  const cases = [
    { lang: 'zh-CN', building: 'E1-B1', title: '烟感报警', floorLabel: '层' },
    { lang: 'en', building: 'E1-B2', title: 'Smoke', floorLabel: 'F' },
  ] as const;
  for (const c of cases) {
    it(`${c.lang}: a smoke alarm lights its building, floor and unit within a second of the publish`, async () => {
      const page = await s.board(c.lang, 'manager', '#map');
      await page.selectOption('select[name=estate]', 'E1');
      await page.click(`[data-building="${c.building}"]`);
      await page.waitForSelector(`[data-building-grid="${c.building}"]`);
      const smoke = s.device('smoke', new RegExp(`^${c.building}-U`));
      const unit = smoke.placeId;
      const floor = smoke.floor as number;
      const cell = `[data-building-grid="${c.building}"] td[data-floor="${floor}"][data-unit="${unit}"]`;
      expect(await page.getAttribute(cell, 'data-severity')).toBe('');

      const client = await s.connect(smoke);
      const sent = Date.now();
      await client.publishAsync(topics.event(smoke.id), JSON.stringify({ event: 'alarm' }), { qos: 1 });
      // Unit, floor row and building all light, by severity, within a second of the publish. They
      // are checked together in the page: they light in one render, and a separate wait per element
      // would measure the test driver's round trips, not the board.
      const lit = [cell, `[data-floor-row="${floor}"]`, `[data-building="${c.building}"]`]
        .map((sel) => `:has(${sel}[data-severity="critical"])`)
        .join('');
      await page.waitForSelector(`body${lit}`, { timeout: 1000, state: 'attached' });
      expect(Date.now() - sent).toBeLessThan(1000);
      // Other floors of the unit stay dark.
      const dark = `[data-building-grid="${c.building}"] td[data-floor="${floor + 1}"][data-unit="${unit}"]`;
      expect(await page.getAttribute(dark, 'data-severity')).toBe('');
      expect(await page.textContent(`${cell} button`)).toContain(c.title);
      expect(await page.textContent('[data-view-tab="map"]')).toBe(
        c.lang === 'zh-CN' ? '需求地图' : 'Estate map',
      );
      expect(await page.textContent(`[data-floor-row="${floor}"] th`)).toContain(c.floorLabel);
      await s.screenshot(page, `map-${c.lang === 'zh-CN' ? 'zh' : 'en'}.png`);

      // The lit cell opens the alert; the detail is in plain words of the page's language.
      await page.click(`${cell} button`);
      await page.waitForSelector('.detail [data-action="acknowledge"]');
      await page.click('.detail [data-action="acknowledge"]');
      await page.waitForSelector('.detail [data-event="acknowledged"]');
      const detail = (await page.textContent('.detail')) ?? '';
      expect(detail).not.toMatch(/rule:|roles:|rung:|grid_worker|must_reach/);
      // The alert is named by a short number, not a 36-character id; times read as people write them.
      const alertId = (await page.getAttribute('.detail', 'data-alert')) ?? '';
      expect(alertId).toHaveLength(36);
      expect(detail).not.toContain(alertId);
      expect(detail).toContain(alertId.slice(-8));
      expect(detail).not.toMatch(/\d\d\/\d\d/);
      if (c.lang === 'zh-CN') {
        expect(detail).toContain(`编号 ${alertId.slice(-8)}`);
        expect(detail).toMatch(/\d{1,2}月\d{1,2}日 \d\d:\d\d:\d\d/);
        expect(detail).toContain(`烟感 ${smoke.id}（${floor}层）`);
        expect(detail).toContain('已通知');
        expect(detail).toContain('幸福社区物业经理'); // the manager who acknowledged, by name
        expect(detail).toContain('系统自动（规则）');
      } else {
        expect(detail).toContain(`Smoke sensor ${smoke.id} (floor ${floor})`);
        expect(detail).toContain('Notified');
        expect(detail).toMatch(/[A-Z][a-z]{2} \d{1,2}, (\d{4}, )?\d\d:\d\d:\d\d/);
      }
      // The title fits: nothing of it is cut off at 1 366 px with the detail open.
      const cut = await page.$eval('.detail h2', (h) => h.scrollWidth > h.clientWidth + 1);
      expect(cut).toBe(false);
      await s.screenshot(page, `alert-${c.lang === 'zh-CN' ? 'zh' : 'en'}.png`);
    });
  }

  it('the heat view counts alerts by building and day', async () => {
    const page = await s.board('zh-CN', 'manager', '#map');
    await page.selectOption('select[name=estate]', 'E1');
    await page.click('[data-mode="heat"]');
    // Two alarms today, one each in buildings 1 and 2 of the estate: two cells of the heat map read 1.
    await page.waitForSelector('.heat-chart svg');
    await expect
      .poll(async () => page.$$eval('.heat-chart svg text', (ts) => ts.map((x) => x.textContent)))
      .toEqual(expect.arrayContaining(['1栋', '2栋', '3栋']));
    const counts = await page.$$eval('.heat-chart svg text', (ts) =>
      ts.map((x) => x.textContent ?? '').filter((x) => /^\d+$/.test(x) && x !== '0'),
    );
    // The visual map's own scale prints its max (1) too.
    expect(counts.filter((x) => x === '1').length).toBeGreaterThanOrEqual(2);
    await s.screenshot(page, 'map-heat-zh.png');
    expect(s.pageErrors).toEqual([]);
  });
});
