import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { BROKER_HOOK_PATHS } from '../../src/api/broker-hook-routes.ts';
import { environmentKeys, loadConfig } from '../../src/config/config.ts';

/**
 * The `ha` profile of docker-compose.yml, checked from its text: there is no Docker engine here to run it. What is
 * checked is its wiring: settings the hub knows, two hubs on one database, EMQX asking the hubs' hooks at the
 * paths they serve, and no secret written into the files.
 */

interface Service {
  image?: string;
  build?: unknown;
  profiles?: string[];
  environment?: Record<string, string>;
  ports?: string[];
  volumes?: string[];
  depends_on?: Record<string, { condition: string }>;
}

const root = new URL('../../', import.meta.url);
const read = (path: string) => readFileSync(new URL(path, root), 'utf8');
// merge keys: the two hubs share one environment block (`<<: *hub-env`)
const compose = parse(read('docker-compose.yml'), { merge: true }) as { services: Record<string, Service> };
const services = compose.services;
const ha = Object.entries(services).filter(([, s]) => s.profiles?.includes('ha'));
const emqxConf = read('deploy/emqx/emqx.conf');
const nginxConf = read('deploy/nginx/gridhub.conf');

/** `${NAME:-default}` → default, as compose resolves it without a .env file; `${NAME}` → ''. */
const withDefaults = (v: string) =>
  v.replace(/\$\{[A-Z0-9_]+(?::-([^}]*))?\}/g, (_m, d: string | undefined) => d ?? '');
/** The variables a value takes from the environment. */
const variables = (v: string) => [...v.matchAll(/\$\{([A-Z0-9_]+)/g)].map((m) => m[1] as string);

function hubEnv(name: string): Record<string, string> {
  const env = services[name]?.environment;
  if (!env) throw new Error(`no service ${name}`);
  return env;
}

/** The services `docker compose --profile ha up lb grafana` starts: the named ones and what they depend on. */
function closure(names: string[]): Set<string> {
  const seen = new Set<string>();
  const visit = (n: string) => {
    if (seen.has(n)) return;
    seen.add(n);
    for (const dep of Object.keys(services[n]?.depends_on ?? {})) visit(dep);
  };
  for (const n of names) visit(n);
  return seen;
}

describe('docker-compose.yml, profile ha', () => {
  it('leaves `docker compose up` as it was: the profile services start only with --profile ha', () => {
    const always = Object.entries(services)
      .filter(([, s]) => !s.profiles)
      .map(([n]) => n)
      .sort();
    expect(always).toEqual(['grafana', 'hub', 'influxdb', 'node-red']);
    expect(ha.map(([n]) => n).sort()).toEqual(['emqx', 'hub-a', 'hub-b', 'lb', 'postgres']);
  });

  it('`up lb grafana` brings PostgreSQL, EMQX, both hubs, InfluxDB and Grafana, and not the single hub', () => {
    const started = closure(['lb', 'grafana']);
    expect([...started].sort()).toEqual(['emqx', 'grafana', 'hub-a', 'hub-b', 'influxdb', 'lb', 'postgres']);
    const hostPorts = [...started].flatMap((n) =>
      (services[n]?.ports ?? []).map((p) => p.split(':').slice(0, -1).join(':')),
    );
    expect(new Set(hostPorts).size, hostPorts.join(' ')).toBe(hostPorts.length);
  });

  it('runs PostgreSQL 16 with a health check and a volume, and the hubs wait for it', () => {
    const pg = services.postgres;
    expect(pg?.image).toMatch(/^postgres:16/);
    expect(pg?.volumes?.some((v) => v.endsWith(':/var/lib/postgresql/data'))).toBe(true);
    expect(services['hub-a']?.depends_on?.postgres?.condition).toBe('service_healthy');
    expect(services['hub-a']?.depends_on?.emqx?.condition).toBe('service_healthy');
    expect(services['hub-b']?.depends_on?.['hub-a']?.condition).toBe('service_healthy');
  });

  it('gives the hubs only settings their config knows, and the settings load', () => {
    const known = new Set(environmentKeys().map((k) => k.env));
    for (const name of ['hub-a', 'hub-b']) {
      const env = hubEnv(name);
      for (const key of Object.keys(env))
        expect(known.has(key), `${name}: ${key} is not a GridHub setting`).toBe(true);
      // what scripts/ha-env.sh would put in .env
      const resolved = Object.fromEntries(
        Object.entries(env).map(([k, v]) => [
          k,
          String(v).replace(/\$\{([A-Z0-9_]+)(?::-([^}]*))?\}/g, (_m, n: string, d: string | undefined) =>
            n.includes('PASSWORD') || n.includes('SECRET')
              ? `${n.toLowerCase()}-0123456789abcdef`
              : (d ?? ''),
          ),
        ]),
      );
      const config = loadConfig(resolved, '/');
      expect(config.databaseUrl).toMatch(/^postgres:\/\/gridhub:.+@postgres:5432\/gridhub$/);
      expect(config.mqtt.externalUrl).toBe('mqtt://emqx:1884');
      expect(config.mqtt.hookSecret).toBeDefined();
      expect(config.http.trustProxy).toBe('1');
    }
  });

  it('puts both hubs on one database, one key, one broker and one hook secret, each under its own name', () => {
    const a = hubEnv('hub-a');
    const b = hubEnv('hub-b');
    for (const key of [
      'GRIDHUB_DATABASE_URL',
      'GRIDHUB_SECRET_KEY_FILE',
      'GRIDHUB_MQTT_EXTERNAL_URL',
      'GRIDHUB_MQTT_EXTERNAL_USERNAME',
      'GRIDHUB_MQTT_EXTERNAL_PASSWORD',
      'GRIDHUB_MQTT_HOOK_SECRET',
      'GRIDHUB_INFLUX_URL',
    ])
      expect(b[key], key).toBe(a[key]);
    // Owner routing: each hub evaluates the devices it owns and restores only their rule state. With `shared`
    // (even under EMQX's hash_clientid) every hub would restore and time every device's absence, while seeing
    // only its share of the readings: false "offline" alerts.
    expect(a.GRIDHUB_MQTT_EXTERNAL_ROUTING, 'set GRIDHUB_MQTT_EXTERNAL_ROUTING: owner in the hubs').toBe(
      'owner',
    );
    expect(b.GRIDHUB_MQTT_EXTERNAL_ROUTING).toBe('owner');
    expect(a.GRIDHUB_INSTANCE_ID).toBe('hub-a');
    expect(b.GRIDHUB_INSTANCE_ID).toBe('hub-b');
    expect(a.GRIDHUB_MQTT_EXTERNAL_CLIENT_ID).not.toBe(b.GRIDHUB_MQTT_EXTERNAL_CLIENT_ID);
    // the key file on a volume both mount; their data dirs (spool, rules) are their own
    const keyDir = (a.GRIDHUB_SECRET_KEY_FILE ?? '').replace(/\/[^/]+$/, '');
    const mountOf = (n: string, dir: string) => services[n]?.volumes?.find((v) => v.endsWith(`:${dir}`));
    expect(mountOf('hub-a', keyDir)).toBeDefined();
    expect(mountOf('hub-b', keyDir)).toBe(mountOf('hub-a', keyDir));
    expect(mountOf('hub-b', '/data')).not.toBe(mountOf('hub-a', '/data'));
    // nothing of the hubs is published: the load balancer and EMQX are the ways in
    expect(services['hub-a']?.ports).toBeUndefined();
    expect(services['hub-b']?.ports).toBeUndefined();
  });

  it('hard-codes no secret: each comes from the environment, and scripts/ha-env.sh makes every one', () => {
    const generated = execFileSync('sh', [new URL('scripts/ha-env.sh', root).pathname], { encoding: 'utf8' });
    const made = new Set(generated.split('\n').map((l) => l.split('=')[0]));
    for (const line of generated.trim().split('\n')) expect(line).toMatch(/^[A-Z0-9_]+=[0-9a-f]{48}$/);
    for (const [name, s] of ha)
      for (const [key, value] of Object.entries(s.environment ?? {})) {
        // a _FILE setting names where a secret is, not the secret
        if (!/PASSWORD|SECRET|TOKEN|COOKIE|AUTHORIZATION|DATABASE_URL/.test(key) || key.endsWith('_FILE'))
          continue;
        const vars = variables(String(value));
        expect(vars.length, `${name}: ${key} is written into the file`).toBeGreaterThan(0);
        // the secret part is a ${VAR:-…} the operator sets, and the generator sets it (InfluxDB's token keeps the
        // default stack's placeholder default, as the services it shares with that stack do)
        for (const v of vars.filter((v) => /PASSWORD|SECRET|COOKIE/.test(v)))
          expect(made.has(v), `${name}: ${key} takes ${v}, which scripts/ha-env.sh does not make`).toBe(true);
        expect(withDefaults(String(value)), `${name}: ${key}`).not.toMatch(/[0-9a-f]{16}/);
      }
    // no secret header and no password in EMQX's file: only placeholders it fills per request
    expect(emqxConf).not.toMatch(/"?authorization"?\s*=/i);
    expect(emqxConf).not.toMatch(/(password|cookie)\s*=\s*"(?!\$\{)/i);
  });
});

describe('EMQX asks the hubs', () => {
  it('authenticates and authorizes through the hooks the hub serves, via the internal port of the balancer', () => {
    const urls = [...emqxConf.matchAll(/url = "([^"]+)"/g)].map((m) => m[1]);
    expect(urls).toEqual([
      `http://lb:8081${BROKER_HOOK_PATHS.authn}`,
      `http://lb:8081${BROKER_HOOK_PATHS.authz}`,
    ]);
    expect(emqxConf).toMatch(/mechanism = password_based\s+backend = http/);
    for (const p of ['clientid', 'username', 'password', 'peerhost'])
      expect(emqxConf).toContain(`${p} = "\${${p}}"`);
    for (const p of ['topic', 'action']) expect(emqxConf).toContain(`${p} = "\${${p}}"`);
    expect(emqxConf).toMatch(/method = post/);
  });

  it("ends a hub consumer's session with its connection, on a listener of its own that is not published", () => {
    const listener = emqxConf.slice(emqxConf.indexOf('listeners.tcp.hubs {'));
    expect(listener.slice(0, listener.indexOf('}'))).toMatch(
      /bind = "0\.0\.0\.0:1884"\s+zone = hub_consumers/,
    );
    const zone = emqxConf.slice(emqxConf.indexOf('zones.hub_consumers {'));
    expect(zone.slice(0, zone.indexOf('}'))).toMatch(/session_expiry_interval = 0s/);
    expect(hubEnv('hub-a').GRIDHUB_MQTT_EXTERNAL_URL).toBe('mqtt://emqx:1884');
    expect((services.emqx?.ports ?? []).some((p) => p.includes('1884'))).toBe(false);
  });

  it('fails closed, keeps each device on one hub, and listens on 1883, 8883 and 8083', () => {
    expect(emqxConf).toMatch(/no_match = deny/);
    // the default file authorizer (allow all at the end) is replaced: the only source is the hub
    expect([...emqxConf.matchAll(/type = (\w+)/g)].map((m) => m[1])).toEqual(['http']);
    expect(emqxConf).toMatch(/shared_subscription_strategy = hash_clientid/);
    for (const port of ['1883', '8883', '8083']) {
      expect(emqxConf).toContain(`bind = "0.0.0.0:${port}"`);
      expect(services.emqx?.ports).toContain(`${port}:${port}`);
    }
    expect(services.emqx?.volumes).toContain('./deploy/emqx/emqx.conf:/opt/emqx/etc/emqx.conf:ro');
    // the secret header comes from the environment, on both the authenticator and the authorizer
    const env = services.emqx?.environment ?? {};
    // biome-ignore lint/suspicious/noTemplateCurlyInString: compose's own interpolation syntax, as written in the file
    const header = 'Bearer ${GRIDHUB_MQTT_HOOK_SECRET:-}';
    expect(env.EMQX_AUTHENTICATION__1__HEADERS__AUTHORIZATION).toBe(header);
    expect(env.EMQX_AUTHORIZATION__SOURCES__1__HEADERS__AUTHORIZATION).toBe(header);
  });
});

describe('the load balancer', () => {
  const server = (port: number) => {
    const start = nginxConf.indexOf(`listen ${port};`);
    const next = nginxConf.indexOf('\nserver {', start);
    return nginxConf.slice(start, next < 0 ? undefined : next);
  };

  it('spreads the API over both hubs and takes a failed one out', () => {
    expect(nginxConf).toMatch(/server hub-a:8080 resolve max_fails=1 fail_timeout=5s;/);
    expect(nginxConf).toMatch(/server hub-b:8080 resolve max_fails=1 fail_timeout=5s;/);
    expect(services.lb?.ports).toEqual(['8080:8080']);
    expect(services.lb?.volumes).toContain('./deploy/nginx/gridhub.conf:/etc/nginx/conf.d/default.conf:ro');
  });

  it('streams the boards unbuffered and refuses the hooks on the public port', () => {
    const pub = server(8080);
    const sse = pub.slice(pub.indexOf('location /api/alerts/stream'));
    expect(sse.slice(0, sse.indexOf('}'))).toMatch(/proxy_buffering off;/);
    expect(pub).toMatch(/location \/broker\/ \{\s+return 404;/);
    expect(pub).toMatch(/location \/mqtt \{\s+proxy_pass http:\/\/gridhub_emqx_ws;/);
  });

  it('serves the hooks to EMQX on the internal port only, retried on the other hub', () => {
    const internal = server(8081);
    expect(internal).toMatch(/location \/broker\/ \{[^}]*proxy_pass http:\/\/gridhub_hubs;/);
    expect(internal).toMatch(/non_idempotent/);
    expect(BROKER_HOOK_PATHS.authn.startsWith('/broker/')).toBe(true);
    expect(BROKER_HOOK_PATHS.authz.startsWith('/broker/')).toBe(true);
  });

  it('mounts only files that exist in the repository', () => {
    for (const [name, s] of ha)
      for (const v of s.volumes ?? []) {
        const host = v.split(':')[0] ?? '';
        if (host.startsWith('./')) expect(existsSync(new URL(host, root)), `${name}: ${host}`).toBe(true);
      }
  });
});
