import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { WIRE_JSON, wireContractJson } from '../../scripts/wire-schema.ts';
import { INTEGRATION_READINGS_PREFIX } from '../../src/domain/wire.ts';

const client = createRequire(import.meta.url)(
  '../../node-red/node-red-contrib-gridhub/lib/hub-client.js',
) as {
  READINGS_PREFIX: string;
  isReading(value: unknown): boolean;
};

describe('the wire contract the Node-RED nodes read', () => {
  it('is what `npm run wire` writes from src/domain/wire.ts (run it after changing the contract)', () => {
    expect(JSON.parse(readFileSync(WIRE_JSON, 'utf8'))).toEqual(JSON.parse(wireContractJson()));
  });

  it('gives the nodes the hub’s topics and the shape of a reading', () => {
    expect(client.READINGS_PREFIX).toBe(INTEGRATION_READINGS_PREFIX);
    const base = {
      deviceId: 'bin-001',
      deviceType: 'bin',
      placeId: 'E1',
      place: { grid: 'G1', estate: 'E1' },
      floor: null,
      ts: 1,
      receivedAt: 1,
      qos: 0,
    };
    expect(client.isReading({ ...base, kind: 'telemetry', values: { fill: 91 } })).toBe(true);
    expect(client.isReading({ ...base, kind: 'event', event: 'press', data: {} })).toBe(true);
    expect(client.isReading({ ...base, kind: 'event', event: 'press' })).toBe(false);
    expect(client.isReading({ ...base, kind: 'weather', values: {} })).toBe(false);
    expect(client.isReading('online')).toBe(false);
  });
});
