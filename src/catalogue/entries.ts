import type { CatalogueEntry, FieldSpec } from './types.ts';

const HOUR = 3_600_000;
const MINUTE = 60_000;

const battery: FieldSpec = { kind: 'number', unit: '%', min: 0, max: 100, description: 'battery charge' };
const rssi: FieldSpec = {
  kind: 'number',
  unit: 'dBm',
  min: -140,
  max: 0,
  description: 'radio signal strength',
};
const online: FieldSpec = { kind: 'boolean', description: 'device reports itself working' };
const confidence: FieldSpec = {
  kind: 'number',
  min: 0,
  max: 1,
  description: 'detection confidence',
  required: true,
};

export const CATALOGUE_ENTRIES: readonly CatalogueEntry[] = [
  {
    id: 'smoke',
    name: { en: 'Smoke sensor', 'zh-CN': '烟感' },
    telemetry: {
      alarm: { kind: 'boolean', description: 'sensor is in alarm' },
      smoke: { kind: 'number', unit: 'dB/m', min: 0, max: 2, description: 'smoke obscuration' },
      temperature: { kind: 'number', unit: '°C', min: -40, max: 150, description: 'air temperature' },
      battery,
      rssi,
    },
    events: {
      alarm: { description: 'smoke alarm sounded', data: {} },
      alarm_clear: { description: 'alarm stopped', data: {} },
      tamper: { description: 'sensor removed or opened', data: {} },
      test: { description: 'test button pressed', data: {} },
    },
    heartbeatMs: 4 * HOUR,
    safety: true,
    measurement: 'smoke',
  },
  {
    id: 'throw_camera',
    name: { en: 'Anti-throw-from-height camera', 'zh-CN': '高空抛物探头' },
    telemetry: { online },
    events: {
      throw_detected: {
        description: 'object thrown from height detected',
        data: {
          confidence,
          floor: {
            kind: 'number',
            integer: true,
            min: -5,
            max: 200,
            description: 'estimated floor of origin',
          },
          facade: { kind: 'string', maxLength: 64, description: 'facade of the building, e.g. south' },
          clipId: { kind: 'string', maxLength: 128, description: 'id of the recorded video clip' },
        },
      },
    },
    heartbeatMs: MINUTE,
    safety: false,
    measurement: 'throw_camera',
  },
  {
    id: 'ebike_elevator',
    name: { en: 'E-bike-in-elevator detector', 'zh-CN': '电动车进电梯' },
    telemetry: { online },
    events: {
      ebike_detected: {
        description: 'an e-bike entered the elevator',
        data: {
          confidence,
          elevatorId: { kind: 'string', maxLength: 64, description: 'elevator id', required: true },
          doorHeld: { kind: 'boolean', description: 'the doors are being held open' },
        },
      },
      ebike_cleared: { description: 'the e-bike left the elevator', data: {} },
    },
    heartbeatMs: MINUTE,
    safety: false,
    measurement: 'ebike_elevator',
  },
  {
    id: 'bin',
    name: { en: 'Overflowing-bin sensor', 'zh-CN': '垃圾满溢' },
    telemetry: {
      fill: { kind: 'number', unit: '%', min: 0, max: 100, description: 'fill level' },
      temperature: { kind: 'number', unit: '°C', min: -40, max: 200, description: 'temperature in the bin' },
      tilt: { kind: 'boolean', description: 'bin tipped over' },
      battery,
    },
    events: {},
    heartbeatMs: 15 * MINUTE,
    safety: false,
    measurement: 'bin',
  },
  {
    id: 'call_button',
    name: { en: 'Elderly one-key-call button', 'zh-CN': '一键呼叫' },
    telemetry: { battery },
    events: {
      press: { description: 'the resident pressed the call button', data: {} },
      cancel: { description: 'the resident cancelled the call', data: {} },
      fall: { description: 'a fall was detected', data: {} },
    },
    heartbeatMs: HOUR,
    safety: true,
    measurement: 'call_button',
  },
];
