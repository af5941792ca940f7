import type { DeviceTypeId } from '../catalogue/types.ts';
import type { PlaceLevel } from '../domain/places.ts';

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

export interface RegistryTables {
  places: PlaceTable;
  place_layout: PlaceLayoutTable;
  devices: DeviceTable;
}
