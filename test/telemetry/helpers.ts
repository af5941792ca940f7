import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { createCatalogue } from '../../src/catalogue/catalogue.ts';
import type { AlertChangePoint } from '../../src/domain/ports.ts';
import type { EventReading, StatusReading, TelemetryReading } from '../../src/domain/reading.ts';
import { createMetricsRegistry } from '../../src/observability/metrics.ts';
import { type InfluxConfig, influxConfigSchema, telemetryConfigSchema } from '../../src/telemetry/config.ts';

export const catalogue = createCatalogue();
export const log = pino({ level: process.env.GRIDHUB_TEST_LOG ?? 'silent' });
export const metrics = () => createMetricsRegistry({ defaultMetrics: false });
export const tempDir = (name: string) => mkdtempSync(join(tmpdir(), `gridhub-${name}-`));

export const PLACE = { street: 's1', community: 'c1', grid: 'g1', estate: 'e1', building: 'b1', unit: 'u1' };

export function smokeReading(
  deviceId: string,
  ts: number,
  values: TelemetryReading['values'] = { temperature: 21.5, smoke: 0.01, alarm: false, battery: 90 },
): TelemetryReading {
  return {
    kind: 'telemetry',
    deviceId,
    deviceType: 'smoke',
    placeId: 'u1',
    place: PLACE,
    floor: 3,
    ts,
    receivedAt: ts,
    qos: 0,
    values,
  };
}

export function eventReading(deviceId: string, ts: number): EventReading {
  return {
    kind: 'event',
    deviceId,
    deviceType: 'throw_camera',
    placeId: 'b1',
    place: { street: 's1', community: 'c1', grid: 'g1', estate: 'e1', building: 'b1' },
    floor: null,
    ts,
    receivedAt: ts,
    qos: 1,
    event: 'throw_detected',
    data: { confidence: 0.93, floor: 12, facade: 'south "A"', clipId: 'clip-1' },
  };
}

export function statusReading(deviceId: string, ts: number): StatusReading {
  return {
    kind: 'status',
    deviceId,
    deviceType: 'bin',
    placeId: 'e1',
    place: { street: 's1', community: 'c1', grid: 'g1', estate: 'e1' },
    floor: null,
    ts,
    receivedAt: ts,
    qos: 1,
    status: 'offline',
    source: 'will',
  };
}

export function alertChange(deviceId: string, at: number): AlertChangePoint {
  return {
    alertId: 'a-42',
    ruleId: 'smoke-alarm',
    deviceId,
    deviceType: 'smoke',
    place: PLACE,
    severity: 'critical',
    category: 'fire',
    change: 'acknowledged',
    status: 'acknowledged',
    at,
    ageSeconds: 42.5,
  };
}

export function influxConfig(over: Partial<InfluxConfig>): InfluxConfig {
  return influxConfigSchema.parse({
    flushInterval: 50,
    batchSize: 500,
    retryMinDelay: 50,
    retryMaxDelay: 300,
    retryJitter: 20,
    timeout: 3_000,
    ...over,
  });
}

export const telemetryConfig = (over: Record<string, unknown> = {}) => telemetryConfigSchema.parse(over);
