import type { Generated } from 'kysely';
import type { DeviceTypeId } from '../catalogue/types.ts';
import type { PlaceLevel } from '../domain/places.ts';
import type { UserRole } from '../domain/records.ts';

/** The registry's tables as Kysely sees them, on both stores (flags 0/1, instants epoch ms). */
export interface PlaceTable {
  id: string;
  level: PlaceLevel;
  name: string;
  parent_id: string | null;
  /** JSON PlacePath */
  path: string;
}

export interface PlaceLayoutTable {
  place_id: string;
  x: number | null;
  y: number | null;
  floors: number | null;
}

export interface DeviceTable {
  id: string;
  type: DeviceTypeId;
  place_id: string;
  floor: number | null;
  label: string | null;
  secret_hash: string;
  enabled: number;
  created_at: number;
  last_seen: number | null;
  online: number;
  online_changed_at: number | null;
}

export interface PersonTable {
  id: string;
  name: string;
  role: string;
  department: string | null;
  phone: string | null;
  /** JSON Contact[] */
  contacts: string;
  deputy_id: string | null;
  active: number;
}

export interface PersonPlaceTable {
  person_id: string;
  place_id: string;
}

export interface DutyShiftTable {
  id: Generated<number>;
  person_id: string;
  weekday: number;
  start_minute: number;
  end_minute: number;
}

export interface DutyOverrideTable {
  id: Generated<number>;
  person_id: string;
  starts_at: number;
  ends_at: number;
  on_leave: number;
  note: string | null;
}

export interface UserTable {
  username: string;
  /** `scrypt$…`, or `none$` for an account that logs in with tokens only */
  password_hash: string;
  role: UserRole;
  person_id: string | null;
  display_name: string;
  locale: string;
  enabled: number;
  created_at: number;
  /** JSON IntegrationPolicy */
  integration_policy: string | null;
}

export interface UserScopeTable {
  username: string;
  place_id: string;
}

export interface ApiTokenTable {
  /** SHA-256 of the token (base64url); its first 16 characters are the token's id */
  token_hash: string;
  username: string;
  kind: 'session' | 'api';
  label: string | null;
  created_at: number;
  expires_at: number | null;
}

export interface StreamTicketTable {
  /** SHA-256 of the ticket (base64url) */
  ticket_hash: string;
  /** the id of the token the ticket was asked with */
  token_id: string;
  username: string;
  expires_at: number;
}

export interface RegistryTables {
  places: PlaceTable;
  place_layout: PlaceLayoutTable;
  devices: DeviceTable;
  people: PersonTable;
  person_places: PersonPlaceTable;
  duty_shifts: DutyShiftTable;
  duty_overrides: DutyOverrideTable;
  users: UserTable;
  user_scopes: UserScopeTable;
  api_tokens: ApiTokenTable;
  stream_tickets: StreamTicketTable;
}
