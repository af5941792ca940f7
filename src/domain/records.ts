import type { DeviceTypeId } from '../catalogue/types.ts';
import type { Place, PlacePath } from './places.ts';

export const PERSON_ROLES = [
  'grid_leader', // 网格长
  'grid_worker', // 专职网格员
  'grid_worker_parttime', // 兼职网格员
  'grid_instructor', // 网格指导员
  'building_head', // 楼栋长
  'volunteer',
  'property_duty', // 物业值班
  'community_duty', // 社区值班
  'street_command', // 街道指挥中心
  'department', // 职能部门
] as const;
export type PersonRole = (typeof PERSON_ROLES)[number];

export const DEPARTMENTS = ['fire', 'police', 'sanitation', 'civil_affairs', 'medical', 'elevator'] as const;
export type Department = (typeof DEPARTMENTS)[number];

export const USER_ROLES = ['admin', 'manager', 'worker', 'department', 'integration'] as const;
export type UserRole = (typeof USER_ROLES)[number];

export interface Contact {
  channel: string;
  target: string;
}

export interface DeviceRecord {
  id: string;
  type: DeviceTypeId;
  placeId: string;
  place: PlacePath;
  floor: number | null;
  label: string | null;
  enabled: boolean;
  createdAt: number;
  lastSeen: number | null;
  online: boolean;
  onlineChangedAt: number | null;
}

export interface Person {
  id: string;
  name: string;
  role: PersonRole;
  department: Department | null;
  phone: string | null;
  contacts: Contact[];
  deputyId: string | null;
  active: boolean;
  /** Places the person serves (grid ids for grid teams; community/street ids for duty staff). */
  placeIds: string[];
}

export interface DutyShift {
  personId: string;
  weekday: number;
  startMinute: number;
  endMinute: number;
}

export interface DutyOverride {
  id: number;
  personId: string;
  startsAt: number;
  endsAt: number;
  onLeave: boolean;
  note: string | null;
}

export interface User {
  username: string;
  role: UserRole;
  personId: string | null;
  displayName: string;
  locale: string;
  enabled: boolean;
  /** Root places of the user's scope; empty for admins (who see everything). */
  scope: string[];
}

export interface PlaceNode extends Place {
  path: PlacePath;
}

/**
 * A resident behind a call-button device. Phone numbers and health notes are personal data: masked except for
 * those acting on the alert, every unmasked read audited.
 */
export interface Resident {
  id: string;
  name: string;
  phone: string | null;
  familyName: string | null;
  familyPhone: string | null;
  healthNotes: string | null;
  deviceId: string | null;
  placeId: string | null;
  updatedAt: number;
}

export type ResidentInput = Omit<Resident, 'updatedAt'>;
