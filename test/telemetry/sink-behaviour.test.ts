import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createSystemClock } from '../../src/clock/clock.ts';
import { createMetricsRegistry } from '../../src/observability/metrics.ts';
import type { InfluxConfig } from '../../src/telemetry/config.ts';
import { createInfluxStore, type InfluxStore } from '../../src/telemetry/influx-store.ts';
import { catalogue, influxConfig, log, smokeReading, telemetryConfig, tempDir } from './helpers.ts';

/**
 * Behaviour that a real InfluxDB cannot be made to show on demand (a 429, a 503 for exactly three requests, a
 * 401): an HTTP endpoint speaking the 1.x `/write` protocol whose answers the test scripts. It records every
 * line it accepted, in order, so ordering and exactly-once are checked line by line.
 */
interface ScriptedInflux {
  url: string;
  accepted: string[];
  requests: { path: string; gzip: boolean; lines: number; status: number }[];
  /** Decide the status of the next request from its lines; 204 accepts them. */
  answer: (lines: string[]) => number;
}

async function body(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

const T0 = Date.UTC(2026, 0, 5, 8, 0, 0);
/** The millisecond of a line's nanosecond timestamp. */
const tsOf = (line: string) => Number(line.slice(line.lastIndexOf(' ') + 1, -6));

describe('InfluxDB sink against scripted answers', () => {
  let server: Server;
  const fake: ScriptedInflux = { url: '', accepted: [], requests: [], answer: () => 204 };
  const open: InfluxStore[] = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      void body(req).then((raw) => {
        const gzip = req.headers['content-encoding'] === 'gzip';
        const lines = (gzip ? gunzipSync(raw) : raw).toString('utf8').split('\n').filter(Boolean);
        const status = fake.answer(lines);
        fake.requests.push({ path: req.url ?? '', gzip, lines: lines.length, status });
        if (status === 204) fake.accepted.push(...lines);
        res.statusCode = status;
        if (status !== 204) res.setHeader('content-type', 'application/json');
        res.end(status === 204 ? undefined : JSON.stringify({ error: `scripted ${status}` }));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const addr = server.address();
    fake.url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  });
  afterAll(async () => {
    await new Promise((r) => server.close(r));
  });
  afterEach(async () => {
    for (const s of open.splice(0)) await s.close();
    fake.accepted = [];
    fake.requests = [];
    fake.answer = () => 204;
  });

  function sink(over: Partial<InfluxConfig> = {}, dataDir = tempDir('scripted')) {
    const metrics = createMetricsRegistry({ defaultMetrics: false });
    const s = createInfluxStore({
      influx: influxConfig({ url: fake.url, api: 'v1', database: 'db1', retentionPolicy: 'rp1', ...over }),
      telemetry: telemetryConfig(),
      dataDir,
      catalogue,
      log,
      metrics,
      clock: createSystemClock(),
    });
    open.push(s);
    return { s, metrics, dataDir };
  }

  it('maps the v2 write path to /write with db, rp, ns precision and Basic auth; gzips large bodies', async () => {
    let auth = '';
    const prev = server.listeners('request')[0] as (req: IncomingMessage, res: unknown) => void;
    server.removeAllListeners('request');
    server.on('request', (req: IncomingMessage, res) => {
      auth = String(req.headers.authorization ?? '');
      prev(req, res);
    });
    try {
      const { s } = sink({ username: 'hub', password: 'pw', gzipThreshold: 1000 });
      for (let i = 0; i < 20; i++) s.writeReading(smokeReading('sm', T0 + i));
      await s.flush();
    } finally {
      server.removeAllListeners('request');
      server.on('request', prev);
    }
    expect(fake.requests[0]).toMatchObject({
      path: '/write?db=db1&rp=rp1&precision=n',
      gzip: true,
      lines: 20,
    });
    expect(auth).toBe(`Basic ${Buffer.from('hub:pw').toString('base64')}`);
  });

  it('sends full batches under load, and a partial one only after flushInterval', async () => {
    // A long flushInterval so that a slow, shared machine cannot make the loop itself outlast it.
    const { s } = sink({ batchSize: 200, flushInterval: 2_000 });
    const until = async (done: () => boolean, ms: number) => {
      for (const end = Date.now() + ms; !done() && Date.now() < end; )
        await new Promise((r) => setTimeout(r, 10));
    };
    const t0 = Date.now();
    for (let i = 0; i < 1000; i++) {
      s.writeReading(smokeReading('sm', T0 + i));
      if (i % 50 === 49) await new Promise((r) => setTimeout(r, 2));
    }
    s.writeReading(smokeReading('sm', T0 + 1000));
    await until(() => fake.requests.length >= 5, 1_500);
    expect(Date.now() - t0).toBeLessThan(2_000);
    expect(fake.requests.map((r) => r.lines)).toEqual([200, 200, 200, 200, 200]);
    await until(() => fake.requests.length >= 6, 4_000);
    expect(fake.requests.map((r) => r.lines)).toEqual([200, 200, 200, 200, 200, 1]);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1_990);
  });

  it.each([503, 429, 401] as const)(
    'on %s keeps every line, in order, and delivers each exactly once when it recovers',
    async (failure) => {
      let failing = false;
      fake.answer = () => (failing ? failure : 204);
      const { s, metrics } = sink({ batchSize: 50 });
      const N = 1200;
      for (let i = 0; i < N; i++) {
        if (i === 300) failing = true;
        if (i === 900) failing = false;
        s.writeReading(smokeReading('sm', T0 + i, { temperature: i }));
        if (i % 50 === 49) await new Promise((r) => setTimeout(r, 5));
      }
      expect(await s.drained(15_000)).toBe(true);
      expect(fake.accepted.map(tsOf)).toEqual(Array.from({ length: N }, (_, i) => T0 + i));
      expect(fake.requests.some((r) => r.status === failure)).toBe(true);
      expect(s.status().replayed).toBeGreaterThan(0);
      const failures = await metrics.getSingleMetricAsString('gridhub_telemetry_write_failures_total');
      expect(failures).toContain(`status="${failure}"`);
    },
  );

  it('isolates a refused line into the dead letter by halving the batch; the others arrive once each', async () => {
    fake.answer = (lines) => (lines.some((l) => l.includes('temperature=13,')) ? 400 : 204);
    const { s, dataDir } = sink({ batchSize: 64 });
    for (let i = 0; i < 64; i++) s.writeReading(smokeReading('sm', T0 + i, { temperature: i, battery: 50 }));
    await s.flush();
    expect(fake.accepted.map(tsOf)).toEqual(
      Array.from({ length: 64 }, (_, i) => T0 + i).filter((t) => t !== T0 + 13),
    );
    const dl = readFileSync(join(dataDir, 'spool', 'dead-letter.jsonl'), 'utf8')
      .trim()
      .split('\n');
    expect(dl).toHaveLength(1);
    expect(JSON.parse(dl[0] as string)).toMatchObject({ status: 400, reason: 'scripted 400' });
    expect(s.status()).toMatchObject({ deadLettered: 1, spoolBytes: 0, written: 63 });
  });

  it('spills to the spool past maxQueuedLines instead of growing memory, and drops at the spool bound with a count', async () => {
    fake.answer = () => 503;
    const metrics = createMetricsRegistry({ defaultMetrics: false });
    const dataDir = tempDir('bound');
    const s = createInfluxStore({
      influx: influxConfig({ url: fake.url, api: 'v1', batchSize: 100, maxQueuedLines: 1000 }),
      telemetry: telemetryConfig({ spoolMaxBytes: 50_000 }),
      dataDir,
      catalogue,
      log,
      metrics,
      clock: createSystemClock(),
    });
    open.push(s);
    for (let i = 0; i < 2000; i++) {
      s.writeReading(smokeReading('sm', T0 + i, { temperature: i }));
      expect(s.status().queuedLines).toBeLessThanOrEqual(1001);
    }
    await s.flush();
    const st = s.status();
    expect(st.spoolBytes).toBeLessThanOrEqual(50_000);
    expect(st.dropped).toBeGreaterThan(0);
    // The batch that was in flight when the queue spilled waits in memory in front of the spool.
    const kept = st.spooled + st.queuedLines;
    expect(st.queuedLines).toBeLessThanOrEqual(100);
    expect(kept + st.dropped).toBe(2000);
    expect(await metrics.getSingleMetricAsString('gridhub_telemetry_dropped_lines_total')).toContain(
      `reason="spool_full"} ${st.dropped}`,
    );
    // What was kept is the oldest, in order, and arrives once InfluxDB is back.
    fake.answer = () => 204;
    expect(await s.drained(15_000)).toBe(true);
    expect(fake.accepted.map(tsOf)).toEqual(Array.from({ length: kept }, (_, i) => T0 + i));
  });

  it('close() spools what is buffered when InfluxDB is down; the next start replays it', async () => {
    fake.answer = () => 503;
    const dataDir = tempDir('close');
    const { s } = sink({ flushInterval: 60_000 }, dataDir);
    for (let i = 0; i < 30; i++) s.writeReading(smokeReading('sm', T0 + i));
    await s.close();
    open.splice(0);
    expect(s.status().spoolBytes).toBeGreaterThan(0);
    fake.answer = () => 204;
    const { s: again } = sink({}, dataDir);
    expect(await again.drained(10_000)).toBe(true);
    expect(fake.accepted.map(tsOf)).toEqual(Array.from({ length: 30 }, (_, i) => T0 + i));
  });
});
