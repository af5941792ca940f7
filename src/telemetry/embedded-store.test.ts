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
import { createCatalogue } from '../catalogue/catalogue.ts';
import { CATALOGUE_ENTRIES } from '../catalogue/entries.ts';
import { ManualClock } from '../clock/clock.ts';
import { GridHubError } from '../domain/errors.ts';
import { migrate, openDatabase } from '../storage/sqlite.ts';
import { influxConfigSchema } from './config.ts';
import { createEmbeddedStore, type EmbeddedStore, TELEMETRY_MIGRATIONS } from './embedded-store.ts';
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

  it('writes what a burst left once it pauses for 50 ms, but keeps a trickle for the flush interval', async () => {
    const dataDir = tempDir('embedded-quiet');
    const { s, clock } = store(new ManualClock(T0), { embeddedBatchSize: 10_000 }, dataDir);
    const { s: reader } = store(clock, {}, dataDir);
    const all = { ...base, to: T0 + 10_000 };
    // A burst of 150 readings 1 ms apart (the last at T0+149): the checks 50 ms apart from the 100th (T0+149,
    // T0+199) still see readings come in; the one at T0+249 sees none and writes them.
    for (let i = 0; i < 150; i++) {
      s.writeReading(smokeReading('e-smoke', T0 + i, { temperature: i % 50 }));
      clock.advance(1);
    }
    clock.advance(98);
    expect(await reader.query(all)).toEqual([]);
    clock.advance(1);
    expect(await reader.query(all)).toHaveLength(150);
    // A trickle under the minimum waits for the interval, as before.
    for (let i = 0; i < 99; i++) s.writeReading(smokeReading('e-smoke', T0 + 2_000 + i, { temperature: 1 }));
    clock.advance(500);
    expect(await reader.query(all)).toHaveLength(150);
    clock.advance(500);
    expect(await reader.query(all)).toHaveLength(249);
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

  it('keeps every hub-stamped reading of a burst in one millisecond, in order, as its own point', async () => {
    const { s } = store(new ManualClock(T0), { embeddedBatchSize: 7 });
    // Arrival order within one receive millisecond: an array payload without ts, then a burst.
    for (let i = 0; i < 40; i++) s.writeReading(smokeReading('e-smoke', T0, { temperature: i }));
    const points = await s.query(base);
    expect(points.map((p) => p.value)).toEqual(Array.from({ length: 40 }, (_, i) => i));
    expect(points.every((p) => p.ts === T0)).toBe(true);
    expect(await s.query({ ...base, fn: 'count' })).toEqual([{ ts: T0, value: 40 }]);
    expect(await s.query({ ...base, fn: 'last' })).toEqual([{ ts: T0, value: 39 }]);
  });

  it('stores a repeated device ts once, the later reading winning, also across batches, and counts it', async () => {
    const reg = metrics();
    const s = createEmbeddedStore({
      telemetry: telemetryConfig({ embeddedBatchSize: 2 }),
      dataDir: tempDir('embedded-dup'),
      catalogue,
      log,
      metrics: reg,
      clock: new ManualClock(T0),
    });
    open.push(s);
    const dev = (v: number) => ({
      ...smokeReading('e-smoke', T0 + 1000, { temperature: v }),
      deviceTs: true as const,
    });
    s.writeReading(dev(1));
    s.writeReading(dev(2)); // same batch
    s.writeReading(smokeReading('e-smoke', T0 + 1000, { temperature: 99 })); // hub stamp: its own point
    s.writeReading(dev(3)); // a later batch, another chunk
    expect(await s.query(base)).toEqual([
      { ts: T0 + 1000, value: 3 },
      { ts: T0 + 1000, value: 99 },
    ]);
    expect(await s.query({ ...base, fn: 'count' })).toEqual([{ ts: T0, value: 2 }]);
    // Like InfluxDB, a point written twice is merged: fields the later reading lacks keep the earlier value.
    s.writeReading({
      ...smokeReading('e-smoke', T0 + 2000, { temperature: 5, battery: 50 }),
      deviceTs: true,
    });
    await s.flush();
    s.writeReading({ ...smokeReading('e-smoke', T0 + 2000, { temperature: 6 }), deviceTs: true });
    expect(await s.query({ ...base, from: T0 + 2000, to: T0 + 2000 })).toEqual([{ ts: T0 + 2000, value: 6 }]);
    expect(await s.query({ ...base, field: 'battery', from: T0 + 2000, to: T0 + 2000 })).toEqual([
      { ts: T0 + 2000, value: 50 },
    ]);
    const text = await reg.metrics();
    expect(text).toContain('gridhub_telemetry_replaced_points_total{store="embedded"} 3');
    expect(text).toContain('gridhub_telemetry_readings_total{store="embedded"} 6');
  });

  it('merges every 16 chunks of a level into one and answers the same afterwards', async () => {
    const { s } = store(new ManualClock(T0), { embeddedBatchSize: 10 });
    // One batch at a time, each flushed (and merged) before the next: a merge on the merger's thread takes every
    // chunk of a full level it finds, so batches written while one runs would make fewer, larger merges, as many
    // as the machine's speed decides (a loaded CI run was left with 11 chunks).
    for (let i = 0; i < 16 * 16 * 10; i++) {
      s.writeReading(
        smokeReading(i % 2 ? 'e-smoke' : 'other', T0 + Math.floor(i / 2), { temperature: i % 50 }),
      );
      if (i % 10 === 9) await s.flush();
    }
    // 256 batches → 16 level-1 chunks → one level-2 chunk.
    expect(s.chunkCount()).toBe(1);
    const all = { ...base, to: T0 + 10_000 };
    const points = await s.query(all);
    expect(points).toHaveLength(1280);
    expect(points.slice(0, 3)).toEqual([
      { ts: T0, value: 1 },
      { ts: T0 + 1, value: 3 },
      { ts: T0 + 2, value: 5 },
    ]);
    // One more batch is its own chunk; of two readings with one device ts, the later is kept.
    s.writeReading({ ...smokeReading('e-smoke', T0 + 5, { temperature: 42 }), deviceTs: true });
    s.writeReading({ ...smokeReading('e-smoke', T0 + 5, { temperature: 43 }), deviceTs: true });
    await s.flush();
    expect(s.chunkCount()).toBe(2);
    expect((await s.query({ ...all, to: T0 + 5, from: T0 + 5 })).map((p) => p.value)).toEqual([43, 11]);
  });

  it('holds what its flush timer would write while a merge runs, and writes it when the merge is done', async () => {
    const clock = new ManualClock(T0);
    const { s } = store(clock, { embeddedBatchSize: 10 });
    // 16 batches: the 16th fills level 0 and starts a merge on the merger's thread
    for (let i = 0; i < 160; i++) s.writeReading(smokeReading('e-smoke', T0 + i, { temperature: 1 }));
    s.writeReading(smokeReading('e-smoke', T0 + 500, { temperature: 2 }));
    // the timer's flush comes while the merge (most likely) still runs; either way the reading gets written
    clock.advance(1_000);
    const deadline = Date.now() + 5_000;
    while (s.chunkCount() !== 2) {
      if (Date.now() > deadline)
        throw new Error(`chunks: ${s.chunkCount()}, not the merged one and the held one`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect(await s.query({ ...base, fn: 'count' })).toEqual([{ ts: T0, value: 161 }]);
  });

  it('moves large chunks up a level without rewriting them (embeddedMergeMaxRows)', async () => {
    const { s } = store(new ManualClock(T0), { embeddedBatchSize: 10, embeddedMergeMaxRows: 100 });
    for (let i = 0; i < 16 * 10; i++) s.writeReading(smokeReading('e-smoke', T0 + i, { temperature: 1 }));
    await s.flush();
    expect(s.chunkCount()).toBe(16);
    expect(await s.query({ ...base, fn: 'count' })).toEqual([{ ts: T0, value: 160 }]);
  });

  it('migrates the v1 schema (one row per field) to one point per reading', async () => {
    const dataDir = tempDir('embedded-v1');
    const db = openDatabase(join(dataDir, 'telemetry.db'));
    // The store as the release before v2 left it.
    migrate(db, 'telemetry', TELEMETRY_MIGRATIONS.slice(0, 1));
    const ins = db.prepare('INSERT INTO samples VALUES (?, ?, ?, ?)');
    ins.run('e-smoke', 'temperature', T0, 20.5);
    ins.run('e-smoke', 'alarm', T0, 1);
    ins.run('e-smoke', 'temperature', T0 + 60_000, 21.5);
    db.close();
    const { s } = store(new ManualClock(T0), {}, dataDir);
    expect(await s.query(base)).toEqual([
      { ts: T0, value: 20.5 },
      { ts: T0 + 60_000, value: 21.5 },
    ]);
    expect(await s.query({ ...base, field: 'alarm' })).toEqual([{ ts: T0, value: true }]);
    s.writeReading(smokeReading('e-smoke', T0 + 61_000, { temperature: 22 }));
    expect(await s.query({ ...base, fn: 'count' })).toEqual([{ ts: T0, value: 3 }]);
  });

  it('reads back every value as written: numbers of every shape, booleans, strings with quotes', async () => {
    // A catalogue whose smoke alarms also report a free-text field, to cover strings.
    const withNote = createCatalogue(
      CATALOGUE_ENTRIES.map((e) =>
        e.id === 'smoke'
          ? {
              ...e,
              telemetry: { ...e.telemetry, note: { kind: 'string', maxLength: 64, description: 'note' } },
            }
          : e,
      ),
    );
    const s = createEmbeddedStore({
      telemetry: telemetryConfig(),
      dataDir: tempDir('embedded-values'),
      catalogue: withNote,
      log,
      metrics: metrics(),
      clock: new ManualClock(T0),
    });
    open.push(s);
    const temps = [1e21, -0, 0.1 + 0.2, -40.25, 5e-7, 123456789012345];
    temps.forEach((t, i) => {
      s.writeReading(smokeReading('e-smoke', T0 + i, { temperature: t, alarm: i % 2 === 0 }));
    });
    const notes = ['say "hi"', 'back\\slash', '烟雾 ✓', 'line\nbreak', '\u0001'];
    notes.forEach((note, i) => {
      s.writeReading(smokeReading('e-smoke', T0 + 100 + i, { note } as never));
    });
    expect((await s.query(base)).map((p) => p.value)).toEqual(temps.map((t) => (Object.is(t, -0) ? 0 : t)));
    expect((await s.query({ ...base, field: 'alarm', to: T0 + 5 })).map((p) => p.value)).toEqual(
      temps.map((_, i) => i % 2 === 0),
    );
    expect((await s.query({ ...base, field: 'note' })).map((p) => p.value)).toEqual(notes);
  });

  it('migrates the v2 schema (one row per reading) to one row per device and chunk', async () => {
    const dataDir = tempDir('embedded-v2');
    const db = openDatabase(join(dataDir, 'telemetry.db'));
    // The store as the release before v3 left it: v1, then v2.
    migrate(db, 'telemetry', TELEMETRY_MIGRATIONS.slice(0, 2));
    const point = db.prepare('INSERT INTO points VALUES (?, ?, ?, ?, ?)');
    // Chunk 16 holds two hub-stamped points of e-smoke (one millisecond) and a device-timed one; chunk 32 a
    // newer value for that device time, without `alarm`; `other` is another device of chunk 16.
    point.run(16, 'e-smoke', T0 + 5, 2, '{"temperature":21,"alarm":false}');
    point.run(16, 'e-smoke', T0 + 5, 1, '{"temperature":20,"alarm":false}');
    point.run(16, 'e-smoke', T0 + 9, 0, '{"temperature":30,"alarm":true}');
    point.run(16, 'other', T0, 1, '{"temperature":99}');
    point.run(32, 'e-smoke', T0 + 9, 0, '{"temperature":31}');
    const chunk = db.prepare('INSERT INTO chunks VALUES (?, 0, ?, ?, ?)');
    chunk.run(16, T0, T0 + 9, 4);
    chunk.run(32, T0 + 9, T0 + 9, 1);
    db.close();
    const { s } = store(new ManualClock(T0), {}, dataDir);
    expect(await s.query(base)).toEqual([
      { ts: T0 + 5, value: 20 },
      { ts: T0 + 5, value: 21 },
      { ts: T0 + 9, value: 31 },
    ]);
    // The newer entry lacks `alarm`: the older one's stays, as in a point written twice.
    expect(await s.query({ ...base, field: 'alarm' })).toEqual([
      { ts: T0 + 5, value: false },
      { ts: T0 + 5, value: false },
      { ts: T0 + 9, value: true },
    ]);
    expect(await s.query({ ...base, deviceId: 'other', fn: 'count' })).toEqual([{ ts: T0, value: 1 }]);
    expect(s.chunkCount()).toBe(2);
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
