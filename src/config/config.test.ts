import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, environmentKeys, loadConfig } from './config.ts';

const emptyDir = () => mkdtempSync(join(tmpdir(), 'gridhub-config-'));

describe('loadConfig', () => {
  it('has working defaults with no file and no environment', () => {
    const c = loadConfig({}, emptyDir());
    expect(c).toMatchObject({
      dataDir: './data',
      host: '127.0.0.1',
      http: { port: 8080 },
      mqtt: { port: 1883 },
    });
    expect(c.influx.url).toBeUndefined();
  });

  it('maps GRIDHUB_* variables onto sections and coerces types', () => {
    const c = loadConfig(
      {
        GRIDHUB_DATA_DIR: '/srv/gridhub',
        GRIDHUB_MQTT_PORT: '1999',
        GRIDHUB_HTTP_PORT: '9090',
        GRIDHUB_HOST: '0.0.0.0',
        GRIDHUB_DEMO: 'false',
        GRIDHUB_MQTT_MAX_PACKET_BYTES: '65536',
        GRIDHUB_MQTT_CONNECT_TIMEOUT_MS: '5s',
        GRIDHUB_INFLUX_URL: 'http://127.0.0.1:8086',
        GRIDHUB_INFLUX_API: 'v1',
      },
      emptyDir(),
    );
    expect(c).toMatchObject({
      dataDir: '/srv/gridhub',
      host: '0.0.0.0',
      demo: false,
      http: { port: 9090 },
      mqtt: { port: 1999, maxPacketBytes: 65536, connectTimeoutMs: 5000 },
      influx: { url: 'http://127.0.0.1:8086', api: 'v1' },
    });
  });

  it('reads a YAML config file, with the environment taking precedence', () => {
    const dir = emptyDir();
    writeFileSync(join(dir, 'gridhub.config.yaml'), 'http:\n  port: 8181\nmqtt:\n  port: 1884\n');
    const c = loadConfig({ GRIDHUB_MQTT_PORT: '1885' }, dir);
    expect(c.http.port).toBe(8181);
    expect(c.mqtt.port).toBe(1885);
  });

  it('names the key, its variable and what is allowed for each bad value', () => {
    try {
      loadConfig({ GRIDHUB_MQTT_PORT: 'abc', GRIDHUB_INFLUX_API: 'v3', GRIDHUB_DEMO: 'maybe' }, emptyDir());
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      const text = (err as ConfigError).message;
      expect(text).toContain('mqtt.port (from GRIDHUB_MQTT_PORT)');
      expect(text).toMatch(/influx\.api \(from GRIDHUB_INFLUX_API\): .*"v2"\|"v1"/);
      expect(text).toContain('demo (from GRIDHUB_DEMO)');
    }
  });

  it('refuses a config file that is not a mapping, naming the file', () => {
    const dir = emptyDir();
    writeFileSync(join(dir, 'gridhub.config.yaml'), '- 1\n- 2\n');
    expect(() => loadConfig({}, dir)).toThrow(/gridhub\.config\.yaml: expected a mapping/);
  });

  it('refuses an explicit GRIDHUB_CONFIG that does not exist', () => {
    expect(() => loadConfig({ GRIDHUB_CONFIG: 'nope.yaml' }, emptyDir())).toThrow(
      /GRIDHUB_CONFIG: file nope.yaml/,
    );
  });

  it('documents an environment variable for every setting', () => {
    const names = environmentKeys().map((k) => k.env);
    expect(names).toEqual(
      expect.arrayContaining(['GRIDHUB_DATA_DIR', 'GRIDHUB_MQTT_PORT', 'GRIDHUB_HTTP_PORT']),
    );
    expect(new Set(names).size).toBe(names.length);
  });
});
