/**
 * The baseline: a bare aedes 1.2.0 with no authentication and Nagle off (stack.md), in its own process so the
 * bench can read its RSS.
 *
 *   node --import tsx bench/aedes-baseline.ts [port] [consume|forward]
 *
 * - `consume` (the headline): `authorizePublish` takes every message, counts it and lets aedes route it to
 *   nobody, the hub's own consumption pattern without the pipeline. The count is served as Prometheus text on
 *   `/metrics` of a second port (`bare_aedes_consumed_total`), so the bench samples it as it samples the hub.
 * - `forward` (information): no hooks; the load generator's subscriber on `gh/+/telemetry` counts what aedes
 *   forwards, which is different and heavier work than the hub does.
 *
 * Prints `PORT <mqtt>` and `METRICS <http>` on stdout once listening; stops on SIGTERM.
 */
import { createServer as createHttpServer } from 'node:http';
import { createServer } from 'node:net';
import { Aedes } from 'aedes';

const mode = process.argv[3] === 'forward' ? 'forward' : 'consume';
let consumed = 0;
const broker = await Aedes.createBroker(
  mode === 'consume'
    ? {
        authorizePublish: (_client, packet, callback) => {
          if (packet.topic.endsWith('/telemetry')) consumed++;
          // As the hub does: nothing is retained, and nobody subscribes to device topics.
          packet.retain = false;
          callback(null);
        },
      }
    : {},
);
const server = createServer({ noDelay: true }, broker.handle);
const metrics = createHttpServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
  res.end(
    `# HELP bare_aedes_consumed_total Telemetry messages taken in authorizePublish.\n# TYPE bare_aedes_consumed_total counter\nbare_aedes_consumed_total ${consumed}\n`,
  );
});
const port = (s: { address(): unknown }) => {
  const a = s.address();
  return typeof a === 'object' && a && 'port' in a ? (a as { port: number }).port : 0;
};
metrics.listen(0, '127.0.0.1', () => {
  // The hub's listeners' accept backlog (src/ingest/ingest.ts), so the storm compares brokers, not backlogs.
  server.listen({ port: Number(process.argv[2] ?? 0), host: '127.0.0.1', backlog: 8192 }, () => {
    process.stdout.write(`METRICS ${port(metrics)}\nPORT ${port(server)}\n`);
  });
});
const stop = () => {
  server.close();
  metrics.close();
  broker.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2_000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
