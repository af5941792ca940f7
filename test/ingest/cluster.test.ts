import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, nextMessages, removeDir, startHarness, startRedis, until } from './harness.ts';

const redis = await startRedis();
if (!redis)
  console.warn(
    'redis-server is not installed: clustered-broker tests skipped (apt-get install redis-server)',
  );

describe.skipIf(!redis)('clustered broker over Redis', () => {
  let a: Harness;
  let b: Harness;
  beforeAll(async () => {
    a = await startHarness({ redisUrl: redis?.url });
    // a second instance on the same registry (SQLite file) and the same Redis
    b = await startHarness({ redisUrl: redis?.url }, { dir: a.dir });
  });
  afterAll(async () => {
    await b.close();
    await a.close();
    removeDir(a.dir);
    await redis?.stop();
  });

  it('a worker alarm published on one instance reaches the phone connected to the other', async () => {
    const phone = await b.connect(a.worker.username, a.worker.token);
    const topic = `gh/workers/${a.worker.personId}/alarms`;
    await phone.subscribeAsync(topic, { qos: 1 });
    const got = nextMessages(phone, topic, 1);
    await a.ingest.publishToWorker(a.worker.personId, { alertId: 'a-cluster' });
    const [m] = await got;
    expect(m?.qos).toBe(1);
    expect(JSON.parse(m?.payload.toString() ?? '')).toEqual({ alertId: 'a-cluster' });
    await phone.endAsync();
  });

  it('readings are consumed once, by the instance the device is connected to', async () => {
    const device = await a.connect(a.devices.bin.id, a.devices.bin.secret);
    await device.publishAsync(`gh/${a.devices.bin.id}/telemetry`, '{"fill": 12}', { qos: 1 });
    await until(() => a.readings.length === 1, 3_000, 'reading on a');
    await new Promise((r) => setTimeout(r, 100));
    expect(b.readings).toEqual([]);
    await device.endAsync();
  });

  it("a worker's alarms queued while the phone is off survive a restart of the broker instance", async () => {
    const clientId = 'phone-li-persistent';
    const topic = `gh/workers/${a.worker.personId}/alarms`;
    const first = await a.connect(a.worker.username, a.worker.token, { clientId, clean: false });
    await first.subscribeAsync(topic, { qos: 1 });
    await first.endAsync();
    await a.ingest.publishToWorker(a.worker.personId, { alertId: 'while-off' });

    // restart instance a: a new broker on the same Redis (and registry)
    const dir = a.dir;
    const token = a.worker.token;
    await a.close();
    a = await startHarness({ redisUrl: redis?.url }, { dir });

    const again = await a.connect(a.worker.username, token, { clientId, clean: false });
    const [m] = await nextMessages(again, topic, 1);
    expect(JSON.parse(m?.payload.toString() ?? '')).toEqual({ alertId: 'while-off' });
    await again.endAsync();
  });
});
