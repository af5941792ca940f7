import { afterEach, describe, expect, it } from 'vitest';
import { createHarness, type Harness, raise, seedCommunity, T0 } from './fixtures.ts';

const S = 1000;
const MIN = 60 * S;
let h: Harness;

afterEach(async () => {
  await h?.close();
});

describe('KPIs', () => {
  it('computes closure, on-time rates, mean times, satisfaction and in-grid resolution on a known set', async () => {
    h = createHarness();
    seedCommunity(h.registry);
    await h.dispatcher.start();
    const d = h.dispatcher;
    const open = async (placeId: string, deviceId: string, severity: 'critical' | 'minor') => {
      await d.handle(
        raise(h.registry, h.clock, {
          placeId,
          deviceId,
          severity,
          category: severity === 'minor' ? 'bin' : 'fire',
        }),
      );
      return (await d.list({})).items.find((a) => a.deviceId === deviceId)?.id ?? '';
    };
    const a = await open('b1', 'A', 'critical'); // in time all the way, rated 4, closed
    const b = await open('b1', 'B', 'critical'); // late everywhere: escalates up to the street
    const c = await open('b2', 'C', 'minor'); // in time, rated 2
    const dd = await open('b2', 'D', 'minor'); // never touched
    // A bin emptied by itself: counted apart, in no rate of people.
    const e = await open('b2', 'E', 'minor');
    // A one-key call with someone on site at 12 min: inside the 15-minute response circle.
    await d.handle(
      raise(h.registry, h.clock, {
        placeId: 'b1',
        deviceId: 'CALL',
        deviceType: 'call_button',
        ruleId: 'call.press',
        category: 'call_for_help',
        dedup: 'per-occurrence',
      }),
    );
    const call = (await d.list({})).items.find((x) => x.deviceId === 'CALL')?.id ?? '';
    const at = async (ms: number) => h.clock.advanceAsync(T0 + ms - h.clock.now());
    await at(20 * S);
    await d.handle({
      ...raise(h.registry, h.clock, { placeId: 'b2', deviceId: 'E', severity: 'minor', category: 'bin' }),
      kind: 'clear',
      resolution: 'auto',
      note: 'emptied',
    });
    await at(30 * S);
    await d.acknowledge(a, 'w1');
    await d.acknowledge(call, 'w1');
    await at(2 * MIN);
    await d.acknowledge(b, 'w1');
    await at(10 * MIN);
    await d.arrive(a, 'w1');
    await d.acknowledge(c, 'w2');
    await at(12 * MIN);
    await d.arrive(call, 'w1');
    await at(20 * MIN);
    await d.arrive(b, 'w1');
    await at(30 * MIN);
    await d.resolve(a, 'w1', { note: 'ok' });
    await at(60 * MIN);
    await d.resolve(c, 'w2', { note: 'emptied' });
    await at(90 * MIN);
    await d.resolve(b, 'w1', { note: 'ok' });
    await d.rate(a, 'w1', { score: 4 });
    await d.rate(c, 'w2', { score: 2 });
    await d.close(a, 'w1');

    expect(await d.get(e)).toMatchObject({ status: 'resolved', resolution: 'auto' });

    const k = await d.kpis({ from: T0, to: T0 + 86_400_000 });
    expect(k.overall).toEqual({
      total: 6,
      selfResolved: 1,
      handled: 5,
      resolved: 3,
      closed: 1,
      // 办结率: closed ÷ handled by people; the self-resolved bin is not in it.
      closureRate: 0.2,
      // a (30 s), call (30 s), c (10 min of 30) in time; b (2 min > 1 min) late; D overdue (30 min).
      onTimeAcknowledgeRate: 0.6,
      // a (10 min) and call (12 min) of 15 in time; b (20 min) late.
      onTimeArriveRate: 0.6667,
      // The call, never resolved, is overdue at 60 min.
      onTimeResolveRate: 0.5,
      meanSecondsToAcknowledge: 195,
      meanSecondsToArrive: 840,
      meanSecondsToResolve: 3600,
      satisfaction: 3,
      ratings: 2,
      inGridResolutionRate: 0.6667,
      calls: 1,
      responseCircleRate: 1,
      // b, D, and the call (unresolved at 60 min goes to the street).
      escalated: 3,
    });
    expect(k.definitions.closureRate.label['zh-CN']).toBe('办结率');
    // 24 h from 16:00 in Shanghai span two local days; the empty one is listed too.
    expect(k.trend.overall).toEqual([
      { date: '2026-01-05', total: 6, handled: 5, closed: 1, closureRate: 0.2 },
      { date: '2026-01-06', total: 0, handled: 0, closed: 0, closureRate: null },
    ]);
    expect(
      k.grids.map((g) => [g.gridId, g.gridName, g.total, g.closureRate, g.inGridResolutionRate]),
    ).toEqual([
      ['g1', '第一网格', 3, 0.3333, 0.5],
      ['g2', '第二网格', 3, 0, 1],
    ]);
    expect((await d.get(b))?.reach).toBe('street');
    // The untouched minor alert went to the grid leader at 30 min but never left the grid.
    expect(await d.get(dd)).toMatchObject({ escalated: true, reach: 'grid', status: 'dispatched' });
    // Scope: the caller's places cut the set before the figures.
    const g2only = await d.kpis({}, { kind: 'places', roots: ['g2'] });
    expect(g2only.overall.total).toBe(3);
    expect(g2only.overall.onTimeAcknowledgeRate).toBe(0.5);
    expect(g2only.overall.selfResolved).toBe(1);
    // Period: nothing opened after the set.
    expect((await d.kpis({ from: T0 + 1 })).overall.total).toBe(0);
  });
});
