import Fastify, { type FastifyInstance } from 'fastify';
import { serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  alertChange,
  catalogue,
  log,
  metrics,
  PLACE,
  smokeReading,
  telemetryConfig,
  tempDir,
} from '../../test/telemetry/helpers.ts';
import { installErrorHandler } from '../api/errors.ts';
import { ManualClock } from '../clock/clock.ts';
import type { DeviceRecord } from '../domain/records.ts';
import { scopeFor } from '../http/context.ts';
import { createEmbeddedStore, type EmbeddedStore } from './embedded-store.ts';
import { telemetryRoutes } from './routes.ts';

const T0 = Date.UTC(2026, 0, 5, 8, 0, 0);

const device = (id: string, place: DeviceRecord['place']): DeviceRecord => ({
  id,
  type: 'smoke',
  placeId: place.unit ?? place.building ?? 'x',
  place,
  floor: 3,
  label: null,
  enabled: true,
  createdAt: T0,
  lastSeen: null,
  online: true,
  onlineChangedAt: null,
});

describe('GET /telemetry', () => {
  let app: FastifyInstance;
  let store: EmbeddedStore;
  const clock = new ManualClock(T0 + 3_600_000);
  beforeAll(async () => {
    store = createEmbeddedStore({
      telemetry: telemetryConfig(),
      dataDir: tempDir('routes'),
      catalogue,
      log,
      metrics: metrics(),
      clock,
    });
    for (let i = 0; i < 6; i++)
      store.writeReading(smokeReading('sm-1', T0 + i * 600_000, { temperature: 20 + i }));
    store.writeAlertChange(alertChange('sm-1', T0));
    const devices = new Map([
      ['sm-1', device('sm-1', PLACE)],
      ['sm-other', device('sm-other', { street: 's2', community: 'c9' })],
    ]);
    app = Fastify();
    app.setValidatorCompiler(validatorCompiler);
    app.setSerializerCompiler(serializerCompiler);
    installErrorHandler(app);
    // Test stand-in for the lead's auth hook: `x-test-scope` = comma-separated scope roots, or `admin`.
    app.addHook('onRequest', async (request) => {
      const h = String(request.headers['x-test-scope'] ?? 'admin');
      request.user =
        h === 'admin'
          ? {
              username: 'a',
              role: 'admin',
              personId: null,
              displayName: 'A',
              locale: 'en',
              enabled: true,
              scope: [],
            }
          : {
              username: 'm',
              role: 'manager',
              personId: null,
              displayName: 'M',
              locale: 'en',
              enabled: true,
              scope: h.split(','),
            };
      request.scope = scopeFor(request.user);
    });
    await app.register(telemetryRoutes({ reader: store, devices, clock }), { prefix: '/api' });
  });
  afterAll(async () => {
    await app.close();
    await store.close();
  });

  const get = (qs: string, scope = 'admin') =>
    app.inject({ method: 'GET', url: `/api/telemetry?${qs}`, headers: { 'x-test-scope': scope } });

  it('answers raw points for the last hour by default', async () => {
    const r = await get('device=sm-1&field=temperature');
    expect(r.statusCode).toBe(200);
    expect(r.json()).toMatchObject({ device: 'sm-1', field: 'temperature', from: T0, to: T0 + 3_600_000 });
    expect(r.json().points).toHaveLength(6);
  });

  it('buckets with every and fn; from/to as ISO or epoch ms', async () => {
    const r = await get(
      `device=sm-1&field=temperature&from=${new Date(T0).toISOString()}&to=${T0 + 3_599_999}&every=30m&fn=max`,
    );
    expect(r.statusCode).toBe(200);
    expect(r.json()).toMatchObject({ everyMs: 1_800_000, fn: 'max' });
    expect(r.json().points).toEqual([
      { ts: T0, value: 22 },
      { ts: T0 + 1_800_000, value: 25 },
    ]);
  });

  it('is 404 for a device outside the caller’s scope, as for an unknown one', async () => {
    expect((await get('device=sm-1&field=temperature', 'g1')).statusCode).toBe(200);
    const hidden = await get('device=sm-other&field=temperature', 'g1');
    expect(hidden.statusCode).toBe(404);
    expect(hidden.json().error.code).toBe('NOT_FOUND');
    expect((await get('device=nope&field=temperature')).statusCode).toBe(404);
  });

  it('is 400 naming the field when it is not a telemetry field of the device’s type', async () => {
    const r = await get('device=sm-1&field=fill');
    expect(r.statusCode).toBe(400);
    expect(r.json().error).toMatchObject({ code: 'REQUEST_INVALID', field: 'field' });
    expect(r.json().error.message).toContain('fill');
  });

  it('is 400 for a bad time, duration or aggregate', async () => {
    expect((await get('device=sm-1&field=temperature&from=yesterday')).json().error.field).toBe('from');
    expect((await get('device=sm-1&field=temperature&every=5 minutes')).statusCode).toBe(400);
    expect((await get('device=sm-1&field=temperature&fn=median')).statusCode).toBe(400);
    expect((await get('device=sm-1&field=alarm&fn=mean')).json().error.field).toBe('fn');
  });
});
