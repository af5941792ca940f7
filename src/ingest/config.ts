import { z } from 'zod';
import { bool, duration, int, port } from '../config/fields.ts';

/** `mqtt` section: env GRIDHUB_MQTT_<KEY>. */
export const mqttConfigSchema = z.object({
  port: port(1883),
  tlsPort: port(8883),
  /** PEM certificate and key; TLS listens only when both are set. */
  tlsCert: z.string().optional(),
  tlsKey: z.string().optional(),
  /** Path of MQTT over WebSocket on the HTTP port. */
  wsPath: z.string().startsWith('/').default('/mqtt'),
  /** Largest MQTT frame accepted, enforced at the socket (aedes has no limit of its own). */
  maxPacketBytes: int(256 * 1024, 64, 256 * 1024 * 1024),
  maxTopicDepth: int(8, 1, 64),
  allowAnonymous: bool(false),
  /** Sockets that send no CONNECT within this time are closed. */
  connectTimeoutMs: duration(10_000),
});

export type MqttConfig = z.output<typeof mqttConfigSchema>;
