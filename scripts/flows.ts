/**
 * `npm run flows`: Node-RED 4 in its own process on loopback, with the GridHub nodes and the example flow,
 * connected to a running hub with integration credentials.
 *
 * Credentials: GRIDHUB_INTEGRATION_USER + GRIDHUB_INTEGRATION_TOKEN when set; otherwise, on a demo hub, the
 * admin from `<data dir>/demo-credentials.json` issues a token for the integration user `node-red` (scoped to
 * the e-bike detectors, minor alerts at most, expiring in 30 days: what the example flow needs) through `POST /api/integrations/credentials`, kept in the Node-RED user dir for the
 * next run.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { loadConfig } from '../src/config/config.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const SETTINGS_FILE = join(ROOT, 'flows', 'settings.cjs');
export const EXAMPLE_FLOW = join(ROOT, 'flows', 'example-flow.json');
export const NODES_DIR = join(ROOT, 'node-red', 'node-red-contrib-gridhub');

export interface IntegrationCredentials {
  username: string;
  token: string;
}

/** Where node-red's CLI is, or undefined when node-red is not installed. */
export function nodeRedCli(): string | undefined {
  try {
    return createRequire(import.meta.url).resolve('node-red/red.js');
  } catch {
    return undefined;
  }
}

/**
 * A Node-RED user dir with `flows` (default: the example) and credentials of the GridHub config nodes read
 * from the environment (`${GRIDHUB_INTEGRATION_USER}` / `${GRIDHUB_INTEGRATION_TOKEN}`), so no token is
 * written into flows_cred.json. Existing flows are kept unless `flows` is given.
 */
export function prepareUserDir(userDir: string, flows?: unknown[]): void {
  mkdirSync(userDir, { recursive: true });
  const flowFile = join(userDir, 'flows.json');
  if (flows) writeFileSync(flowFile, `${JSON.stringify(flows, null, 2)}\n`);
  else if (!existsSync(flowFile)) copyFileSync(EXAMPLE_FLOW, flowFile);
  const credFile = join(userDir, 'flows_cred.json');
  if (flows || !existsSync(credFile)) {
    const nodes = JSON.parse(readFileSync(flowFile, 'utf8')) as { id: string; type: string }[];
    const creds: Record<string, { username: string; token: string }> = {};
    for (const n of nodes) {
      if (n.type === 'gridhub-config')
        // biome-ignore lint/suspicious/noTemplateCurlyInString: Node-RED's ${ENV_VAR} syntax, read by the node
        creds[n.id] = { username: '${GRIDHUB_INTEGRATION_USER}', token: '${GRIDHUB_INTEGRATION_TOKEN}' };
    }
    writeFileSync(credFile, `${JSON.stringify(creds, null, 2)}\n`, { mode: 0o600 });
  }
}

export interface NodeRedOptions {
  userDir: string;
  port: number;
  hub: { httpUrl: string; mqttUrl: string };
  credentials: IntegrationCredentials;
  adminPassword?: string;
  /** Extra environment for the flows (e.g. ELEVATOR_CONTROLLER_URL). */
  env?: Record<string, string>;
  stdio?: 'inherit' | 'pipe';
}

/** Start Node-RED as a child process (node red.js --settings flows/settings.cjs --userDir …). */
export function spawnNodeRed(options: NodeRedOptions): ChildProcess {
  const cli = nodeRedCli();
  if (!cli) throw new Error('node-red is not installed: run npm install');
  return spawn(process.execPath, [cli, '--settings', SETTINGS_FILE, '--userDir', options.userDir], {
    stdio: options.stdio ?? 'inherit',
    env: {
      ...process.env,
      NODE_RED_HOST: '127.0.0.1',
      NODE_RED_PORT: String(options.port),
      GRIDHUB_NODES_DIR: NODES_DIR,
      GRIDHUB_HTTP_URL: options.hub.httpUrl,
      GRIDHUB_MQTT_URL: options.hub.mqttUrl,
      GRIDHUB_INTEGRATION_USER: options.credentials.username,
      GRIDHUB_INTEGRATION_TOKEN: options.credentials.token,
      ELEVATOR_CONTROLLER_URL: `http://127.0.0.1:${options.port}/elevator-controller`,
      // the flows' HTTP endpoints need a login (flows/settings.cjs httpNodeAuth); the example flow uses it too
      NODE_RED_HTTP_PASSWORD: process.env.NODE_RED_HTTP_PASSWORD ?? randomBytes(12).toString('base64url'),
      ...(options.adminPassword ? { NODE_RED_ADMIN_PASSWORD: options.adminPassword } : {}),
      ...options.env,
    },
  });
}

async function tokenWorks(httpUrl: string, c: IntegrationCredentials): Promise<boolean> {
  const res = await fetch(`${httpUrl}/api/me`, { headers: { authorization: `Bearer ${c.token}` } });
  if (res.status !== 200) return false;
  const me = (await res.json()) as { username: string; role: string };
  return me.username === c.username && me.role === 'integration';
}

/** Credentials from the environment, from the user dir's cache, or issued by the demo admin. */
async function integrationCredentials(httpUrl: string, userDir: string): Promise<IntegrationCredentials> {
  const { GRIDHUB_INTEGRATION_USER: username, GRIDHUB_INTEGRATION_TOKEN: token } = process.env;
  if (username && token) return { username, token };
  const cache = join(userDir, 'gridhub-integration.json');
  if (existsSync(cache)) {
    const cached = JSON.parse(readFileSync(cache, 'utf8')) as IntegrationCredentials;
    if (await tokenWorks(httpUrl, cached)) return cached;
  }
  const demoFile = join(resolve(process.env.GRIDHUB_DATA_DIR ?? 'data'), 'demo-credentials.json');
  if (!existsSync(demoFile)) {
    throw new Error(
      `set GRIDHUB_INTEGRATION_USER and GRIDHUB_INTEGRATION_TOKEN (an admin issues them with POST /api/integrations/credentials), or start the demo hub first (${demoFile} not found)`,
    );
  }
  const demo = JSON.parse(readFileSync(demoFile, 'utf8')) as {
    users: { username: string; password: string; role: string }[];
  };
  const admin = demo.users.find((u) => u.role === 'admin');
  if (!admin) throw new Error(`no admin in ${demoFile}`);
  const login = await fetch(`${httpUrl}/api/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: admin.username, password: admin.password }),
  });
  if (login.status !== 200) throw new Error(`admin login at ${httpUrl} failed: ${login.status}`);
  const { token: adminToken } = (await login.json()) as { token: string };
  const auth = { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' };
  // the admin's place tree: its top level are the streets
  const tree = (await (await fetch(`${httpUrl}/api/places`, { headers: auth })).json()) as { id: string }[];
  const roots = tree.map((p) => p.id);
  const res = await fetch(`${httpUrl}/api/integrations/credentials`, {
    method: 'POST',
    headers: auth,
    // what the example flow needs: e-bike detectors' readings and minor alerts about them, for 30 days
    body: JSON.stringify({
      username: 'node-red',
      scope: roots,
      label: 'npm run flows',
      expiresInDays: 30,
      maxSeverity: 'minor',
      deviceTypes: ['ebike_elevator'],
    }),
  });
  if (res.status !== 201)
    throw new Error(`issuing integration credentials failed: ${res.status} ${await res.text()}`);
  const issued = (await res.json()) as IntegrationCredentials;
  const creds = { username: issued.username, token: issued.token };
  writeFileSync(cache, `${JSON.stringify(creds)}\n`, { mode: 0o600 });
  return creds;
}

/**
 * Where the hub listens, from the hub's own configuration (the same GRIDHUB_* variables and config file `npm
 * start` reads), so a hub moved off 8080/1883 is found; GRIDHUB_HTTP_URL / GRIDHUB_MQTT_URL override it.
 */
export function hubUrls(env: NodeJS.ProcessEnv = process.env): { httpUrl: string; mqttUrl: string } {
  const config = loadConfig(env);
  // A hub bound to every interface is reached on loopback from the same machine.
  const host = ['0.0.0.0', '::', ''].includes(config.host) ? '127.0.0.1' : config.host;
  return {
    httpUrl: (env.GRIDHUB_HTTP_URL ?? `http://${host}:${config.http.port}`).replace(/\/+$/, ''),
    mqttUrl: env.GRIDHUB_MQTT_URL ?? `mqtt://${host}:${config.mqtt.port}`,
  };
}

async function main(): Promise<void> {
  const { httpUrl, mqttUrl } = hubUrls();
  const userDir = resolve(
    process.env.NODE_RED_USER_DIR ?? join(process.env.GRIDHUB_DATA_DIR ?? 'data', 'node-red'),
  );
  const port = Number(process.env.NODE_RED_PORT ?? 1880);
  mkdirSync(userDir, { recursive: true });
  const credentials = await integrationCredentials(httpUrl, userDir);
  prepareUserDir(userDir);
  console.log(
    `Node-RED: http://127.0.0.1:${port}/ (user dir ${userDir}), hub ${httpUrl} as ${credentials.username}`,
  );
  const child = spawnNodeRed({ userDir, port, hub: { httpUrl, mqttUrl }, credentials });
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => child.kill(sig));
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 0 : 1)));
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main().catch((err: unknown) => {
    console.error(`npm run flows: ${(err as Error).message}`);
    process.exit(1);
  });
}
