import { describe, expect, it } from 'vitest';
import { createCatalogue, type FieldSpec } from '../catalogue/catalogue.ts';
import type { DeviceRecord } from '../domain/records.ts';
import { type DecodeInput, decodeMessage, MIN_TIMESTAMP, parseTimestamp } from './decode.ts';

const NOW = Date.UTC(2026, 0, 5, 8, 0, 0);
const HOUR = 3_600_000;

describe('parseTimestamp', () => {
  it.each<[unknown, number | undefined]>([
    ['2026-01-05T07:00:00Z', Date.UTC(2026, 0, 5, 7)],
    ['2026-01-05T07:00Z', Date.UTC(2026, 0, 5, 7)],
    ['2026-01-05T15:00:00.5+08:00', Date.UTC(2026, 0, 5, 7, 0, 0, 500)],
    ['2026-01-05T15:00:00+0800', Date.UTC(2026, 0, 5, 7)],
    [NOW - 1000, NOW - 1000],
    [NOW + HOUR, NOW + HOUR],
    [NOW + HOUR + 1, undefined],
    [MIN_TIMESTAMP - 1, undefined],
    [1_767_600_000, undefined], // epoch seconds
    [NOW + 0.5, undefined],
    ['2026-01-05', undefined], // no time of day
    ['2026-01-05T07:00:00', undefined], // no zone: ambiguous
    ['2026-13-45T07:00:00Z', undefined],
    ['yesterday', undefined],
    [String(NOW), undefined],
    [null, undefined],
    [true, undefined],
  ])('%j → %s', (value, expected) => {
    expect(parseTimestamp(value, NOW, HOUR)).toBe(expected);
  });
});

describe('decodeMessage', () => {
  const catalogue = createCatalogue();
  const device: DeviceRecord = {
    id: 'smoke-1',
    type: 'smoke',
    placeId: 'bd1',
    place: { street: 's', building: 'bd1' },
    floor: 2,
    label: null,
    enabled: true,
    createdAt: 0,
    lastSeen: null,
    online: true,
    onlineChangedAt: null,
  };
  const input = (channel: DecodeInput['channel'], payload: string): DecodeInput => ({
    channel,
    payload: Buffer.from(payload),
    device,
    entry: catalogue.get('smoke'),
    receivedAt: NOW,
    qos: 0,
    statusSource: 'device',
    maxFutureSkewMs: HOUR,
  });

  it('accepts a telemetry object, taking ts out of the values', () => {
    const d = decodeMessage(input('telemetry', '{"smoke":0.3,"ts":"2026-01-05T07:59:00Z"}'));
    expect(d.rejections).toBeNull();
    expect(d.readings).toEqual([
      expect.objectContaining({
        kind: 'telemetry',
        values: { smoke: 0.3 },
        ts: NOW - 60_000,
        receivedAt: NOW,
      }),
    ]);
  });

  it('refuses prototype-looking keys like any unknown field', () => {
    const d = decodeMessage(input('telemetry', '{"__proto__":{"x":1},"smoke":0.1}'));
    expect(d.readings).toEqual([]);
    expect(d.rejections?.[0]).toMatchObject({ code: 'PAYLOAD_INVALID', field: '__proto__' });
    const e = decodeMessage(input('event', '{"event":"constructor"}'));
    expect(e.rejections?.[0]).toMatchObject({ code: 'EVENT_UNKNOWN' });
  });

  it('takes and refuses telemetry exactly as the catalogue schema does, fields in the catalogue order', () => {
    // The zod-free check of valid payloads must never accept what zod refuses, nor change what it returns.
    const candidates = (spec: FieldSpec): unknown[] => {
      switch (spec.kind) {
        case 'number': {
          const lo = spec.min ?? -1e6;
          const hi = spec.max ?? 1e6;
          return [lo, hi, lo - 0.5, hi + 1, (lo + hi) / 2, Math.floor((lo + hi) / 2), 1e300, -0, '1', true];
        }
        case 'boolean':
          return [true, false, 0, 'true'];
        case 'string':
          return ['', 'x'.repeat(spec.maxLength), 'x'.repeat(spec.maxLength + 1), 5, false];
      }
    };
    let compared = 0;
    for (const entry of catalogue.all()) {
      const names = Object.keys(entry.telemetry);
      const payloads: Record<string, unknown>[] = [{}, { unknown: 1 }];
      for (const name of names) {
        for (const v of candidates(entry.telemetry[name] as FieldSpec)) {
          payloads.push({ [name]: v });
          // Every field present, this one varied, in reverse order: the output order is the catalogue's.
          const all: Record<string, unknown> = {};
          for (const other of [...names].reverse()) {
            const first = candidates(entry.telemetry[other] as FieldSpec)[0];
            all[other] = other === name ? v : first;
          }
          payloads.push(all, { ...all, extra: 1 });
        }
      }
      for (const p of payloads) {
        const zod = entry.telemetrySchema.safeParse(p);
        const d = decodeMessage({ ...input('telemetry', JSON.stringify(p)), entry });
        const values = d.readings[0]?.kind === 'telemetry' ? d.readings[0].values : undefined;
        expect(values === undefined ? undefined : JSON.stringify(values), JSON.stringify(p)).toBe(
          zod.success ? JSON.stringify(zod.data) : undefined,
        );
        compared++;
      }
    }
    expect(compared).toBeGreaterThan(100);
  });

  it('numbers each rejected array element', () => {
    const d = decodeMessage(
      input('event', '[{"event":"alarm"},{"event":"nope"},{"event":"test","extra":1}]'),
    );
    expect(d.readings).toHaveLength(1);
    expect(d.rejections).toEqual([
      expect.objectContaining({ code: 'EVENT_UNKNOWN', field: '[1].event', index: 1 }),
      expect.objectContaining({ code: 'PAYLOAD_INVALID', field: '[2].extra', index: 2 }),
    ]);
  });

  it('reads bare and JSON status', () => {
    expect(decodeMessage(input('status', 'online')).readings[0]).toMatchObject({
      status: 'online',
      source: 'device',
    });
    expect(decodeMessage(input('status', '"offline"')).readings[0]).toMatchObject({ status: 'offline' });
    expect(
      decodeMessage(input('status', '{"status":"offline","ts":1767599000000}')).readings[0],
    ).toMatchObject({
      status: 'offline',
      ts: 1_767_599_000_000,
    });
  });
});

describe('what a refused payload tells the device maker', () => {
  const catalogue = createCatalogue();
  const camera: DeviceRecord = {
    id: 'throw-1',
    type: 'throw_camera',
    placeId: 'bd1',
    place: { street: 's', building: 'bd1' },
    floor: null,
    label: null,
    enabled: true,
    createdAt: 0,
    lastSeen: null,
    online: true,
    onlineChangedAt: null,
  };
  const refuse = (channel: DecodeInput['channel'], payload: string) =>
    decodeMessage({
      channel,
      payload: Buffer.from(payload),
      device: camera,
      entry: catalogue.get('throw_camera'),
      receivedAt: NOW,
      qos: 1,
      statusSource: 'device',
      maxFutureSkewMs: HOUR,
    }).rejections?.[0];
  const throwEvent = (data: Record<string, unknown>) =>
    JSON.stringify({ event: 'throw_detected', data: { confidence: 0.9, ...data } });

  it.each<[string, DecodeInput['channel'], string, { field: string; message: string }]>([
    [
      'a fractional floor: an integer is expected',
      'event',
      throwEvent({ floor: 12.5 }),
      { field: 'data.floor', message: 'data.floor: expected an integer, got 12.5' },
    ],
    [
      'a floor sent as text: an integer is expected',
      'event',
      throwEvent({ floor: '12' }),
      { field: 'data.floor', message: 'data.floor: expected an integer' },
    ],
    [
      'a 70-character facade: too long, at most 64',
      'event',
      throwEvent({ facade: 'x'.repeat(70) }),
      { field: 'data.facade', message: 'data.facade: too long: at most 64 characters, got 70' },
    ],
    [
      'a bare status word that is not online/offline',
      'status',
      'sleeping',
      { field: 'status', message: 'status must be online or offline, got "sleeping"' },
    ],
    [
      'ts in epoch seconds, with the hub time',
      'telemetry',
      JSON.stringify({ online: true, ts: Math.floor(NOW / 1000) }),
      {
        field: 'ts',
        message: `ts ${NOW / 1000} looks like epoch seconds; send epoch milliseconds (${NOW}); the hub's time is 2026-01-05T08:00:00.000Z (${NOW})`,
      },
    ],
    [
      'ts in the future, with the hub time',
      'telemetry',
      JSON.stringify({ online: true, ts: NOW + 2 * HOUR }),
      {
        field: 'ts',
        message: `ts ${NOW + 2 * HOUR} is in the future; the hub's time is 2026-01-05T08:00:00.000Z (${NOW})`,
      },
    ],
  ])('%s', (_name, channel, payload, expected) => {
    expect(refuse(channel, payload)).toMatchObject(expected);
  });
});
