import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createRouting, type ShadowEntry } from './routing.ts';

const entry = (deviceId: string, at: number, n = 0): ShadowEntry => ({
  deviceId,
  channel: 'telemetry',
  topic: `gh/${deviceId}/telemetry`,
  payload: Buffer.from(`{"fill":${n}}`),
  qos: 1,
  at,
});

const value = async (metrics: Registry, name: string) =>
  (await metrics.getSingleMetric(name)?.get())?.values[0]?.value ?? 0;

describe('owner routing: the per-device answer and the shadow', () => {
  it('answers from the membership, caches it, and holds waiting devices back until taken', () => {
    let mine = new Set(['a']);
    const routing = createRouting({
      owns: (id) => mine.has(id),
      maxEntries: 10,
      maxAgeMs: 1_000,
      metrics: new Registry(),
    });
    expect(routing.owned('a')).toBe(true);
    expect(routing.owned('b')).toBe(false);
    mine = new Set(['b']);
    // cached until the membership changes
    expect(routing.owned('b')).toBe(false);
    routing.changed(['b']);
    expect(routing.owned('a')).toBe(false);
    // b is this instance's now, but waits for its hand-over
    expect(routing.owned('b')).toBe(false);
    routing.take(new Set(['b']), () => 0);
    expect(routing.owned('b')).toBe(true);
  });

  it('hands over a device’s messages after the cut-off, in order, and keeps the others’', async () => {
    const metrics = new Registry();
    const routing = createRouting({ owns: () => false, maxEntries: 10, maxAgeMs: 10_000, metrics });
    routing.shadow(entry('x', 100, 1));
    routing.shadow(entry('y', 150, 2));
    routing.shadow(entry('x', 200, 3));
    routing.shadow(entry('x', 300, 4));
    const taken = routing.take(new Set(['x']), () => 200);
    expect(taken.map((e) => e.payload.toString())).toEqual(['{"fill":3}', '{"fill":4}']);
    expect(routing.size).toBe(1);
    expect(routing.take(new Set(['y']), () => 0).map((e) => e.deviceId)).toEqual(['y']);
    expect(routing.size).toBe(0);
    expect(await value(metrics, 'gridhub_ingest_routed_away_total')).toBe(4);
    expect(await value(metrics, 'gridhub_ingest_shadow_replayed_total')).toBe(3);
  });

  it('is bounded by count and by age, and counts what it let go', async () => {
    const metrics = new Registry();
    const routing = createRouting({ owns: () => false, maxEntries: 3, maxAgeMs: 1_000, metrics });
    for (let i = 0; i < 5; i++) routing.shadow(entry('x', i, i));
    expect(routing.size).toBe(3);
    expect(routing.take(new Set(['x']), () => -1).map((e) => e.at)).toEqual([2, 3, 4]);
    routing.shadow(entry('y', 10));
    routing.shadow(entry('y', 500));
    // a second later the first is too old
    routing.shadow(entry('y', 1_010));
    expect(routing.take(new Set(['y']), () => -1).map((e) => e.at)).toEqual([500, 1_010]);
    expect(await value(metrics, 'gridhub_ingest_shadow_expired_total')).toBe(3);
  });
});
