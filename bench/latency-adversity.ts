/**
 * Bench case "publish → worker alarm with one hanging webhook and one frozen phone present" (issue 13): grid 1's
 * group robot accepts connections and never answers, and a second phone of grid 1's worker stops reading its
 * socket; the probes measure everyone's alarms as usual. Wiring in run.ts:
 *
 *   const robot = await startHangingRobot();
 *   Object.assign(hubEnv, adversityHubEnv(robot.url));   // before the hub (re)starts
 *   …
 *   await section('hub publish-to-alarm latency, hanging robot + frozen phone', async () => {
 *     report.hub.latencyAdversity = await latencyAdversity({ http: h.http, mqtt: h.mqtt, demo, credsFile,
 *       rate, seconds: P.latencySeconds, probes: P.probes, gateways: P.gateways });
 *   });
 *   await robot.close();
 */
import { createServer, type Socket } from 'node:net';
import mqtt from 'mqtt';
import type { DemoCredentials } from '../src/domain/wire.ts';
import { runLoadChild } from './lib.ts';

const ROBOT = 'bench-hanging-robot';

/** A TCP server on 127.0.0.1 that accepts every connection, reads what it is sent and never answers. */
export async function startHangingRobot(): Promise<{
  url: string;
  requests: () => number;
  close(): Promise<void>;
}> {
  const sockets = new Set<Socket>();
  let requests = 0;
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('data', () => requests++);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('hanging robot: no port');
  return {
    url: `http://127.0.0.1:${address.port}/robot/send`,
    requests: () => requests,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The hub's environment naming the hanging robot as a webhook endpoint (nothing goes to it until a target). */
export function adversityHubEnv(robotUrl: string): Record<string, string> {
  return { GRIDHUB_ALERTS_WEBHOOKS: JSON.stringify({ [ROBOT]: { url: robotUrl } }) };
}

export interface AdversityResult extends Record<string, unknown> {
  rate: number;
  robotRequests: number;
  frozenPhone: string;
  load: Awaited<ReturnType<typeof runLoadChild>>;
}

/**
 * Point grid 1's group robot at the hanging endpoint (admin API), connect grid 1's worker a second time and stop
 * reading that socket, then run the same probes as the latency section.
 */
export async function latencyAdversity(o: {
  http: string;
  mqtt: string;
  demo: DemoCredentials;
  credsFile: string;
  rate: number;
  seconds: number;
  probes: number;
  gateways: number;
  /** Count of hanging-robot requests so far (from startHangingRobot). */
  robotRequests?: () => number;
}): Promise<AdversityResult> {
  const admin = o.demo.users.find((u) => u.username === 'admin');
  if (!admin) throw new Error('no demo admin');
  const login = await fetch(`${o.http}/api/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: admin.username, password: admin.password }),
  });
  const { token } = (await login.json()) as { token: string };
  const target = await fetch(`${o.http}/api/channel-targets`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({
      placeId: 'G1',
      role: null,
      channel: 'wecom',
      target: ROBOT,
      label: 'bench: hangs',
    }),
  });
  if (!target.ok) throw new Error(`channel target: ${target.status} ${await target.text()}`);
  const targetId = ((await target.json()) as { target: { id: number } }).target.id;

  const worker = o.demo.workers.find((w) => w.personId === 'g1-worker-a');
  if (!worker) throw new Error('no demo worker g1-worker-a');
  const frozen = await mqtt.connectAsync(o.mqtt, {
    clientId: `bench-frozen-${process.pid}`,
    username: worker.username,
    password: worker.token,
    protocolVersion: 4,
    reconnectPeriod: 0,
  });
  await frozen.subscribeAsync(worker.alarmsTopic, { qos: 1 });
  // the phone on a dead network: what it is sent is never read
  frozen.stream.pause();
  try {
    const args = [
      '--credentials',
      o.credsFile,
      '--devices',
      String(o.gateways),
      '--gateways',
      String(o.gateways),
    ];
    args.push(
      '--rate',
      String(o.rate),
      '--qos',
      '0',
      '--duration',
      String(o.seconds),
      '--probes',
      String(o.probes),
    );
    const load = await runLoadChild(args, (o.seconds + 60) * 1000);
    return { rate: o.rate, robotRequests: o.robotRequests?.() ?? -1, frozenPhone: worker.personId, load };
  } finally {
    frozen.stream.destroy();
    await fetch(`${o.http}/api/channel-targets/${targetId}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${token}` },
    }).catch(() => undefined);
  }
}
