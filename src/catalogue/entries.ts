import type { CatalogueEntry, FieldSpec } from './types.ts';

const HOUR = 3_600_000;
const MINUTE = 60_000;

const battery: FieldSpec = {
  label: { en: 'Battery', 'zh-CN': '电量' },
  kind: 'number',
  unit: '%',
  min: 0,
  max: 100,
  description: 'battery charge',
};
const rssi: FieldSpec = {
  label: { en: 'Signal', 'zh-CN': '信号强度' },
  kind: 'number',
  unit: 'dBm',
  min: -140,
  max: 0,
  description: 'radio signal strength',
};
const online: FieldSpec = {
  label: { en: 'Online', 'zh-CN': '在线' },
  kind: 'boolean',
  description: 'device reports itself working',
};
const confidence: FieldSpec = {
  label: { en: 'Confidence', 'zh-CN': '置信度' },
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
      alarm: {
        label: { en: 'Alarm', 'zh-CN': '报警状态' },
        kind: 'boolean',
        description: 'sensor is in alarm',
      },
      smoke: {
        label: { en: 'Smoke', 'zh-CN': '烟雾浓度' },
        kind: 'number',
        unit: 'dB/m',
        min: 0,
        max: 2,
        description: 'smoke obscuration',
      },
      temperature: {
        label: { en: 'Temperature', 'zh-CN': '温度' },
        kind: 'number',
        unit: '°C',
        min: -40,
        max: 150,
        description: 'air temperature',
      },
      battery,
      rssi,
    },
    events: {
      alarm: {
        label: { en: 'Smoke alarm', 'zh-CN': '烟感报警' },
        description: 'smoke alarm sounded',
        data: {},
      },
      alarm_clear: {
        label: { en: 'Alarm cleared', 'zh-CN': '报警解除' },
        description: 'alarm stopped',
        data: {},
      },
      tamper: {
        label: { en: 'Tampered with', 'zh-CN': '设备被拆' },
        description: 'sensor removed or opened',
        data: {},
      },
      test: { label: { en: 'Test', 'zh-CN': '测试' }, description: 'test button pressed', data: {} },
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
        label: { en: 'Throw from height', 'zh-CN': '检测到高空抛物' },
        description: 'object thrown from height detected',
        data: {
          confidence,
          floor: {
            label: { en: 'Floor', 'zh-CN': '楼层' },
            kind: 'number',
            integer: true,
            min: -5,
            max: 200,
            description: 'estimated floor of origin',
          },
          facade: {
            label: { en: 'Facade', 'zh-CN': '立面' },
            kind: 'string',
            maxLength: 64,
            description: 'facade of the building, e.g. south',
          },
          clipId: {
            label: { en: 'Video clip', 'zh-CN': '视频片段' },
            kind: 'string',
            maxLength: 128,
            description: 'id of the recorded video clip',
          },
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
        label: { en: 'E-bike in the elevator', 'zh-CN': '电动车进电梯' },
        description: 'an e-bike entered the elevator',
        data: {
          confidence,
          elevatorId: {
            label: { en: 'Elevator', 'zh-CN': '电梯编号' },
            kind: 'string',
            maxLength: 64,
            description: 'elevator id',
            required: true,
          },
          doorHeld: {
            label: { en: 'Doors held', 'zh-CN': '梯门被挡' },
            kind: 'boolean',
            description: 'the doors are being held open',
          },
        },
      },
      ebike_cleared: {
        label: { en: 'E-bike left', 'zh-CN': '电动车已离开' },
        description: 'the e-bike left the elevator',
        data: {},
      },
    },
    heartbeatMs: MINUTE,
    safety: false,
    measurement: 'ebike_elevator',
  },
  {
    id: 'bin',
    name: { en: 'Overflowing-bin sensor', 'zh-CN': '垃圾满溢' },
    telemetry: {
      fill: {
        label: { en: 'Fill level', 'zh-CN': '满溢度' },
        kind: 'number',
        unit: '%',
        min: 0,
        max: 100,
        description: 'fill level',
      },
      temperature: {
        label: { en: 'Temperature', 'zh-CN': '温度' },
        kind: 'number',
        unit: '°C',
        min: -40,
        max: 200,
        description: 'temperature in the bin',
      },
      tilt: {
        label: { en: 'Tipped over', 'zh-CN': '倾倒' },
        kind: 'boolean',
        description: 'bin tipped over',
      },
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
      press: {
        label: { en: 'Call pressed', 'zh-CN': '一键呼叫' },
        description: 'the resident pressed the call button',
        data: {},
      },
      cancel: {
        label: { en: 'Call cancelled by the resident', 'zh-CN': '居民取消呼叫' },
        description: 'the resident cancelled the call',
        data: {},
      },
      fall: { label: { en: 'Fall detected', 'zh-CN': '跌倒' }, description: 'a fall was detected', data: {} },
    },
    heartbeatMs: HOUR,
    safety: true,
    measurement: 'call_button',
  },
];
