import { createServer, request as httpRequest, type Server } from 'node:http';
import { type AddressInfo, connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { type AlertStream, createAlertStream } from '../../src/channels/stream.ts';
import { type AlertStreamMessage, createEventBus } from '../../src/domain/events.ts';
import { createMetricsRegistry, type MetricsRegistry } from '../../src/observability/metrics.ts';
import { silentLog } from '../alerts/fixtures.ts';

let server: Server | undefined;
const sockets: Socket[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  server?.closeAllConnections();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

const MAX_BUFFERED = 64 * 1024;

async function serveStream(): Promise<{ stream: AlertStream; metrics: MetricsRegistry; port: number }> {
  const metrics = createMetricsRegistry({ defaultMetrics: false });
  const stream = createAlertStream({ maxBufferedBytes: MAX_BUFFERED, metrics, log: silentLog });
  server = createServer((req, res) =>
    stream.serve(req, res, { visible: () => true, keepAliveMs: 60_000, now: () => 0 }),
  );
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
  return { stream, metrics, port: (server.address() as AddressInfo).port };
}

function message(i: number, size: number): AlertStreamMessage {
  return {
    type: 'opened',
    alertId: `a-${i}`,
    at: i,
    place: { street: 's1', community: 'c1', grid: 'g1' },
    departments: [],
    // 烟 is three bytes in UTF-8: the buffer is counted in bytes, not characters
    alert: { id: `a-${i}`, detail: '烟'.repeat(size / 3) },
  };
}

describe('the live stream', () => {
  it('cuts off a dashboard that stops reading, counts it, and keeps every message flowing to the others', async () => {
    const { stream, metrics, port } = await serveStream();
    const bus = createEventBus(silentLog);
    bus.on('alert.streamed', stream.publish);

    // A dashboard that keeps up.
    const seen: string[] = [];
    await new Promise<void>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port, path: '/' }, (res) => {
        let buf = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buf += chunk;
          for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
            const id = /^id: (\S+)/m.exec(buf.slice(0, i))?.[1];
            if (id) seen.push(id);
            buf = buf.slice(i + 2);
          }
        });
        resolve();
      });
      req.on('error', reject);
      req.end();
    });
    // A dashboard on a dead network: it asked for the stream and reads nothing more.
    const slow = connect(port, '127.0.0.1');
    sockets.push(slow);
    slow.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    slow.pause();
    while (stream.subscribers < 2) await new Promise((r) => setImmediate(r));

    // Publish until the slow one has been cut off (its socket buffers hold some megabytes first).
    let published = 0;
    while (stream.subscribers === 2 && published < 2000) {
      bus.emit('alert.streamed', message(published, 32 * 1024));
      published++;
      await new Promise((r) => setImmediate(r));
    }
    expect(stream.subscribers).toBe(1);
    // …and after it: the one that keeps up still gets everything, in order.
    for (let i = 0; i < 5; i++) bus.emit('alert.streamed', message(published++, 1024));
    const deadline = Date.now() + 10_000;
    while (seen.length < published && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    expect(seen).toEqual(Array.from({ length: published }, (_, i) => `a-${i}:${i}`));

    const text = await metrics.metrics();
    expect(text).toMatch(/gridhub_alerts_stream_cutoffs_total 1\b/);
    expect(text).toMatch(/gridhub_alerts_stream_connections 1\b/);
  }, 30_000);
});
