/**
 * A minimal MQTT 3.1.1 client for load generation only: pre-encoded PUBLISH packets written in batches, so
 * that the generator is not the bottleneck (mqtt.js spends more CPU per message than a bare aedes does
 * forwarding it). Scenarios and probes use mqtt.js; this speaks only CONNECT, PUBLISH (QoS 0/1), PUBACK,
 * SUBSCRIBE, PINGREQ and DISCONNECT.
 */
import { connect as netConnect, type Socket } from 'node:net';

function varint(n: number): Buffer {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return Buffer.from(out);
}

function str(s: string | Buffer): Buffer {
  const b = typeof s === 'string' ? Buffer.from(s, 'utf8') : s;
  const len = Buffer.alloc(2);
  len.writeUInt16BE(b.length);
  return Buffer.concat([len, b]);
}

function packet(first: number, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from([first]), varint(body.length), body]);
}

export function encodeConnect(o: {
  clientId: string;
  username?: string;
  password?: string;
  keepalive: number;
}) {
  let flags = 0x02;
  if (o.username !== undefined) flags |= 0x80;
  if (o.password !== undefined) flags |= 0x40;
  const head = Buffer.from([
    0x00,
    0x04,
    0x4d,
    0x51,
    0x54,
    0x54,
    0x04,
    flags,
    o.keepalive >> 8,
    o.keepalive & 0xff,
  ]);
  const parts = [head, str(o.clientId)];
  if (o.username !== undefined) parts.push(str(o.username));
  if (o.password !== undefined) parts.push(str(o.password));
  return packet(0x10, Buffer.concat(parts));
}

/** A PUBLISH packet; for QoS 1 the packet id sits at `idOffset` so a batch can patch it per copy. */
export function encodePublish(
  topic: string,
  payload: Buffer,
  qos: 0 | 1,
): { bytes: Buffer; idOffset: number } {
  const t = str(topic);
  const body = qos === 1 ? Buffer.concat([t, Buffer.from([0, 1]), payload]) : Buffer.concat([t, payload]);
  const bytes = packet(0x30 | (qos << 1), body);
  return { bytes, idOffset: bytes.length - body.length + t.length };
}

export interface RawClientOptions {
  host: string;
  port: number;
  clientId: string;
  username?: string;
  password?: string;
  keepalive?: number;
  timeoutMs?: number;
}

export class RawMqttClient {
  readonly socket: Socket;
  /** PUBLISH packets received (e.g. on the errors topic, or everything for a counting subscriber). */
  received = 0;
  acked = 0;
  inflight = 0;
  onPublish: ((topic: string, payload: Buffer) => void) | undefined;
  #buf: Buffer = Buffer.alloc(0);
  #nextId = 1;
  #waiters = new Map<number, (v: number) => void>();
  #connack: ((rc: number) => void) | undefined;
  #ping: NodeJS.Timeout | undefined;
  closed = false;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('close', () => {
      this.closed = true;
      if (this.#ping) clearInterval(this.#ping);
    });
    socket.on('error', () => undefined);
  }

  static connect(o: RawClientOptions): Promise<RawMqttClient> {
    return new Promise((resolve, reject) => {
      const socket = netConnect({ host: o.host, port: o.port });
      const client = new RawMqttClient(socket);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`${o.clientId}: no CONNACK`));
      }, o.timeoutMs ?? 30_000);
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      client.#connack = (rc) => {
        clearTimeout(timer);
        if (rc === 0) {
          const keepalive = o.keepalive ?? 120;
          client.#ping = setInterval(() => socket.write(Buffer.from([0xc0, 0x00])), (keepalive * 1000) / 2);
          client.#ping.unref();
          resolve(client);
        } else {
          socket.destroy();
          reject(new Error(`${o.clientId}: CONNACK return code ${rc}`));
        }
      };
      socket.once('connect', () => socket.write(encodeConnect({ ...o, keepalive: o.keepalive ?? 120 })));
    });
  }

  #onData(chunk: Buffer): void {
    const buf = this.#buf.length ? Buffer.concat([this.#buf, chunk]) : chunk;
    let off = 0;
    for (;;) {
      if (buf.length - off < 2) break;
      const first = buf[off] as number;
      let len = 0;
      let mult = 1;
      let i = off + 1;
      let complete = false;
      while (i < buf.length && i < off + 5) {
        const b = buf[i++] as number;
        len += (b & 0x7f) * mult;
        mult *= 128;
        if ((b & 0x80) === 0) {
          complete = true;
          break;
        }
      }
      if (!complete || buf.length - i < len) break;
      const body = buf.subarray(i, i + len);
      off = i + len;
      const type = first >> 4;
      if (type === 4) {
        this.acked++;
        this.inflight--;
        const w = this.#waiters.get(body.readUInt16BE(0));
        if (w) {
          this.#waiters.delete(body.readUInt16BE(0));
          w(0);
        }
      } else if (type === 3) {
        this.received++;
        const qos = (first >> 1) & 3;
        const tlen = body.readUInt16BE(0);
        if (qos > 0) {
          const id = body.readUInt16BE(2 + tlen);
          this.socket.write(Buffer.from([0x40, 0x02, id >> 8, id & 0xff]));
        }
        if (this.onPublish) {
          const topic = body.toString('utf8', 2, 2 + tlen);
          this.onPublish(topic, body.subarray(2 + tlen + (qos > 0 ? 2 : 0)));
        }
      } else if (type === 2) {
        this.#connack?.(body[1] as number);
      } else if (type === 9) {
        const w = this.#waiters.get(body.readUInt16BE(0));
        if (w) {
          this.#waiters.delete(body.readUInt16BE(0));
          w(body[2] as number);
        }
      }
    }
    this.#buf = off < buf.length ? Buffer.from(buf.subarray(off)) : Buffer.alloc(0);
  }

  #id(): number {
    const id = this.#nextId;
    this.#nextId = this.#nextId >= 65535 ? 1 : this.#nextId + 1;
    return id;
  }

  subscribe(topic: string, qos: 0 | 1): Promise<number> {
    const id = this.#id();
    const body = Buffer.concat([Buffer.from([id >> 8, id & 0xff]), str(topic), Buffer.from([qos])]);
    return new Promise((resolve) => {
      this.#waiters.set(id, resolve);
      this.socket.write(packet(0x82, body));
    });
  }

  /** Bytes queued in the socket and not yet written: the generator stops offering above a bound. */
  get backlog(): number {
    return this.socket.writableLength;
  }

  /** Write `count` copies of a pre-encoded PUBLISH as one buffer (QoS 1 copies get fresh packet ids). */
  publishBatch(p: { bytes: Buffer; idOffset: number }, qos: 0 | 1, count: number): void {
    if (count <= 0) return;
    const size = p.bytes.length;
    const out = Buffer.allocUnsafe(size * count);
    for (let k = 0; k < count; k++) {
      p.bytes.copy(out, k * size);
      if (qos === 1) out.writeUInt16BE(this.#id(), k * size + p.idOffset);
    }
    if (qos === 1) this.inflight += count;
    this.socket.write(out);
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.closed) return resolve();
      this.socket.end(Buffer.from([0xe0, 0x00]), () => resolve());
      setTimeout(resolve, 1_000).unref();
    });
  }

  destroy(): void {
    this.socket.destroy();
  }
}
