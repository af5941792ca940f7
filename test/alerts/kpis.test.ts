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
    h.dispatcher.start();
    const d = h.dispatcher;
    const open = (placeId: string, deviceId: string, severity: 'critical' | 'minor') => {
      d.handle(
        raise(h.registry, h.clock, {
          placeId,
          deviceId,
          severity,
          category: severity === 'minor' ? 'bin' : 'fire',
        }),
      );
      return d.list({}).items.find((a) => a.deviceId === deviceId)?.id ?? '';
    };
    const a = open('b1', 'A', 'critical'); // in time all the way, rated 4, closed
    const b = open('b1', 'B', 'critical'); // late everywhere: escalates up to the street
    const c = open('b2', 'C', 'minor'); // in time, rated 2
    const dd = open('b2', 'D', 'minor'); // never touched
    const at = async (ms: number) => h.clock.advanceAsync(T0 + ms - h.clock.now());
    await at(30 * S);
    d.acknowledge(a, 'w1');
    await at(2 * MIN);
    d.acknowledge(b, 'w1');
    await at(10 * MIN);
    d.arrive(a, 'w1');
    d.acknowledge(c, 'w2');
    await at(20 * MIN);
    d.arrive(b, 'w1');
    await at(30 * MIN);
    d.resolve(a, 'w1', { note: 'ok' });
    await at(60 * MIN);
    d.resolve(c, 'w2', { note: 'emptied' });
    await at(90 * MIN);
    d.resolve(b, 'w1', { note: 'ok' });
    d.rate(a, 'w1', { score: 4 });
    d.rate(c, 'w2', { score: 2 });
    d.close(a, 'w1');

    const k = d.kpis({ from: T0, to: T0 + 86_400_000 });
    expect(k.overall).toEqual({
      total: 4,
      resolved: 3,
      closed: 1,
      closureRate: 0.75,
      onTimeAcknowledgeRate: 0.5,
      onTimeArriveRate: 0.5,
      onTimeResolveRate: 0.6667,
      meanSecondsToAcknowledge: 250,
      meanSecondsToArrive: 900,
      meanSecondsToResolve: 3600,
      satisfaction: 3,
      ratings: 2,
      inGridResolutionRate: 0.6667,
      escalated: 2,
    });
    expect(
      k.grids.map((g) => [g.gridId, g.gridName, g.total, g.closureRate, g.inGridResolutionRate]),
    ).toEqual([
      ['g1', '第一网格', 2, 1, 0.5],
      ['g2', '第二网格', 2, 0.5, 1],
    ]);
    expect(d.get(b)?.reach).toBe('street');
    // The untouched minor alert went to the grid leader at 30 min but never left the grid.
    expect(d.get(dd)).toMatchObject({ escalated: true, reach: 'grid', status: 'dispatched' });
    // Scope: a visibility filter cuts the set before the figures.
    const g2only = d.kpis({}, (x) => x.place.grid === 'g2');
    expect(g2only.overall.total).toBe(2);
    expect(g2only.overall.onTimeAcknowledgeRate).toBe(0.5);
    // Period: nothing opened after the set.
    expect(d.kpis({ from: T0 + 1 }).overall.total).toBe(0);
  });
});
