import { Counter, Gauge, type Registry } from 'prom-client';
import type { DeviceTypeId } from '../catalogue/types.ts';
import { DEVICE_CHANNELS, type DeviceChannel } from '../domain/wire.ts';

export type AuthFailureReason =
  | 'bad_credentials'
  | 'disabled'
  | 'role'
  | 'anonymous'
  | 'client_id'
  | 'will'
  | 'username'
  | 'throttled'
  | 'connections';

export interface AcceptedCell {
  n: number;
  reported: number;
}

export interface IngestMetrics {
  connections: Gauge<'transport'>;
  /** Hot path: the cell of (type, channel); count with `cell.n++`, exported at scrape time. */
  accepted(type: DeviceTypeId, channel: DeviceChannel): AcceptedCell;
  rejected: Counter<'code' | 'type'>;
  authFailures: Counter<'reason'>;
  subscribeDenied: Counter<'role'>;
  dropped: Counter<'reason' | 'qos'>;
  oversize: Counter<'transport'>;
  protocolErrors: Counter<'reason'>;
  sinkErrors: Counter;
  journalReplayed: Counter;
  journalRetried: Counter;
  journalTakenOver: Counter;
  duplicates: Counter<'reason'>;
  shed: Counter<'channel' | 'qos'>;
  telemetryQueued: Gauge;
}

export function createIngestMetrics(registry: Registry, types: readonly DeviceTypeId[]): IngestMetrics {
  const registers = [registry];
  type Cells = Record<DeviceChannel, AcceptedCell>;
  const cells = new Map<string, Cells>();
  const cellsOf = (type: string): Cells => {
    let c = cells.get(type);
    if (!c) {
      c = Object.fromEntries(DEVICE_CHANNELS.map((ch) => [ch, { n: 0, reported: 0 }])) as Cells;
      cells.set(type, c);
    }
    return c;
  };
  for (const type of types) cellsOf(type);
  new Counter({
    name: 'gridhub_ingest_accepted_total',
    help: 'Readings accepted from devices (each element of an array payload counts), by device type and channel',
    labelNames: ['type', 'channel'] as const,
    registers,
    // the hot path bumps plain numbers; prom-client's inc() hashes and validates labels on every call
    collect() {
      for (const [type, byChannel] of cells) {
        for (const channel of DEVICE_CHANNELS) {
          const cell = byChannel[channel];
          const delta = cell.n - cell.reported;
          cell.reported = cell.n;
          this.inc({ type, channel }, delta);
        }
      }
    },
  });
  return {
    connections: new Gauge({
      name: 'gridhub_ingest_connections',
      help: 'Open MQTT connections (sockets, authenticated or not), by transport',
      labelNames: ['transport'] as const,
      registers,
    }),
    accepted: (type, channel) => cellsOf(type)[channel],
    rejected: new Counter({
      name: 'gridhub_ingest_rejected_total',
      help: 'Payloads (array elements) and publishes refused, by error code and device type',
      labelNames: ['code', 'type'] as const,
      registers,
    }),
    authFailures: new Counter({
      name: 'gridhub_ingest_auth_failures_total',
      help: 'MQTT connections refused at CONNECT, by reason',
      labelNames: ['reason'] as const,
      registers,
    }),
    subscribeDenied: new Counter({
      name: 'gridhub_ingest_subscribe_denied_total',
      help: 'Subscriptions answered with the failure return code (0x80), by client role',
      labelNames: ['role'] as const,
      registers,
    }),
    dropped: new Counter({
      name: 'gridhub_ingest_dropped_total',
      help: 'Deliveries to subscribers dropped because their socket queue was over its cap',
      labelNames: ['reason', 'qos'] as const,
      registers,
    }),
    oversize: new Counter({
      name: 'gridhub_ingest_oversize_total',
      help: 'Connections closed for sending a frame larger than mqtt.maxPacketBytes',
      labelNames: ['transport'] as const,
      registers,
    }),
    protocolErrors: new Counter({
      name: 'gridhub_ingest_protocol_errors_total',
      help: 'Connections closed by the broker for protocol reasons (connect timeout, keepalive, too deep topic, …)',
      labelNames: ['reason'] as const,
      registers,
    }),
    sinkErrors: new Counter({
      name: 'gridhub_ingest_sink_errors_total',
      help: 'Readings whose hand-off to the rules threw',
      registers,
    }),
    journalReplayed: new Counter({
      name: 'gridhub_ingest_journal_replayed_total',
      help: 'QoS 1 events re-fed from the journal after a restart',
      registers,
    }),
    journalRetried: new Counter({
      name: 'gridhub_ingest_journal_retried_total',
      help: 'QoS 1 events re-fed from the journal while running, after recording them had failed',
      registers,
    }),
    journalTakenOver: new Counter({
      name: 'gridhub_ingest_journal_taken_over_total',
      help: 'QoS 1 events this instance was to re-feed that another took over while its lease had run out (shared store)',
      registers,
    }),
    duplicates: new Counter({
      name: 'gridhub_ingest_duplicates_total',
      help: 'Redelivered events recognised and acknowledged without being taken again, by how they were recognised (dup_flag, reconnect, qos2_unreleased, event_id)',
      labelNames: ['reason'] as const,
      registers,
    }),
    shed: new Counter({
      name: 'gridhub_ingest_shed_total',
      help: 'Readings not taken because ingest was over its queue bound (only QoS 0 telemetry is ever shed)',
      labelNames: ['channel', 'qos'] as const,
      registers,
    }),
    telemetryQueued: new Gauge({
      name: 'gridhub_ingest_telemetry_queued',
      help: 'Telemetry readings waiting to be handed to the rules (events overtake them)',
      registers,
    }),
  };
}
