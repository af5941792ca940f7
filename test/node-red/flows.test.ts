import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXAMPLE_FLOW, nodeRedCli, prepareUserDir, spawnNodeRed } from '../../scripts/flows.ts';
import { startTestHub, type TestHub } from '../helpers/hub.ts';

const cli = nodeRedCli();
if (!cli)
  console.warn('[node-red] SKIPPED: node-red cannot be loaded (npm install installs it as a devDependency)');

interface Received {
  path: string;
  body: unknown;
}

/** A stand-in for the elevator controller and a sink for what the test flow forwards. */
async function startReceiver(): Promise<{ url: string; received: Received[]; close(): Promise<void> }> {
  const received: Received[] = [];
  const server = http.createServer((req, res) => {
    let data = '';
    req.on('data', (c: Buffer) => {
      data += c.toString('utf8');
    });
    req.on('end', () => {
      let body: unknown = data;
      try {
        body = JSON.parse(data);
      } catch {}
      received.push({ path: req.url ?? '', body });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"ok":true}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

async function waitFor<T>(
  what: string,
  fn: () => T | undefined | Promise<T | undefined>,
  ms = 15_000,
): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v as T;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The example flow, plus a tab that forwards alert events and smoke readings to the receiver. */
function testFlows(receiverUrl: string): unknown[] {
  const example = JSON.parse(readFileSync(EXAMPLE_FLOW, 'utf8')) as { id: string; type: string }[];
  const tab = 'test-tab';
  const post = (id: string, url: string) => ({
    id,
    type: 'http request',
    z: tab,
    method: 'POST',
    ret: 'txt',
    paytoqs: 'ignore',
    url,
    persist: false,
    senderr: false,
    headers: [],
    wires: [[]],
  });
  return [
    ...example,
    { id: tab, type: 'tab', label: 'test forwarders' },
    {
      id: 'test-alerts',
      type: 'gridhub-alert-event',
      z: tab,
      hub: 'gridhub-hub',
      changes: '',
      severities: '',
      place: '',
      wires: [['test-alerts-post']],
    },
    post('test-alerts-post', `${receiverUrl}/alert-events`),
    {
      id: 'test-smoke',
      type: 'gridhub-reading',
      z: tab,
      hub: 'gridhub-hub',
      deviceType: 'smoke',
      deviceId: '',
      place: '',
      kinds: 'telemetry',
      event: '',
      wires: [['test-smoke-post']],
    },
    post('test-smoke-post', `${receiverUrl}/readings`),
    // raise through an HTTP endpoint of the flow, so the test can see answers and errors
    {
      id: 'test-raise-in',
      type: 'http in',
      z: tab,
      url: '/test/raise',
      method: 'post',
      wires: [['test-raise-prep']],
    },
    {
      id: 'test-raise-prep',
      type: 'function',
      z: tab,
      func: 'if (msg.payload.alert) msg.alert = msg.payload.alert; return msg;',
      outputs: 1,
      wires: [['test-raise-node']],
    },
    {
      id: 'test-raise-node',
      type: 'gridhub-raise-alert',
      z: tab,
      hub: 'gridhub-hub',
      flow: 'test-raise',
      action: 'raise',
      severity: 'major',
      category: 'flow',
      title: '',
      detail: '',
      dedup: 'per-device',
      wires: [['test-raise-out']],
    },
    { id: 'test-raise-out', type: 'http response', z: tab, statusCode: '', headers: {}, wires: [] },
    {
      id: 'test-raise-catch',
      type: 'catch',
      z: tab,
      scope: ['test-raise-node'],
      uncaught: false,
      wires: [['test-raise-err']],
    },
    {
      id: 'test-raise-err',
      type: 'function',
      z: tab,
      func: 'msg.statusCode = 422; msg.payload = { error: msg.error.message }; return msg;',
      outputs: 1,
      wires: [['test-raise-out']],
    },
  ];
}

describe.skipIf(!cli)('Node-RED with the GridHub nodes against a real hub', () => {
  let th: TestHub;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let child: ChildProcess;
  let userDir: string;
  let adminToken: string;
  let integration: { username: string; token: string };
  let output = '';
  let port: number;
  const clients: mqtt.MqttClient[] = [];

  const subscribersMetric = async (): Promise<number> => {
    const text = await (await fetch(`${th.hub.urls.http}/metrics`)).text();
    const m = /^gridhub_ingest_integration_subscribers (\d+)/m.exec(text);
    return m ? Number(m[1]) : 0;
  };

  beforeAll(async () => {
    th = await startTestHub();
    receiver = await startReceiver();
    adminToken = await th.login('admin');
    const res = await th.api(adminToken, '/api/integrations/credentials', {
      method: 'POST',
      body: JSON.stringify({ username: 'flows-test', scope: ['S1'], label: 'test' }),
    });
    expect(res.status).toBe(201);
    integration = (await res.json()) as { username: string; token: string };
    userDir = mkdtempSync(join(tmpdir(), 'gridhub-nodered-'));
    prepareUserDir(userDir, testFlows(receiver.url));
    port = await freePort();
    child = spawnNodeRed({
      userDir,
      port,
      hub: { httpUrl: th.hub.urls.http, mqttUrl: th.hub.urls.mqtt },
      credentials: integration,
      adminPassword: 'test-admin-password',
      env: {
        ELEVATOR_CONTROLLER_URL: `${receiver.url}/elevator`,
        NODE_RED_HTTP_PASSWORD: 'test-flows-password',
        NODE_RED_LOG_LEVEL: process.env.DEBUG_NODE_RED ? 'debug' : 'warn',
      },
      stdio: 'pipe',
    });
    child.stdout?.on('data', (d: Buffer) => {
      output += d.toString();
    });
    child.stderr?.on('data', (d: Buffer) => {
      output += d.toString();
    });
    // Ready when the flow's reading nodes hold the feed subscription and the alert node follows the stream.
    await waitFor(
      `Node-RED to subscribe (output so far:\n${output})`,
      async () => (await subscribersMetric()) >= 1 && th.hub.dispatcher.stream.subscribers >= 1,
      25_000,
    ).catch((err: Error) => {
      throw new Error(`${err.message}\n${output}`);
    });
  }, 60_000);

  afterAll(async () => {
    if (process.env.DEBUG_NODE_RED) console.log(output);
    for (const c of clients) c.end(true);
    if (child && child.exitCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
    }
    await receiver?.close();
    await th?.close();
    if (userDir) rmSync(userDir, { recursive: true, force: true });
  });

  async function deviceClient(type: string): Promise<{ client: mqtt.MqttClient; id: string }> {
    const d = th.credentials?.devices.find((x) => x.type === type);
    if (!d) throw new Error(`no demo ${type}`);
    const client = await mqtt.connectAsync(th.hub.urls.mqtt, {
      username: d.id,
      password: d.secret,
      protocolVersion: 4,
      reconnectPeriod: 0,
    });
    clients.push(client);
    return { client, id: d.id };
  }

  it('an e-bike event reaches the flow, which holds the doors and raises an alert routed by the dispatcher', async () => {
    const { client, id } = await deviceClient('ebike_elevator');
    await client.publishAsync(
      `gh/${id}/event`,
      JSON.stringify({ event: 'ebike_detected', data: { confidence: 0.93, elevatorId: 'EL-7' } }),
      { qos: 1 },
    );
    // the flow called the elevator controller
    const hold = await waitFor('hold-doors call', () =>
      receiver.received.find((r) => r.path === '/elevator/elevators/EL-7/hold-doors'),
    );
    expect(hold.body).toMatchObject({ reason: 'ebike_detected', deviceId: id, confidence: 0.93 });

    // the flow's alert went through the dispatcher: in the list, dispatched to people
    const alert = await waitFor('flow alert in GET /api/alerts', async () => {
      const list = (await (await th.api(adminToken, '/api/alerts?limit=500')).json()) as {
        items: {
          id: string;
          ruleId: string;
          deviceId: string;
          status: string;
          severity: string;
          category: string;
          title: string;
          evidence: Record<string, unknown>;
        }[];
      };
      return list.items.find((a) => a.ruleId === 'flow:ebike-hold-doors' && a.deviceId === id);
    });
    expect(alert).toMatchObject({
      severity: 'minor',
      category: 'ebike_in_elevator',
      evidence: { elevatorId: 'EL-7', doorsHeld: true },
    });
    expect(alert.title).toContain('EL-7');
    const detail = await waitFor('the alert to be dispatched', async () => {
      const d = (await (await th.api(adminToken, `/api/alerts/${alert.id}`)).json()) as {
        alert: { status: string };
        timeline: { type: string; data: Record<string, unknown> }[];
      };
      return d.alert.status === 'dispatched' ? d : undefined;
    });
    // routed by grid and duty like any rule's alert: the on-duty grid worker of the device's grid
    const dispatched = detail.timeline.find((e) => e.type === 'dispatched');
    const recipients = (dispatched?.data.recipients ?? []) as { personId: string; role: string }[];
    expect(recipients.length).toBeGreaterThan(0);
    const grid = th.hub.registry.devices.get(id)?.place.grid;
    expect(recipients.some((r) => r.personId.startsWith(`${grid?.toLowerCase()}-`))).toBe(true);
    // the default rule raised its own alert for the same event: flows extend the rules, they do not replace them
    const own = (await (await th.api(adminToken, '/api/alerts?limit=500')).json()) as {
      items: { ruleId: string; deviceId: string }[];
    };
    expect(own.items.some((a) => a.deviceId === id && !a.ruleId.startsWith('flow:'))).toBe(true);

    // the alert event node saw the flow alert open
    const seen = await waitFor('alert event in the flow', () =>
      receiver.received.find(
        (r) =>
          r.path === '/alert-events' && (r.body as { alertId?: string; type?: string }).alertId === alert.id,
      ),
    );
    expect((seen.body as { alert: { ruleId: string } }).alert.ruleId).toBe('flow:ebike-hold-doors');

    // cleared: doors released, the flow alert resolved by the flow
    await client.publishAsync(`gh/${id}/event`, JSON.stringify({ event: 'ebike_cleared' }), { qos: 1 });
    await waitFor('release-doors call', () =>
      receiver.received.find((r) => r.path === '/elevator/elevators/EL-7/release-doors'),
    );
    const resolved = await waitFor('flow alert resolved', async () => {
      const d = (await (await th.api(adminToken, `/api/alerts/${alert.id}`)).json()) as {
        alert: { status: string; resolution: string | null };
      };
      return d.alert.status === 'resolved' ? d.alert : undefined;
    });
    expect(resolved.resolution).toBe('auto');
  });

  it('raise alert: the hub answer goes on, a refusal goes to a catch node', async () => {
    const base = `http://127.0.0.1:${port}/test/raise`;
    const basic = `Basic ${Buffer.from('flows:test-flows-password').toString('base64')}`;
    const call = (body: unknown, authorization = basic) =>
      fetch(base, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization },
        body: JSON.stringify(body),
      });
    // the flows' own HTTP endpoints need a login (finding 11)
    expect((await call({ deviceId: 'no-such-device' }, '')).status).toBe(401);
    const unknown = await call({ deviceId: 'no-such-device' });
    expect(unknown.status).toBe(422);
    expect(((await unknown.json()) as { error: string }).error).toContain('DEVICE_UNKNOWN');
    const bin = th.hub.registry.devices.list().find((d) => d.type === 'bin' && d.place.street === 'S1');
    if (!bin) throw new Error('no demo bin');
    const ok = await call({ deviceId: bin.id, alert: { title: 'Lid stuck', evidence: { photo: 'p-1' } } });
    expect(ok.status).toBe(200);
    const answer = (await ok.json()) as { ruleId: string; alertId: string; changes: string[] };
    expect(answer).toMatchObject({ ruleId: 'flow:test-raise' });
    expect(answer.changes).toContain('opened');
    const view = (await (await th.api(adminToken, `/api/alerts/${answer.alertId}`)).json()) as {
      alert: { severity: string; title: string; evidence: Record<string, unknown> };
    };
    expect(view.alert).toMatchObject({ severity: 'major', title: 'Lid stuck', evidence: { photo: 'p-1' } });
  });

  it('telemetry readings reach a reading node filtered by type', async () => {
    const { client, id } = await deviceClient('smoke');
    await client.publishAsync(`gh/${id}/telemetry`, JSON.stringify({ smoke: 0.01, battery: 88 }), { qos: 1 });
    const got = await waitFor('smoke reading in the flow', () =>
      receiver.received.find(
        (r) => r.path === '/readings' && (r.body as { deviceId?: string }).deviceId === id,
      ),
    );
    expect(got.body).toMatchObject({
      kind: 'telemetry',
      deviceType: 'smoke',
      values: { smoke: 0.01, battery: 88 },
    });
    expect((got.body as { place: Record<string, string> }).place.street).toBe('S1');
  });

  it('the editor is locked and telemetry is off', async () => {
    const base = `http://127.0.0.1:${port}`;
    expect((await fetch(`${base}/flows`)).status).toBe(401);
    const bad = await fetch(`${base}/auth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        client_id: 'node-red-admin',
        grant_type: 'password',
        scope: '*',
        username: 'admin',
        password: 'wrong',
      }),
    });
    expect(bad.status).toBe(403);
    const login = await fetch(`${base}/auth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        client_id: 'node-red-admin',
        grant_type: 'password',
        scope: '*',
        username: 'admin',
        password: 'test-admin-password',
      }),
    });
    expect(login.status).toBe(200);
    const { access_token } = (await login.json()) as { access_token: string };
    const settings = (await (
      await fetch(`${base}/settings`, { headers: { authorization: `Bearer ${access_token}` } })
    ).json()) as { telemetryEnabled?: boolean };
    expect(settings.telemetryEnabled).toBe(false);
    // the nodes are installed, with help in English and Chinese
    for (const [lang, text] of [
      ['en-US', 'Sends the device readings the hub accepted'],
      ['zh-CN', '输出平台已接收的设备读数'],
    ] as const) {
      const html = await (
        await fetch(`${base}/nodes`, {
          headers: { authorization: `Bearer ${access_token}`, accept: 'text/html', 'accept-language': lang },
        })
      ).text();
      expect(html).toContain('data-help-name="gridhub-reading"');
      expect(html).toContain(text);
      for (const type of ['gridhub-config', 'gridhub-alert-event', 'gridhub-raise-alert'])
        expect(html).toContain(`data-help-name="${type}"`);
    }
    // the integration token is not written into Node-RED's credentials file
    expect(readFileSync(join(userDir, 'flows_cred.json'), 'utf8')).not.toContain(integration.token);
  });

  it('integration credentials cannot publish as a device', async () => {
    const d = th.credentials?.devices.find((x) => x.type === 'smoke');
    if (!d) throw new Error('no demo smoke sensor');
    const before = receiver.received.length;
    const intruder = await mqtt.connectAsync(th.hub.urls.mqtt, {
      username: integration.username,
      password: integration.token,
      protocolVersion: 4,
      reconnectPeriod: 0,
    });
    clients.push(intruder);
    const closed = new Promise<void>((resolve) => intruder.once('close', () => resolve()));
    // MQTT 3.1.1 has no negative PUBACK: the hub closes the connection and never routes the message
    intruder.publish(`gh/${d.id}/telemetry`, JSON.stringify({ alarm: true, smoke: 1.5 }), { qos: 1 });
    await closed;
    await new Promise((r) => setTimeout(r, 300));
    expect(receiver.received.slice(before).filter((r) => r.path === '/readings')).toEqual([]);
    const alerts = (await (await th.api(adminToken, '/api/alerts?limit=500')).json()) as {
      items: { deviceId: string; category: string }[];
    };
    expect(alerts.items.some((a) => a.deviceId === d.id && a.category === 'fire')).toBe(false);
  });

  it('a flow cannot raise an alert for a device outside its scope, nor with a device token', async () => {
    const res = await th.api(adminToken, '/api/integrations/credentials', {
      method: 'POST',
      body: JSON.stringify({ username: 'flows-g3', scope: ['G3'] }),
    });
    const g3 = (await res.json()) as { token: string };
    const outside = th.hub.registry.devices.list().find((x) => x.place.grid !== 'G3');
    const body = (deviceId: string) =>
      JSON.stringify({ flow: 'scope-test', deviceId, title: 'test', severity: 'minor' });
    if (outside) {
      const r = await th.api(g3.token, '/api/integrations/alerts', {
        method: 'POST',
        body: body(outside.id),
      });
      expect(r.status).toBe(404);
    }
    const worker = await th.login('worker');
    const w = await th.api(worker, '/api/integrations/alerts', {
      method: 'POST',
      body: body(th.credentials?.devices[0]?.id ?? 'x'),
    });
    expect(w.status).toBe(403);
  });

  // last in this file: it leaves the editor's login throttled for this address
  it('the editor login is throttled per source and answers 429 with Retry-After (finding 11)', async () => {
    const attempt = () =>
      fetch(`http://127.0.0.1:${port}/auth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          client_id: 'node-red-admin',
          grant_type: 'password',
          scope: '*',
          username: 'admin',
          password: 'guess',
        }),
      });
    const codes: number[] = [];
    let last: Response | undefined;
    for (let i = 0; i < 8; i++) {
      last = await attempt();
      codes.push(last.status);
    }
    expect(codes).not.toContain(500);
    expect(codes.at(-1)).toBe(429);
    expect(Number(last?.headers.get('retry-after'))).toBeGreaterThan(0);
  });
});
