import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  alertChange,
  catalogue,
  eventReading,
  log,
  metrics,
  smokeReading,
  telemetryConfig,
  tempDir,
} from '../../test/telemetry/helpers.ts';
import { ManualClock } from '../clock/clock.ts';
import { GridHubError } from '../domain/errors.ts';
import { influxConfigSchema } from './config.ts';
import { createEmbeddedStore, type EmbeddedStore } from './embedded-store.ts';
import { createTelemetryStore } from './index.ts';

const T0 = Date.UTC(2026, 0, 5, 8, 0, 0);

describe('embedded telemetry store', () => {
  const open: EmbeddedStore[] = [];
  afterEach(async () => {
    for (const s of open.splice(0)) await s.close();
  });

  function store(
    clock = new ManualClock(T0),
    over: Record<string, unknown> = {},
    dataDir = tempDir('embedded'),
  ) {
    const s = createEmbeddedStore({
      telemetry: telemetryConfig({ embeddedBatchSize: 100, embeddedFlushInterval: 1000, ...over }),
      dataDir,
      catalogue,
      log,
      metrics: metrics(),
      clock,
    });
    open.push(s);
    return { s, clock, dataDir };
  }

  const base = {
    deviceId: 'e-smoke',
    deviceType: 'smoke' as const,
    field: 'temperature',
    from: T0,
    to: T0 + 120_000,
  };

  it('is what the factory builds without an InfluxDB url, in <dataDir>/telemetry.db', async () => {
    const dataDir = tempDir('factory');
    const s = createTelemetryStore({
      influx: influxConfigSchema.parse({}),
      telemetry: telemetryConfig(),
      dataDir,
      catalogue,
      log,
      metrics: metrics(),
      clock: new ManualClock(T0),
    });
    expect(s.kind).toBe('embedded');
    expect(existsSync(join(dataDir, 'telemetry.db'))).toBe(true);
    await s.close();
  });

  it('answers raw points and each aggregate per epoch-aligned bucket', async () => {
    const { s } = store();
    [10, 20, 30, 40, 50].forEach((t, i) => {
      s.writeReading(smokeReading('e-smoke', T0 + i * 20_000, { temperature: t, alarm: i === 4 }));
    });
    s.writeReading(smokeReading('other', T0, { temperature: 99 }));
    expect(await s.query(base)).toEqual(
      [10, 20, 30, 40, 50].map((value, i) => ({ ts: T0 + i * 20_000, value })),
    );
    const every = 60_000;
    const q = (fn: 'mean' | 'min' | 'max' | 'last' | 'count') => s.query({ ...base, everyMs: every, fn });
    expect(await q('mean')).toEqual([
      { ts: T0, value: 20 },
      { ts: T0 + every, value: 45 },
    ]);
    expect((await q('min')).map((p) => p.value)).toEqual([10, 40]);
    expect((await q('max')).map((p) => p.value)).toEqual([30, 50]);
    expect((await q('last')).map((p) => p.value)).toEqual([30, 50]);
    expect((await q('count')).map((p) => p.value)).toEqual([3, 2]);
    expect(await s.query({ ...base, fn: 'max' })).toEqual([{ ts: T0, value: 50 }]);
    expect(await s.query({ ...base, from: T0 + 500_000, to: T0 + 600_000, fn: 'count' })).toEqual([]);
    // Booleans come back as booleans; `last` is the default aggregate for them.
    expect(await s.query({ ...base, field: 'alarm', everyMs: every })).toEqual([
      { ts: T0, value: false },
      { ts: T0 + every, value: true },
    ]);
  });

  it('refuses fields the device type does not have and numeric aggregates of booleans', async () => {
    const { s } = store();
    await expect(s.query({ ...base, field: 'fill' })).rejects.toMatchObject({
      code: 'REQUEST_INVALID',
      field: 'field',
      message: expect.stringContaining('fill'),
    });
    await expect(s.query({ ...base, field: 'alarm', fn: 'mean' })).rejects.toBeInstanceOf(GridHubError);
    await expect(s.query({ ...base, everyMs: 1 })).rejects.toMatchObject({ field: 'every' });
  });

  it('buffers rows until the batch size or the flush interval of the injected clock', async () => {
    const dataDir = tempDir('embedded-flush');
    const { s, clock } = store(new ManualClock(T0), { embeddedBatchSize: 3 }, dataDir);
    // A second connection sees only what was committed.
    const { s: reader } = store(clock, {}, dataDir);
    s.writeReading(smokeReading('e-smoke', T0, { temperature: 1 }));
    s.writeReading(smokeReading('e-smoke', T0 + 1, { temperature: 2 }));
    expect(await reader.query(base)).toEqual([]);
    s.writeReading(smokeReading('e-smoke', T0 + 2, { temperature: 3 })); // third row: batch full
    expect(await reader.query(base)).toHaveLength(3);
    s.writeReading(smokeReading('e-smoke', T0 + 3, { temperature: 4 }));
    expect(await reader.query(base)).toHaveLength(3);
    clock.advance(999);
    expect(await reader.query(base)).toHaveLength(3);
    clock.advance(1);
    expect(await reader.query(base)).toHaveLength(4);
  });

  it('prunes rows older than the retention on its interval, and ignores events and alerts', async () => {
    const { s, clock } = store(new ManualClock(T0), { retention: '1d', pruneInterval: '1h' });
    s.writeReading(smokeReading('e-smoke', T0, { temperature: 1 }));
    s.writeReading(smokeReading('e-smoke', T0 + 3_600_000, { temperature: 2 }));
    s.writeReading(eventReading('cam', T0));
    s.writeAlertChange(alertChange('e-smoke', T0));
    const all = { ...base, to: T0 + 2 * 86_400_000 };
    expect(await s.query(all)).toHaveLength(2);
    clock.advance(25 * 3_600_000); // the hourly prune at T0+25h: older than 1 d is the first row only
    expect(await s.query(all)).toEqual([{ ts: T0 + 3_600_000, value: 2 }]);
    clock.advance(3_600_000);
    expect(await s.query(all)).toEqual([]);
  });

  it('keeps its data across a restart', async () => {
    const dataDir = tempDir('embedded-restart');
    const { s } = store(new ManualClock(T0), {}, dataDir);
    s.writeReading(smokeReading('e-smoke', T0, { temperature: 7 }));
    await s.close();
    open.splice(open.indexOf(s), 1);
    const { s: again } = store(new ManualClock(T0), {}, dataDir);
    expect(await again.query(base)).toEqual([{ ts: T0, value: 7 }]);
  });
});
