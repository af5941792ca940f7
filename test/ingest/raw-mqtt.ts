import net from 'node:net';
import mqttPacket, { type Packet } from 'mqtt-packet';

/**
 * A device speaking MQTT 3.1.1 packet by packet over a plain socket (packets built and parsed by mqtt-packet,
 * which aedes itself uses): it can resend with or without DUP, reuse packet ids, withhold PUBREL, and drop the
 * connection without DISCONNECT — what a device on a bad network does and mqtt.js does not let a test choose.
 */
export interface RawClient {
  socket: net.Socket;
  /** Every packet the hub sent, in order. */
  received: Packet[];
  send(packet: Packet): void;
  /** Several packets in one socket write, so the hub reads them together. */
  sendAll(packets: Packet[]): void;
  publish(opts: { topic: string; payload: string; qos: 0 | 1 | 2; messageId?: number; dup?: boolean }): void;
  /** Resolves with the first packet (from now on, or already received after `from`) matching. */
  next(match: (p: Packet) => boolean, from?: number, timeoutMs?: number): Promise<Packet>;
  /** DISCONNECT, then close: a clean end. */
  disconnect(): Promise<void>;
  /** Close the socket without DISCONNECT: a dropped connection. */
  drop(): Promise<void>;
}

export function publishPacket(opts: {
  topic: string;
  payload: string;
  qos: 0 | 1 | 2;
  messageId?: number;
  dup?: boolean;
}): Packet {
  return {
    cmd: 'publish',
    topic: opts.topic,
    payload: Buffer.from(opts.payload),
    qos: opts.qos,
    dup: opts.dup ?? false,
    retain: false,
    ...(opts.qos > 0 ? { messageId: opts.messageId ?? 1 } : {}),
  } as Packet;
}

export async function connectRaw(
  port: number,
  creds: { username: string; password: string; clientId?: string; clean?: boolean },
): Promise<RawClient> {
  const socket = net.connect({ host: '127.0.0.1', port });
  socket.setNoDelay(true);
  const parser = mqttPacket.parser({ protocolVersion: 4 });
  const received: Packet[] = [];
  const waiters: { match: (p: Packet) => boolean; resolve: (p: Packet) => void }[] = [];
  parser.on('packet', (p: Packet) => {
    received.push(p);
    for (let i = waiters.length - 1; i >= 0; i--) {
      const w = waiters[i];
      if (w?.match(p)) {
        waiters.splice(i, 1);
        w.resolve(p);
      }
    }
  });
  socket.on('data', (chunk) => parser.parse(chunk));
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('error', reject);
  });
  const gen = (p: Packet) => mqttPacket.generate(p, { protocolVersion: 4 });
  const client: RawClient = {
    socket,
    received,
    send: (p) => void socket.write(gen(p)),
    sendAll: (ps) => void socket.write(Buffer.concat(ps.map(gen))),
    publish: (opts) => client.send(publishPacket(opts)),
    next(match, from = received.length, timeoutMs = 5_000) {
      const already = received.slice(from).find(match);
      if (already) return Promise.resolve(already);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no matching packet from the hub')), timeoutMs);
        waiters.push({
          match,
          resolve: (p) => {
            clearTimeout(timer);
            resolve(p);
          },
        });
      });
    },
    async disconnect() {
      socket.end(gen({ cmd: 'disconnect' }));
      await closed;
    },
    async drop() {
      socket.destroy();
      await closed;
    },
  };
  client.send({
    cmd: 'connect',
    protocolId: 'MQTT',
    protocolVersion: 4,
    clean: creds.clean ?? true,
    clientId: creds.clientId ?? creds.username,
    keepalive: 60,
    username: creds.username,
    password: Buffer.from(creds.password),
  });
  const connack = (await client.next((p) => p.cmd === 'connack', 0)) as Packet & { returnCode?: number };
  if (connack.returnCode !== 0) throw new Error(`CONNACK ${connack.returnCode}`);
  return client;
}

/** The acknowledgement of a QoS 1 (PUBACK) or QoS 2 (PUBREC) publish with this id, after `from`. */
export const ackOf =
  (cmd: 'puback' | 'pubrec' | 'pubcomp', messageId: number) =>
  (p: Packet): boolean =>
    p.cmd === cmd && (p as { messageId?: number }).messageId === messageId;
