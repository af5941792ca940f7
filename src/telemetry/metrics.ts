import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** Get-or-create, so that a store can be re-created on the same registry (restart in tests, reload). */
function metric<T>(registry: Registry, name: string, create: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? create();
}

export interface TelemetryMetrics {
  queuedLines: Gauge;
  spoolBytes: Gauge;
  writtenLines: Counter<'store'>;
  readings: Counter<'store'>;
  pointsWritten: Counter<'store'>;
  replacedPoints: Counter<'store'>;
  spooledLines: Counter;
  replayedLines: Counter;
  droppedLines: Counter<'reason'>;
  deadLetterLines: Counter;
  writeFailures: Counter<'status'>;
  writeDuration: Histogram;
  mergeDuration: Histogram;
}

export function createTelemetryMetrics(registry: Registry): TelemetryMetrics {
  const r = [registry];
  return {
    queuedLines: metric(
      registry,
      'gridhub_telemetry_queued_lines',
      () =>
        new Gauge({
          name: 'gridhub_telemetry_queued_lines',
          help: 'Lines held in memory waiting to be written (including the batch in flight)',
          registers: r,
        }),
    ),
    spoolBytes: metric(
      registry,
      'gridhub_telemetry_spool_bytes',
      () =>
        new Gauge({
          name: 'gridhub_telemetry_spool_bytes',
          help: 'Bytes in the on-disk spool waiting to be replayed to InfluxDB',
          registers: r,
        }),
    ),
    writtenLines: metric(
      registry,
      'gridhub_telemetry_written_lines_total',
      () =>
        new Counter({
          name: 'gridhub_telemetry_written_lines_total',
          help: 'Lines (points) accepted by the telemetry store',
          labelNames: ['store'] as const,
          registers: r,
        }),
    ),
    readings: metric(
      registry,
      'gridhub_telemetry_readings_total',
      () =>
        new Counter({
          name: 'gridhub_telemetry_readings_total',
          help: 'Readings handed to the telemetry store to keep (InfluxDB: every reading; embedded: telemetry readings)',
          labelNames: ['store'] as const,
          registers: r,
        }),
    ),
    pointsWritten: metric(
      registry,
      'gridhub_telemetry_points_written_total',
      () =>
        new Counter({
          name: 'gridhub_telemetry_points_written_total',
          help: 'Reading points the store confirmed written (alert changes not included): compare with gridhub_telemetry_readings_total',
          labelNames: ['store'] as const,
          registers: r,
        }),
    ),
    replacedPoints: metric(
      registry,
      'gridhub_telemetry_replaced_points_total',
      () =>
        new Counter({
          name: 'gridhub_telemetry_replaced_points_total',
          help: 'Readings whose device-given ts equals an earlier reading of the same series: stored as one point, the later wins',
          labelNames: ['store'] as const,
          registers: r,
        }),
    ),
    spooledLines: metric(
      registry,
      'gridhub_telemetry_spooled_lines_total',
      () =>
        new Counter({
          name: 'gridhub_telemetry_spooled_lines_total',
          help: 'Lines written to the on-disk spool because InfluxDB could not take them',
          registers: r,
        }),
    ),
    replayedLines: metric(
      registry,
      'gridhub_telemetry_replayed_lines_total',
      () =>
        new Counter({
          name: 'gridhub_telemetry_replayed_lines_total',
          help: 'Spooled lines replayed to InfluxDB',
          registers: r,
        }),
    ),
    droppedLines: metric(
      registry,
      'gridhub_telemetry_dropped_lines_total',
      () =>
        new Counter({
          name: 'gridhub_telemetry_dropped_lines_total',
          help: 'Lines dropped: spool_full (spool at its bound), dead_letter_full, torn (crash mid-write), unwritable (refused by the line-protocol encoder), closed, sqlite_error',
          labelNames: ['reason'] as const,
          registers: r,
        }),
    ),
    deadLetterLines: metric(
      registry,
      'gridhub_telemetry_dead_letter_lines_total',
      () =>
        new Counter({
          name: 'gridhub_telemetry_dead_letter_lines_total',
          help: 'Lines InfluxDB refused as malformed, written to dead-letter.jsonl',
          registers: r,
        }),
    ),
    writeFailures: metric(
      registry,
      'gridhub_telemetry_write_failures_total',
      () =>
        new Counter({
          name: 'gridhub_telemetry_write_failures_total',
          help: 'Failed write requests by HTTP status (or "network")',
          labelNames: ['status'] as const,
          registers: r,
        }),
    ),
    writeDuration: metric(
      registry,
      'gridhub_telemetry_write_duration_seconds',
      () =>
        new Histogram({
          name: 'gridhub_telemetry_write_duration_seconds',
          help: 'Latency of one write request (one batch) to the telemetry store',
          buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
          registers: r,
        }),
    ),
    mergeDuration: metric(
      registry,
      'gridhub_telemetry_merge_duration_seconds',
      () =>
        new Histogram({
          name: 'gridhub_telemetry_merge_duration_seconds',
          help: 'Time of one pass of the embedded store merging its full chunk levels (on its own thread)',
          buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
          registers: r,
        }),
    ),
  };
}
