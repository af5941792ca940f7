import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hubUrls } from '../../scripts/flows.ts';

describe('npm run flows finds the hub', () => {
  it('at the ports of its configuration, not an assumed 8080/1883', () => {
    expect(hubUrls({ GRIDHUB_HTTP_PORT: '9090', GRIDHUB_MQTT_PORT: '2883' })).toEqual({
      httpUrl: 'http://127.0.0.1:9090',
      mqttUrl: 'mqtt://127.0.0.1:2883',
    });
  });

  it('from the config file the hub reads, and loopback for a hub on every interface', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gridhub-flows-'));
    const file = join(dir, 'gridhub.config.yaml');
    writeFileSync(file, 'host: 0.0.0.0\nhttp:\n  port: 8181\nmqtt:\n  port: 1999\n');
    expect(hubUrls({ GRIDHUB_CONFIG: file })).toEqual({
      httpUrl: 'http://127.0.0.1:8181',
      mqttUrl: 'mqtt://127.0.0.1:1999',
    });
  });

  it('an explicit URL still wins', () => {
    expect(
      hubUrls({ GRIDHUB_HTTP_URL: 'http://hub.local:80/', GRIDHUB_MQTT_URL: 'mqtt://hub.local' }),
    ).toEqual({
      httpUrl: 'http://hub.local:80',
      mqttUrl: 'mqtt://hub.local',
    });
  });
});
