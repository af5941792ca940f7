import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.ts';
import { createHub } from '../../src/hub.ts';
import { startTestHub, type TestHub } from '../helpers/hub.ts';

let t: TestHub;
let adminToken: string;

beforeAll(async () => {
  t = await startTestHub();
  adminToken = await t.login('admin');
});
afterAll(async () => t?.close());

describe('demo community', () => {
  it('seeds ~200 devices of every type, and users of each role', () => {
    const creds = t.credentials!;
    expect(creds.devices.length).toBeGreaterThanOrEqual(190);
    expect(new Set(creds.devices.map((d) => d.type))).toEqual(
      new Set(['smoke', 'throw_camera', 'ebike_elevator', 'bin', 'call_button']),
    );
    expect(creds.users.map((u) => u.role)).toEqual(expect.arrayContaining(['admin', 'manager', 'worker']));
    expect(creds.workers.every((w) => w.alarmsTopic === `gh/workers/${w.personId}/alarms`)).toBe(true);
  });

  it('builds one street, 2 communities and 4 grids', async () => {
    const res = await t.api(adminToken, '/api/places');
    const tree = (await res.json()) as { id: string; level: string; children: { children: unknown[] }[] }[];
    expect(tree).toHaveLength(1);
    expect(tree[0]?.level).toBe('street');
    expect(tree[0]?.children).toHaveLength(2);
    expect(tree[0]?.children.flatMap((c) => c.children)).toHaveLength(4);
  });
});

describe('authentication', () => {
  it('refuses the API without a token, and with a wrong password', async () => {
    const res = await fetch(`${t.hub.urls.http}/api/devices`);
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('UNAUTHENTICATED');
    const bad = await fetch(`${t.hub.urls.http}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'admin', password: 'wrong-password' }),
    });
    expect(bad.status).toBe(401);
    expect(((await bad.json()) as { error: { code: string } }).error.code).toBe('BAD_CREDENTIALS');
  });

  it('serves health, readiness, metrics and the OpenAPI document without a token', async () => {
    expect((await fetch(`${t.hub.urls.http}/healthz`)).status).toBe(200);
    const ready = await fetch(`${t.hub.urls.http}/readyz`);
    expect(ready.status).toBe(200);
    const metrics = await (await fetch(`${t.hub.urls.http}/metrics`)).text();
    expect(metrics).toContain('gridhub_process_');
    const doc = (await (await fetch(`${t.hub.urls.http}/openapi.json`)).json()) as {
      paths: Record<string, unknown>;
    };
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/api/devices', '/api/auth/login']));
  });
});

describe('devices', () => {
  it('provisions a device for an admin and returns the secret once', async () => {
    const res = await t.api(adminToken, '/api/devices', {
      method: 'POST',
      body: JSON.stringify({ id: 'smoke-new-1', type: 'smoke', placeId: 'E1-B1-U1', floor: 9 }),
    });
    expect(res.status).toBe(201);
    const body = (await res.json()) as {
      secret: string;
      device: { id: string; place: Record<string, string> };
    };
    expect(body.secret).toHaveLength(32);
    expect(body.device.place).toMatchObject({ street: 'S1', community: 'C1', grid: 'G1', estate: 'E1' });
    const again = (await (await t.api(adminToken, '/api/devices/smoke-new-1')).json()) as Record<
      string,
      unknown
    >;
    expect(again).not.toHaveProperty('secret');
  });

  it('refuses reserved ids, unknown types and places with the field named', async () => {
    const cases: [object, string][] = [
      [{ id: 'workers', type: 'smoke', placeId: 'E1-B1' }, 'id'],
      [{ type: 'smoke', placeId: 'nowhere' }, 'placeId'],
      [{ type: 'toaster', placeId: 'E1-B1' }, 'body.type'],
    ];
    for (const [body, field] of cases) {
      const res = await t.api(adminToken, '/api/devices', { method: 'POST', body: JSON.stringify(body) });
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(((await res.json()) as { error: { field: string } }).error.field).toBe(field);
    }
  });

  it('lets only admins provision', async () => {
    const token = await t.login('manager');
    const res = await t.api(token, '/api/devices', {
      method: 'POST',
      body: JSON.stringify({ type: 'smoke', placeId: 'E1-B1' }),
    });
    expect(res.status).toBe(403);
  });

  it('disables and moves a device', async () => {
    const res = await t.api(adminToken, '/api/devices/smoke-001', {
      method: 'PATCH',
      body: JSON.stringify({ enabled: false, placeId: 'E2-B1-U1' }),
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ enabled: false, placeId: 'E2-B1-U1' });
    expect(t.hub.registry.devices.get('smoke-001')?.place.estate).toBe('E2');
  });

  it('filters by type and scopes by the user places: a worker of grid 1 sees only grid 1', async () => {
    const token = await t.login('worker');
    const list = (await (await t.api(token, '/api/devices?type=bin')).json()) as {
      items: { place: { grid: string } }[];
    };
    expect(list.items.length).toBeGreaterThan(0);
    expect(list.items.every((d) => d.place.grid === 'G1')).toBe(true);
    const other = t.credentials!.devices.find((d) => d.placeId.startsWith('E5'))!;
    expect((await t.api(token, `/api/devices/${other.id}`)).status).toBe(404);
    const places = (await (await t.api(token, '/api/places')).json()) as { id: string }[];
    expect(places.map((p) => p.id)).toEqual(['G1']);
  });
});

describe('start-up errors', () => {
  it('names the setting when the HTTP port is taken', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as { port: number }).port;
    const config = loadConfig({
      GRIDHUB_DATA_DIR: `${t.dataDir}-port`,
      GRIDHUB_HTTP_PORT: String(port),
      GRIDHUB_MQTT_PORT: '0',
      GRIDHUB_DEMO: 'false',
      GRIDHUB_LOG_LEVEL: 'silent',
    });
    const hub = await createHub({ config });
    await expect(hub.start()).rejects.toThrow(`set GRIDHUB_HTTP_PORT to a free port`);
    await hub.stop().catch(() => undefined);
    blocker.close();
  });
});
