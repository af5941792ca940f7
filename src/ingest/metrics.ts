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
  | 'username';

export interface IngestMetrics {
  connections: Gauge<'transport'>;
  /** Hot path: one pre-resolved child per (type, channel), so counting does not build label keys. */
  accepted(type: DeviceTypeId, channel: DeviceChannel): Counter.Internal;
  rejected: Counter<'code' | 'type'>;
  authFailures: Counter<'reason'>;
  subscribeDenied: Counter<'role'>;
  dropped: Counter<'reason' | 'qos'>;
  oversize: Counter<'transport'>;
  protocolErrors: Counter<'reason'>;
  sinkErrors: Counter;
  journalReplayed: Counter;
}

export function createIngestMetrics(registry: Registry, types: readonly DeviceTypeId[]): IngestMetrics {
  const registers = [registry];
  const acceptedCounter = new Counter({
    name: 'gridhub_ingest_accepted_total',
    help: 'Readings accepted from devices (each element of an array payload counts), by device type and channel',
    labelNames: ['type', 'channel'] as const,
    registers,
  });
  type Children = Record<DeviceChannel, Counter.Internal>;
  const children = new Map<string, Children>();
  const childrenOf = (type: string): Children => {
    let c = children.get(type);
    if (!c) {
      c = Object.fromEntries(DEVICE_CHANNELS.map((ch) => [ch, acceptedCounter.labels(type, ch)])) as Children;
      children.set(type, c);
    }
    return c;
  };
  for (const type of types) childrenOf(type);
  return {
    connections: new Gauge({
      name: 'gridhub_ingest_connections',
      help: 'Open MQTT connections (sockets, authenticated or not), by transport',
      labelNames: ['transport'] as const,
      registers,
    }),
    accepted: (type, channel) => childrenOf(type)[channel],
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
  };
}
