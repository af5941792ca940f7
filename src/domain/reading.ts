import type { DeviceTypeId } from '../catalogue/types.ts';
import type { PlacePath } from './places.ts';

export type FieldValue = number | boolean | string;

interface ReadingBase {
  deviceId: string;
  deviceType: DeviceTypeId;
  /** Id of the place the device is installed at, and that place's ancestry by level. */
  placeId: string;
  place: PlacePath;
  floor: number | null;
  /** Device time when the payload carried `ts`, else the hub's receive time; epoch ms. */
  ts: number;
  /**
   * True when `ts` came from the payload. Absent when the hub stamped its receive time: the telemetry stores
   * then give the reading a point time no other reading of its series has (src/telemetry/timestamps.ts).
   */
  deviceTs?: true;
  receivedAt: number;
  qos: 0 | 1;
}

export interface TelemetryReading extends ReadingBase {
  kind: 'telemetry';
  values: Record<string, FieldValue>;
}

export interface EventReading extends ReadingBase {
  kind: 'event';
  event: string;
  data: Record<string, FieldValue>;
  /** Journal row id when the event arrived at QoS 1 and was recorded before the PUBACK. */
  journalId?: number;
  /** The device's own identity for the event (`eventId` in the payload), when it sent one. */
  eventId?: string;
}

export interface StatusReading extends ReadingBase {
  kind: 'status';
  status: 'online' | 'offline';
  /** `will` when the broker published the device's will message, `device` when the device said so. */
  source: 'device' | 'will' | 'keepalive';
}

/** One validated, normalised message from a device: the unit that flows from ingest into the rules. */
export type Reading = TelemetryReading | EventReading | StatusReading;
