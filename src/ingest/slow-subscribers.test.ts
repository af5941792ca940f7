import { connect, createServer, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { createSlowSubscriberGuard } from './slow-subscribers.ts';

let server: Server | undefined;
const sockets: Socket[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

/** A real TCP connection on loopback: the hub's side and the peer's side. */
async function pair(): Promise<{ hubSide: Socket; peer: Socket }> {
  const accepted = new Promise<Socket>((resolve) => {
    server = createServer(resolve);
  });
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
  const address = server?.address();
  if (!address || typeof address === 'string') throw new Error('no port');
  const peer = connect(address.port, '127.0.0.1');
  const hubSide = await accepted;
  // aedes listens for the error a cut-off socket is destroyed with; here the test does
  hubSide.on('error', () => undefined);
  sockets.push(peer, hubSide);
  return { hubSide, peer };
}

/** Write small frames until the kernel's buffers are full and a few bytes wait in the socket itself. */
async function fillUntilWaiting(socket: Socket): Promise<void> {
  const frame = Buffer.alloc(1024, 1);
  while (socket.writableLength === 0) {
    socket.write(frame);
    if (socket.writableLength === 0) await new Promise((r) => setImmediate(r));
  }
}

const STALL = 60_000; // the guard's own timer never fires within a test: the test drives `sweep` with its times

function guard() {
  const metrics = new Registry();
  const names = new Map<Duplex, string>();
  const g = createSlowSubscriberGuard({
    stallMs: STALL,
    metrics,
    log: pino({ level: 'silent' }),
    clientIdOf: (conn) => names.get(conn),
  });
  return {
    metrics,
    g,
    watch(conn: Duplex, name: string) {
      names.set(conn, name);
      g.watch(conn);
    },
  };
}

describe('slow subscribers', () => {
  it('cuts off a peer that stopped reading once bytes have waited the allowance with none taken, even below the high-water mark', async () => {
    const { hubSide, peer } = await pair();
    peer.pause();
    const { g, metrics, watch } = guard();
    watch(hubSide, 'phone-1');
    await fillUntilWaiting(hubSide);
    // below the stream's high-water mark: aedes would never wait for a drain here, so its timeout never runs
    expect(hubSide.writableLength).toBeLessThan(hubSide.writableHighWaterMark);

    g.sweep(1_000);
    g.sweep(1_000 + STALL - 1);
    expect(hubSide.destroyed).toBe(false);
    g.sweep(1_000 + STALL);
    expect(hubSide.destroyed).toBe(true);
    expect(await metrics.getSingleMetricAsString('gridhub_ingest_slow_subscribers_cut_total')).toMatch(
      / 1$/m,
    );
    g.close();
  });

  it('leaves a slow peer alone while it takes bytes, and an idle one whatever the time', async () => {
    const slow = await pair();
    const idle = await pair();
    slow.peer.pause();
    const { g, metrics, watch } = guard();
    watch(slow.hubSide, 'slow');
    watch(idle.hubSide, 'idle');
    await fillUntilWaiting(slow.hubSide);
    g.sweep(1_000);
    // it reads again, a little: what was waiting goes out
    slow.peer.resume();
    const end = Date.now() + 5_000;
    while (slow.hubSide.writableLength > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
    g.sweep(1_000 + STALL);
    g.sweep(1_000 + 10 * STALL);
    expect(slow.hubSide.destroyed).toBe(false);
    expect(idle.hubSide.destroyed).toBe(false);
    expect(await metrics.getSingleMetricAsString('gridhub_ingest_slow_subscribers_cut_total')).toMatch(
      / 0$/m,
    );
    g.close();
  });

  it('forgets a connection once unwatched (it closed), even one that had stalled', async () => {
    const { hubSide, peer } = await pair();
    peer.pause();
    const { g, metrics, watch } = guard();
    watch(hubSide, 'phone-2');
    await fillUntilWaiting(hubSide);
    g.sweep(1_000);
    g.unwatch(hubSide);
    g.sweep(1_000 + STALL);
    expect(hubSide.destroyed).toBe(false);
    expect(await metrics.getSingleMetricAsString('gridhub_ingest_slow_subscribers_cut_total')).toMatch(
      / 0$/m,
    );
    // watched again, its stall starts afresh rather than from before
    g.watch(hubSide);
    g.sweep(1_000 + STALL + 1);
    g.sweep(1_000 + 2 * STALL);
    expect(hubSide.destroyed).toBe(false);
    g.sweep(1_000 + 2 * STALL + 1);
    expect(hubSide.destroyed).toBe(true);
    g.close();
  });
});
