import { readFileSync } from 'node:fs';
import ExcelJS from 'exceljs';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock/clock.ts';
import { topics } from '../../src/domain/wire.ts';
import { type BoardSession, type DemoDevice, startBoardSession } from './board-session.ts';
import { findChromium } from './browser.ts';

const chromiumPath = findChromium();
if (!chromiumPath)
  console.warn('[test/browser] SKIPPED: no Chromium at /usr/bin/chromium (apt-get install chromium)');

const S = 1000;
const MIN = 60 * S;
// 16:00 on 2026-01-05 in Shanghai.
const T0 = Date.UTC(2026, 0, 5, 8, 0, 0);
const clock = new ManualClock(T0);
let s: BoardSession;
let manager = '';

const at = (ms: number) => clock.advanceAsync(T0 + ms - clock.now());

async function raise(d: DemoDevice, event: string): Promise<string> {
  const c = await s.connect(d);
  await c.publishAsync(topics.event(d.id), JSON.stringify({ event }), { qos: 1 });
  for (let i = 0; i < 100; i++) {
    const body = (await (await s.t.api(manager, '/api/alerts?limit=100')).json()) as {
      items: { id: string; deviceId: string }[];
    };
    const hit = body.items.find((a) => a.deviceId === d.id);
    if (hit) return hit.id;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`no alert for ${d.id}`);
}

async function act(id: string, action: string, body: Record<string, unknown> = {}): Promise<void> {
  const res = await s.t.api(manager, `/api/alerts/${id}/${action}`, {
    method: 'POST',
    body: JSON.stringify(body),
  });
  expect(res.status, `${action} ${await res.clone().text()}`).toBe(200);
}

/** The figures the test expects, from what it did to the alerts it raised (not from the hub's answer). */
const EXPECTED = {
  // G1: A1 handled all the way and closed, A2 left alone.
  G1: {
    total: '2',
    selfResolved: '0',
    handled: '2',
    closed: '1',
    closureRate: 0.5,
    ack: [30],
    ackOnTime: 0.5,
  },
  // G2: A3 acknowledged late (2 min of 1), the e-bike left the elevator within 2 min by itself (prevented).
  G2: { total: '2', selfResolved: '1', handled: '1', closed: '0', closureRate: 0, ack: [120], ackOnTime: 0 },
  all: {
    total: '4',
    selfResolved: '1',
    handled: '3',
    closed: '1',
    closureRate: 1 / 3,
    ack: [30, 120],
    ackOnTime: 1 / 3,
  },
} as const;
const pct = (r: number) => `${Math.round(r * 1000) / 10}%`;
const meanAck = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

async function cell(page: Page, grid: string, kpi: string): Promise<string> {
  return ((await page.textContent(`td[data-grid="${grid}"][data-kpi="${kpi}"]`)) ?? '').trim();
}

describe.skipIf(!chromiumPath)('grid assessment (网格考核) in Chromium', () => {
  beforeAll(async () => {
    s = await startBoardSession(clock, chromiumPath as string);
    manager = await s.t.login('manager');
    // Grid G1 (estates E1, E2) and G2 (E3, E4) of community C1, the manager's scope.
    const a1 = await raise(s.device('smoke', /^E1-B1-/), 'alarm');
    await raise(s.device('smoke', /^E2-B1-/), 'alarm'); // A2: left alone
    const a3 = await raise(s.device('smoke', /^E3-B1-/), 'alarm');
    await at(30 * S);
    await act(a1, 'acknowledge');
    await at(2 * MIN);
    await act(a3, 'acknowledge');
    await at(5 * MIN);
    await act(a1, 'arrive');
    await at(20 * MIN);
    await act(a1, 'resolve', { note: '厨房油烟，已通风' });
    await act(a1, 'rate', { score: 5 });
    await act(a1, 'close');
    // Last, so the detector's 1-minute heartbeat never runs out: in and out of the elevator in 40 s.
    const ebike = s.device('ebike_elevator', /^E3-B2$/);
    const c = await s.connect(ebike);
    await c.publishAsync(
      topics.event(ebike.id),
      JSON.stringify({ event: 'ebike_detected', data: { confidence: 0.95, elevatorId: 'L1' } }),
      { qos: 1 },
    );
    await at(20 * MIN + 10 * S);
    await c.publishAsync(topics.event(ebike.id), JSON.stringify({ event: 'ebike_cleared' }), { qos: 1 });
    await at(20 * MIN + 50 * S);
    const listed = async () => {
      const body = (await (await s.t.api(manager, '/api/alerts?limit=100')).json()) as {
        items: { deviceId: string; resolution: string | null }[];
      };
      return body.items.find((a) => a.deviceId === ebike.id)?.resolution;
    };
    for (let i = 0; i < 100 && (await listed()) !== 'prevented'; i++)
      await new Promise((r) => setTimeout(r, 20));
    expect(await listed()).toBe('prevented');
  }, 120_000);
  afterAll(async () => s?.close());

  for (const lang of ['zh-CN', 'en'] as const) {
    it(`${lang}: two grids over a period match the figures of the alerts raised`, async () => {
      const page = await s.board(lang, 'manager', '#kpis');
      await page.fill('input[name=from]', '2026-01-05');
      await page.fill('input[name=to]', '2026-01-05');
      await page.waitForSelector('td[data-grid="G2"][data-kpi="total"]');
      for (const [grid, e] of Object.entries(EXPECTED)) {
        expect(await cell(page, grid, 'total'), grid).toBe(e.total);
        expect(await cell(page, grid, 'selfResolved'), grid).toBe(e.selfResolved);
        expect(await cell(page, grid, 'handled'), grid).toBe(e.handled);
        expect(await cell(page, grid, 'closed'), grid).toBe(e.closed);
        expect(await cell(page, grid, 'closureRate'), grid).toBe(pct(e.closureRate));
        expect(await cell(page, grid, 'onTimeAcknowledgeRate'), grid).toBe(pct(e.ackOnTime));
      }
      // Durations as people write them.
      const ackAll = meanAck(EXPECTED.all.ack); // 75 s
      expect(ackAll).toBe(75);
      expect(await cell(page, 'all', 'meanSecondsToAcknowledge')).toBe(
        lang === 'zh-CN' ? '1分15秒' : '1 min 15 s',
      );
      expect(await cell(page, 'G2', 'meanSecondsToAcknowledge')).toBe(lang === 'zh-CN' ? '2分' : '2 min');
      expect(await cell(page, 'G1', 'satisfaction')).toBe('5.0 / 5');
      // The definitions travel with the figures.
      expect(await page.textContent('.kpi-defs')).toContain(
        lang === 'zh-CN' ? '已办结 ÷ 人员处置的告警' : 'Closed ÷ alerts handled by people',
      );
      // the period's last field still had the focus (its month highlighted in the screenshot)
      await page.locator('input[name=to]').blur();
      await s.screenshot(page, `kpis-${lang === 'zh-CN' ? 'zh' : 'en'}.png`);

      // The export opens as a spreadsheet with the same figures.
      const [download] = await Promise.all([
        page.waitForEvent('download'),
        page.click('[data-export="xlsx"]'),
      ]);
      expect(download.suggestedFilename()).toBe('gridhub-kpis-2026-01-05_2026-01-05.xlsx');
      const wb = new ExcelJS.Workbook();
      // A copy of exactly the file's bytes (a Buffer may sit in a larger shared pool).
      await wb.xlsx.load(new Uint8Array(readFileSync(await download.path())).buffer);
      const sheet = wb.worksheets[0];
      if (!sheet) throw new Error('no sheet');
      const header = (sheet.getRow(1).values as unknown[]).map(String);
      const col = (label: string) => header.indexOf(label);
      const rowOf = (gridId: string) => {
        for (let r = 2; r <= sheet.rowCount; r++)
          if (sheet.getRow(r).getCell(1).value === gridId) return sheet.getRow(r);
        throw new Error(`no row for ${gridId}`);
      };
      const closure = col(lang === 'zh-CN' ? '办结率' : 'Closure rate');
      const raised = col(lang === 'zh-CN' ? '告警数' : 'Raised');
      expect(closure).toBeGreaterThan(0);
      expect(rowOf('G1').getCell(closure).value).toBe(0.5);
      expect(rowOf('G2').getCell(closure).value).toBe(0);
      expect(rowOf('G1').getCell(raised).value).toBe(2);
      expect(rowOf('G2').getCell(col(lang === 'zh-CN' ? '自行解除' : 'Resolved by themselves')).value).toBe(
        1,
      );
      expect(
        rowOf('G1').getCell(col(lang === 'zh-CN' ? '平均接警时长（秒）' : 'Mean time to acknowledge (s)'))
          .value,
      ).toBe(30);
      expect(wb.worksheets[1]?.getRow(2).getCell(2).value).toBe('2026-01-05 – 2026-01-05');

      const [csv] = await Promise.all([page.waitForEvent('download'), page.click('[data-export="csv"]')]);
      const text = readFileSync(await csv.path(), 'utf8');
      expect(text.startsWith('\uFEFF')).toBe(true);
      const g2 = text.split('\r\n').find((l) => l.startsWith('G2,'));
      expect(g2?.split(',').slice(2, 7)).toEqual(['2', '1', '1', '0', '0']);
    });
  }

  it('a period without the alerts shows none of them', async () => {
    const page = await s.board('zh-CN', 'manager', '#kpis');
    await page.fill('input[name=from]', '2026-01-04');
    await page.fill('input[name=to]', '2026-01-04');
    await expect.poll(() => cell(page, 'all', 'total')).toBe('0');
    expect(await page.locator('td[data-grid="G1"]').count()).toBe(0);
    expect(s.pageErrors).toEqual([]);
  });
});
