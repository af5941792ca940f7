import type { Duplex } from 'node:stream';

/**
 * Watches the MQTT fixed headers going past on one connection and says no as soon as a frame announces more
 * than `maxBytes`. It reads only the 2–5 header bytes of each frame and skips bodies, so the cost is per frame,
 * not per byte, and the oversize body is never buffered: mqtt-packet (inside aedes) would otherwise collect a
 * frame of up to 256 MB before parsing it.
 */
export class FrameGuard {
  readonly #max: number;
  /** 0: next byte is a fixed header; 1: inside the remaining-length varint; 2: skipping a body. */
  #state = 0;
  #length = 0;
  #multiplier = 1;
  #lengthBytes = 0;
  #remaining = 0;

  constructor(maxBytes: number) {
    this.#max = maxBytes;
  }

  /** Feed the next chunk; false when a frame is too large or its length field is malformed (MQTT-2.2.3). */
  check(buf: Uint8Array): boolean {
    const n = buf.length;
    let i = 0;
    while (i < n) {
      if (this.#state === 2) {
        const take = Math.min(this.#remaining, n - i);
        i += take;
        this.#remaining -= take;
        if (this.#remaining === 0) this.#state = 0;
        continue;
      }
      if (this.#state === 0) {
        i++;
        this.#state = 1;
        this.#length = 0;
        this.#multiplier = 1;
        this.#lengthBytes = 0;
        continue;
      }
      const b = buf[i++] as number;
      this.#length += (b & 0x7f) * this.#multiplier;
      this.#multiplier *= 128;
      this.#lengthBytes++;
      if (b & 0x80) {
        if (this.#lengthBytes >= 4) return false;
        continue;
      }
      if (1 + this.#lengthBytes + this.#length > this.#max) return false;
      this.#remaining = this.#length;
      this.#state = this.#remaining === 0 ? 0 : 2;
    }
    return true;
  }
}

const GUARD: unique symbol = Symbol('gridhub.mqtt.frameGuard');

/** A connection with its guard; `read` is replaced by `guardedRead`, the one function every connection shares. */
type Guarded<C extends Duplex> = C & { [GUARD]?: ConnGuard<C> };

/** One connection's guard and what `guardedRead` needs of it, kept on the connection itself. */
class ConnGuard<C extends Duplex> extends FrameGuard {
  /** The connection's own `read` from before the guard. */
  readonly read: Duplex['read'];
  readonly onOversize: (conn: C) => void;
  tripped = false;

  constructor(maxBytes: number, read: Duplex['read'], onOversize: (conn: C) => void) {
    super(maxBytes);
    this.read = read;
    this.onOversize = onOversize;
  }
}

/**
 * Shared by every guarded connection (it finds its state on `this`): a closure per connection was some 250
 * bytes of every idle connection (issue #19).
 */
function guardedRead(this: Guarded<Duplex>, size?: number): unknown {
  const g = this[GUARD] as ConnGuard<Duplex>;
  if (g.tripped) return null;
  const chunk: unknown = g.read.call(this, size);
  if (chunk !== null && chunk instanceof Uint8Array && !g.check(chunk)) {
    g.tripped = true;
    g.onOversize(this);
    this.destroy();
    return null;
  }
  return chunk;
}

/**
 * Put a FrameGuard in front of aedes on `conn`. aedes pulls from the connection with `conn.read()` on
 * 'readable' (paused mode, which is also how it applies backpressure), so wrapping that one method sees every
 * byte before aedes does, without an extra stream in the path. `onOversize` is called with the connection
 * (pass one function for all of them), before it is destroyed.
 */
export function guardFrames<C extends Duplex>(
  conn: C,
  maxBytes: number,
  onOversize: (conn: C) => void,
): void {
  const guarded = conn as Guarded<C>;
  guarded[GUARD] = new ConnGuard(maxBytes, conn.read, onOversize);
  conn.read = guardedRead;
}
