import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { environmentKeys, loadConfig } from '../../src/config/config.ts';

interface Service {
  image?: string;
  profiles?: string[];
  build?: unknown;
  environment?: Record<string, string>;
  ports?: string[];
  volumes?: string[];
}

const root = new URL('../../', import.meta.url);
const compose = parse(readFileSync(new URL('docker-compose.yml', root), 'utf8')) as {
  services: Record<string, Service>;
};
/** `${NAME:-default}` as docker compose resolves it without a .env file. */
const resolveDefaults = (env: Record<string, string>) =>
  Object.fromEntries(
    Object.entries(env).map(([k, v]) => [k, String(v).replace(/\$\{[A-Z_]+:-([^}]*)\}/g, '$1')]),
  );

describe('docker-compose.yml', () => {
  it('runs the hub, InfluxDB 2, Grafana and Node-RED', () => {
    // what `docker compose up` starts; the `ha` profile is test/deploy/ha-profile.test.ts
    const started = Object.entries(compose.services).filter(([, s]) => !s.profiles);
    expect(started.map(([name]) => name).sort()).toEqual(['grafana', 'hub', 'influxdb', 'node-red']);
    expect(compose.services.influxdb?.image).toMatch(/^influxdb:2\./);
    // Node-RED is built from node-red/Dockerfile (nodered/node-red 4.1 with the GridHub nodes installed).
    expect(compose.services['node-red']?.build).toMatchObject({ dockerfile: 'node-red/Dockerfile' });
    expect(compose.services.hub?.build).toBeDefined();
  });

  it('gives the hub only settings its config knows, and they load', () => {
    const env = resolveDefaults(compose.services.hub?.environment ?? {});
    const known = new Set(environmentKeys().map((k) => k.env));
    for (const name of Object.keys(env))
      expect(known.has(name), `${name} is not a GridHub setting`).toBe(true);
    const config = loadConfig(env, '/');
    expect(config.host).toBe('0.0.0.0');
    expect(config.influx.url).toBe('http://influxdb:8086');
    expect(config.influx.token).toBe(
      compose.services.influxdb?.environment?.DOCKER_INFLUXDB_INIT_ADMIN_TOKEN?.replace(
        /\$\{[A-Z_]+:-([^}]*)\}/,
        '$1',
      ),
    );
  });

  it('exposes only the hub, Grafana, and Node-RED on loopback', () => {
    expect(compose.services.influxdb?.ports).toBeUndefined();
    expect(compose.services.grafana?.ports).toEqual(['3000:3000']);
    for (const p of compose.services['node-red']?.ports ?? []) expect(p).toMatch(/^127\.0\.0\.1:/);
  });

  it('mounts the Grafana provisioning and dashboards that exist in the repository', () => {
    for (const v of compose.services.grafana?.volumes ?? []) {
      const host = v.split(':')[0] ?? '';
      if (host.startsWith('./')) expect(existsSync(new URL(host, root)), host).toBe(true);
    }
  });
});
