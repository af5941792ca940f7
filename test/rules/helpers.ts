import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { createCatalogue } from '../../src/catalogue/catalogue.ts';
import type { DeviceTypeId } from '../../src/catalogue/types.ts';
import { ManualClock } from '../../src/clock/clock.ts';
import type { PlacePath } from '../../src/domain/places.ts';
import type { TelemetrySink } from '../../src/domain/ports.ts';
import type { FieldValue, Reading } from '../../src/domain/reading.ts';
import type { RuleResult } from '../../src/domain/rule-result.ts';
import { createFlow } from '../../src/flow.ts';
import { createRuleEngine, type RuleEngine } from '../../src/rules/engine.ts';
import { type Db, openDatabase } from '../../src/storage/sqlite.ts';

export const START = Date.UTC(2026, 0, 5, 8, 0, 0);
export const SEC = 1000;
export const MIN = 60_000;
export const HOUR = 3_600_000;

export const silentLog = pino({ level: 'silent' });
export const catalogue = createCatalogue();

export const PLACE: PlacePath = { street: 's1', community: 'c1', grid: 'g1', estate: 'e1', building: 'b1' };

export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'gridhub-rules-'));
}

interface ReadingOpts {
  placeId?: string;
  place?: PlacePath;
  floor?: number | null;
  ts?: number;
}

function base(deviceId: string, deviceType: DeviceTypeId, o: ReadingOpts) {
  const ts = o.ts ?? 0;
  return {
    deviceId,
    deviceType,
    placeId: o.placeId ?? 'b1',
    place: o.place ?? PLACE,
    floor: o.floor === undefined ? 3 : o.floor,
    ts,
    receivedAt: ts,
    qos: 1 as const,
  };
}

export function telemetry(
  deviceId: string,
  deviceType: DeviceTypeId,
  values: Record<string, FieldValue>,
  o: ReadingOpts = {},
): Reading {
  return { ...base(deviceId, deviceType, o), kind: 'telemetry', values };
}

export function event(
  deviceId: string,
  deviceType: DeviceTypeId,
  name: string,
  data: Record<string, FieldValue> = {},
  o: ReadingOpts = {},
): Reading {
  return { ...base(deviceId, deviceType, o), kind: 'event', event: name, data };
}

export function status(
  deviceId: string,
  deviceType: DeviceTypeId,
  s: 'online' | 'offline',
  source: 'device' | 'will' | 'keepalive',
): Reading {
  return { ...base(deviceId, deviceType, {}), kind: 'status', status: s, source };
}

export interface Harness {
  engine: RuleEngine;
  clock: ManualClock;
  db: Db;
  dir: string;
  rulesDir: string;
  dbFile: string;
  metrics: Registry;
  results: RuleResult[];
  written: Reading[];
  /** Results so far, emptied. */
  take(): RuleResult[];
  /** Send a reading at the clock's current time. */
  send(reading: Reading): RuleResult[];
}

export function createHarness(
  options: { dir?: string; clock?: ManualClock; packDir?: string | null; watch?: boolean } = {},
): Harness {
  const dir = options.dir ?? tempDir();
  const rulesDir = join(dir, 'rules');
  const dbFile = join(dir, 'state.db');
  const db = openDatabase(dbFile);
  const clock = options.clock ?? new ManualClock(START);
  const results: RuleResult[] = [];
  const written: Reading[] = [];
  const sink: TelemetrySink = {
    writeReading: (r) => written.push(r),
    writeAlertChange: () => {},
    flush: async () => {},
    close: async () => {},
  };
  const metrics = new Registry();
  const engine = createRuleEngine({
    catalogue,
    clock,
    db,
    log: silentLog,
    metrics,
    rulesDir,
    onTimerResults: (rs) => record(rs),
    ...(options.packDir !== undefined ? { packDir: options.packDir } : {}),
    watch: options.watch ?? false,
    watchDebounceMs: 50,
  });
  const record = (rs: readonly RuleResult[]) => void results.push(...rs);
  const flow = createFlow({ rules: engine, record, store: (point) => sink.writeReading(point) });
  const take = () => results.splice(0, results.length);
  return {
    engine,
    clock,
    db,
    dir,
    rulesDir,
    dbFile,
    metrics,
    results,
    written,
    take,
    send(reading) {
      const r = { ...reading, ts: clock.now(), receivedAt: clock.now() } as Reading;
      const before = results.length;
      void flow(r);
      return results.slice(before);
    },
  };
}
