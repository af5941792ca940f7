/**
 * The bench's floor under publish → alarm (bench/run.ts, bareLatency): synthetic call buttons pressed through a
 * bare aedes without authentication, each press timed until the stand-in worker subscribed to `gh/+/event` has
 * it. Proves the probes come back (none lost) and that only presses count, not the telemetry beside them.
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:net';
import { Aedes } from 'aedes';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runLoad, syntheticDevices, syntheticProbes } from '../../devices-sim/load.ts';

let broker: Aedes;
let server: Server;
let url: string;

beforeAll(async () => {
  broker = await Aedes.createBroker();
  server = createServer(broker.handle);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const addr = server.address();
  url = `mqtt://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
});

afterAll(async () => {
  await new Promise<void>((resolve) => broker.close(() => resolve()));
  server.close();
});

it('times synthetic presses through a bare broker until the stand-in worker receives them', async () => {
  const probes = syntheticProbes(3);
  expect(probes.devices.map((d) => d.id)).toEqual(['probe-000001', 'probe-000002', 'probe-000003']);
  // every press the broker took
  let presses = 0;
  const onPublish = (packet: { topic: string }) => {
    if (packet.topic.endsWith('/event')) presses++;
  };
  broker.on('publish', onPublish);
  const r = await runLoad({
    mqttUrl: url,
    devices: syntheticDevices(1),
    rate: 50,
    qos: 0,
    durationS: 1.5,
    probe: { devices: probes.devices, workers: [probes.worker], perSecond: 10 },
  });
  broker.off('publish', onPublish);
  // three warm-up presses, one per probe device, answered before the clock started and not counted
  expect(presses).toBe(r.latencyMs.count + 3);
  // the first press goes 0.5 s in, then 10 a second: about 10 in 1.5 s, each answered
  expect(r.latencyMs.count).toBeGreaterThanOrEqual(5);
  expect(r.latencyMs.lost).toBe(0);
  expect(r.probes).toHaveLength(r.latencyMs.count);
  expect(r.latencyMs.max).toBeLessThan(5_000);
});
