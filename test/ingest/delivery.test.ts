import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import { serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import { connectAsync } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import type { EventReading, Reading } from '../../src/domain/reading.ts';
import { granted, type Harness, nextMessages, removeDir, startHarness, until } from './harness.ts';

let h: Harness | undefined;
afterEach(async () => {
  if (h) {
    await h.close();
    removeDir(h.dir);
    h = undefined;
  }
});

function journalRows(harness: Harness): { id: number; device_id: string }[] {
  return harness.db.prepare('SELECT id, device_id FROM ingest_journal ORDER BY id').all() as {
    id: number;
    device_id: string;
  }[];
}

describe('QoS 1 event journal', () => {
  it('writes the event to the journal before the PUBACK, and marks it done after the hand-off', async () => {
    const t = await startHarness();
    h = t;
    const order: string[] = [];
    t.sink.onReading = (r: Reading) => {
      const id = (r as EventReading).journalId;
      const row = t.db.prepare('SELECT COUNT(*) AS n FROM ingest_journal WHERE id = ?').get(id ?? -1) as {
        n: number;
      };
      order.push(`reading journalId=${id === undefined ? 'none' : 'set'} row=${row.n}`);
      t.readings.push(r);
    };
    const c = await t.connectDevice('call_button');
    c.on('packetreceive', (p) => {
      if (p.cmd === 'puback') order.push('puback');
    });
    await c.publishAsync(`gh/${t.devices.call_button.id}/event`, '{"event":"press"}', { qos: 1 });
    expect(order).toEqual(['reading journalId=set row=1', 'puback']);
    expect(journalRows(t)).toEqual([]);
    expect(t.readings[0]).toMatchObject({ kind: 'event', event: 'press', qos: 1 });
    expect((t.readings[0] as EventReading).journalId).toBeGreaterThan(0);
  });

  it('journals each valid element of a QoS 1 array and answers the invalid one', async () => {
    const t = await startHarness();
    h = t;
    const id = t.devices.smoke.id;
    const c = await t.connectDevice('smoke');
    await c.subscribeAsync(`gh/${id}/errors`);
    const errors = nextMessages(c, `gh/${id}/errors`, 1);
    await c.publishAsync(`gh/${id}/event`, '[{"event":"alarm"},{"event":"fire"},{"event":"tamper"}]', {
      qos: 1,
    });
    expect(t.readings.map((r) => (r as EventReading).event)).toEqual(['alarm', 'tamper']);
    const ids = t.readings.map((r) => (r as EventReading).journalId);
    expect(ids[0]).toBeGreaterThan(0);
    expect(ids[1]).toBe((ids[0] as number) + 1);
    expect(JSON.parse((await errors)[0]?.payload.toString() ?? '')).toMatchObject({
      code: 'EVENT_UNKNOWN',
      index: 1,
    });
    expect(journalRows(t)).toEqual([]);
  });

  it('without a working journal a QoS 1 event is not acknowledged and not handed on', async () => {
    const t = await startHarness();
    h = t;
    const c = await t.connectDevice('call_button');
    t.db.exec('DROP TABLE ingest_journal');
    let acked = false;
    const closed = new Promise<void>((resolve) => c.once('close', () => resolve()));
    c.publish(`gh/${t.devices.call_button.id}/event`, '{"event":"press"}', { qos: 1 }, (err) => {
      if (!err) acked = true;
    });
    await closed;
    expect(acked).toBe(false);
    expect(t.readings).toEqual([]);
  });

  it('QoS 0 events and QoS 1 telemetry skip the journal', async () => {
    const t = await startHarness();
    h = t;
    const c = await t.connectDevice('smoke');
    const id = t.devices.smoke.id;
    await c.publishAsync(`gh/${id}/event`, '{"event":"test"}', { qos: 0 });
    await c.publishAsync(`gh/${id}/telemetry`, '{"smoke":0.01}', { qos: 1 });
    await until(() => t.readings.length === 2, 3_000, 'readings');
    expect(t.readings.map((r) => [r.kind, r.qos, (r as EventReading).journalId])).toEqual([
      ['event', 0, undefined],
      ['telemetry', 1, undefined],
    ]);
  });

  it('keeps the order of one device’s events when telemetry comes between them in the same tick', async () => {
    const t = await startHarness();
    h = t;
    const c = await t.connectDevice('smoke');
    const id = t.devices.smoke.id;
    c.publish(`gh/${id}/event`, '{"event":"alarm"}', { qos: 1 });
    c.publish(`gh/${id}/telemetry`, '{"smoke":0.5}', { qos: 0 });
    c.publish(`gh/${id}/event`, '{"event":"alarm_clear"}', { qos: 1 });
    await until(() => t.readings.length === 3, 3_000, 'readings');
    // one device's events stay in order; telemetry may fall behind them (test/ingest/fast-path.test.ts)
    expect(t.readings.filter((r) => r.kind === 'event').map((r) => r.event)).toEqual([
      'alarm',
      'alarm_clear',
    ]);
    expect(t.readings.filter((r) => r.kind === 'telemetry')).toHaveLength(1);
  });

  it('an event whose hand-off failed stays journaled, is still acknowledged, and is re-fed at the next start', async () => {
    const first = await startHarness();
    const dir = first.dir;
    first.sink.onReading = () => {
      throw new Error('rules crashed');
    };
    const c = await first.connectDevice('call_button');
    await c.publishAsync(`gh/${first.devices.call_button.id}/event`, '{"event":"fall"}', { qos: 1 });
    const rows = journalRows(first);
    expect(rows).toEqual([{ id: expect.any(Number), device_id: first.devices.call_button.id }]);
    expect(await first.counter('gridhub_ingest_sink_errors_total')).toBe(1);
    await first.close();

    const second = await startHarness({}, { dir });
    h = second;
    expect(second.ingest.replayJournal()).toBe(1);
    expect(second.readings).toEqual([
      expect.objectContaining({
        kind: 'event',
        event: 'fall',
        deviceId: 'callbutton-1',
        qos: 1,
        journalId: rows[0]?.id,
      }),
    ]);
    expect(journalRows(second)).toEqual([]);
    expect(second.ingest.replayJournal()).toBe(0);
  });
});

describe('hub → worker', () => {
  it('publishToWorker delivers on gh/workers/{id}/alarms at QoS 1', async () => {
    const t = await startHarness();
    h = t;
    const w = await t.connect(t.worker.username, t.worker.token, { clientId: 'phone-li', clean: false });
    const topic = `gh/workers/${t.worker.personId}/alarms`;
    expect(await granted(w, [topic], 1)).toEqual([1]);
    const got = nextMessages(w, topic, 1);
    await t.ingest.publishToWorker(t.worker.personId, { alertId: 'a-1', title: 'Smoke alarm' });
    const [m] = await got;
    expect(m?.qos).toBe(1);
    expect(JSON.parse(m?.payload.toString() ?? '')).toEqual({ alertId: 'a-1', title: 'Smoke alarm' });
    await expect(t.ingest.publishToWorker('a/b', {})).rejects.toThrow(/worker id/);
  });
});

describe('listeners', () => {
  it('a port in use is an error naming the setting', async () => {
    const t = await startHarness();
    h = t;
    await expect(startHarness({ port: t.port })).rejects.toThrow(
      `GRIDHUB_MQTT_PORT=${t.port} is already in use on 127.0.0.1; set GRIDHUB_MQTT_PORT to a free port`,
    );
  });
});

const hasOpenssl = spawnSync('openssl', ['version']).status === 0;

describe('TLS listener', () => {
  it.skipIf(!hasOpenssl)(
    'serves MQTT over TLS when a certificate and key are configured (needs openssl)',
    async () => {
      const dir = mkdtempSync(join(os.tmpdir(), 'gridhub-tls-'));
      try {
        const key = join(dir, 'key.pem');
        const cert = join(dir, 'cert.pem');
        const gen = spawnSync('openssl', [
          'req',
          '-x509',
          '-newkey',
          'ec',
          '-pkeyopt',
          'ec_paramgen_curve:prime256v1',
          '-nodes',
          '-days',
          '1',
          '-subj',
          '/CN=localhost',
          '-addext',
          'subjectAltName=IP:127.0.0.1',
          '-keyout',
          key,
          '-out',
          cert,
        ]);
        expect(gen.status).toBe(0);
        const t = await startHarness({ tlsCert: cert, tlsKey: readFileSync(key, 'utf8') });
        h = t;
        expect(t.tlsPort).toBeGreaterThan(0);
        const c = await connectAsync(`mqtts://127.0.0.1:${t.tlsPort}`, {
          protocolVersion: 4,
          reconnectPeriod: 0,
          ca: readFileSync(cert),
          username: t.devices.smoke.id,
          password: t.devices.smoke.secret,
        });
        await c.publishAsync(`gh/${t.devices.smoke.id}/telemetry`, '{"temperature": 61}', { qos: 1 });
        expect(t.readings[0]).toMatchObject({ kind: 'telemetry', values: { temperature: 61 } });
        expect(await t.counter('gridhub_ingest_connections', { transport: 'tls' })).toBe(1);
        await c.endAsync();
      } finally {
        removeDir(dir);
      }
    },
  );
});

describe('MQTT over WebSocket', () => {
  it('a device publishes through ws:// on the fastify app', async () => {
    const t = await startHarness();
    h = t;
    // like the hub's app: zod compilers, the plugin at the root beside other routes
    const app = Fastify();
    app.setValidatorCompiler(validatorCompiler);
    app.setSerializerCompiler(serializerCompiler);
    app.get('/healthz', async () => ({ ok: true }));
    await app.register(t.ingest.webSocketPlugin);
    await app.listen({ port: 0, host: '127.0.0.1' });
    try {
      const port = (app.server.address() as { port: number }).port;
      const c = await connectAsync(`ws://127.0.0.1:${port}/mqtt`, {
        protocolVersion: 4,
        reconnectPeriod: 0,
        username: t.devices.bin.id,
        password: t.devices.bin.secret,
      });
      await c.subscribeAsync(`gh/${t.devices.bin.id}/errors`);
      const errors = nextMessages(c, `gh/${t.devices.bin.id}/errors`, 1);
      await c.publishAsync(`gh/${t.devices.bin.id}/telemetry`, '{"fill": 93}', { qos: 1 });
      await c.publishAsync(`gh/${t.devices.bin.id}/telemetry`, '{"fill": 930}');
      await until(() => t.readings.length === 1, 3_000, 'reading');
      expect(t.readings[0]).toMatchObject({
        kind: 'telemetry',
        deviceId: t.devices.bin.id,
        values: { fill: 93 },
      });
      expect(JSON.parse((await errors)[0]?.payload.toString() ?? '')).toMatchObject({
        code: 'PAYLOAD_INVALID',
        field: 'fill',
      });
      expect(await t.counter('gridhub_ingest_connections', { transport: 'ws' })).toBe(1);
      expect((await app.inject({ url: '/healthz' })).json()).toEqual({ ok: true });
      await c.endAsync();
    } finally {
      await app.close();
    }
  });
});

describe('a frozen subscriber', () => {
  it('does not stall delivery to others: its queue is capped (drops counted) and it is cut off at the drain timeout', async () => {
    const t = await startHarness({ subscriberQueueBytes: 64 * 1024, drainTimeoutMs: 500 });
    h = t;
    const frozen = await t.connect(t.worker.username, t.worker.token, { clientId: 'phone-frozen' });
    const alive = await t.connect(t.otherWorker.username, t.otherWorker.token, { clientId: 'phone-alive' });
    await frozen.subscribeAsync(`gh/workers/${t.worker.personId}/alarms`, { qos: 1 });
    const aliveTopic = `gh/workers/${t.otherWorker.personId}/alarms`;
    await alive.subscribeAsync(aliveTopic, { qos: 1 });
    frozen.stream.pause(); // the phone on a dead network: nothing it is sent is read any more

    const big = { detail: 'x'.repeat(60 * 1024) };
    // enough to fill the loopback buffers several times over; not awaited: deliveries to a full socket wait
    const toFrozen = Array.from({ length: 300 }, () =>
      t.ingest.publishToWorker(t.worker.personId, big).catch(() => undefined),
    );
    const got = nextMessages(alive, aliveTopic, 1, 2_000);
    await t.ingest.publishToWorker(t.otherWorker.personId, { alertId: 'a-live' });
    expect(JSON.parse((await got)[0]?.payload.toString() ?? '')).toEqual({ alertId: 'a-live' });
    expect(await t.counter('gridhub_ingest_dropped_total', { reason: 'subscriber_queue' })).toBeGreaterThan(
      0,
    );

    await until(() => t.ingest.broker.connectedClients === 1, 3_000, 'frozen subscriber cut off');
    await Promise.all(toFrozen);
    expect(await t.counter('gridhub_ingest_protocol_errors_total', { reason: 'drain_timeout' })).toBe(1);
  });
});
