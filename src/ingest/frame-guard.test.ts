import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { FrameGuard, guardFrames } from './frame-guard.ts';

/** An MQTT frame with a `bodyLength`-byte body (fixed header + varint remaining length + body). */
function frame(bodyLength: number): Buffer {
  const len: number[] = [];
  let n = bodyLength;
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    len.push(b);
  } while (n > 0);
  return Buffer.concat([Buffer.from([0x30, ...len]), Buffer.alloc(bodyLength, 0x61)]);
}

describe('FrameGuard', () => {
  it('passes frames up to the limit, whole or split at any byte', () => {
    const stream = Buffer.concat([frame(0), frame(10), frame(200), frame(1000 - 3)]);
    expect(new FrameGuard(1000).check(stream)).toBe(true);
    for (let cut = 1; cut < stream.length; cut += 7) {
      const g = new FrameGuard(1000);
      expect(g.check(stream.subarray(0, cut)) && g.check(stream.subarray(cut))).toBe(true);
    }
    const g = new FrameGuard(1000);
    for (const byte of stream) expect(g.check(Buffer.from([byte]))).toBe(true);
  });

  it('refuses a frame one byte over the limit as soon as its length is known', () => {
    const f = frame(1000 - 2); // 1 + 2 + 998 = 1001 bytes
    expect(new FrameGuard(1000).check(f.subarray(0, 3))).toBe(false);
  });

  it('refuses an oversize frame after valid ones in the same chunk', () => {
    expect(new FrameGuard(100).check(Buffer.concat([frame(5), frame(5), frame(500)]))).toBe(false);
  });

  it('refuses a remaining length longer than four bytes (MQTT-2.2.3)', () => {
    expect(new FrameGuard(1 << 30).check(Buffer.from([0x30, 0x80, 0x80, 0x80, 0x80, 0x01]))).toBe(false);
  });

  it('refuses a header announcing 268 MB without its body', () => {
    expect(new FrameGuard(256 * 1024).check(Buffer.from([0x30, 0xff, 0xff, 0xff, 0x7f]))).toBe(false);
  });
});

describe('guardFrames', () => {
  it('keeps each connection its own state behind one shared read, and names the oversize connection', () => {
    const a = new PassThrough();
    const b = new PassThrough();
    const tripped: PassThrough[] = [];
    const onOversize = (conn: PassThrough) => tripped.push(conn);
    guardFrames(a, 100, onOversize);
    guardFrames(b, 100, onOversize);
    expect(a.read).toBe(b.read);
    // a's frame header arrives without its body: b's bytes must not be read as that body
    const split = frame(90);
    a.write(split.subarray(0, 2));
    expect(a.read()).not.toBeNull();
    b.write(frame(500));
    expect(b.read()).toBeNull();
    expect(tripped).toEqual([b]);
    expect(b.destroyed).toBe(true);
    a.write(Buffer.concat([split.subarray(2), frame(10)]));
    expect(a.read()).not.toBeNull();
    expect(a.destroyed).toBe(false);
    // once tripped, nothing more is handed on
    expect(b.read()).toBeNull();
  });
});
