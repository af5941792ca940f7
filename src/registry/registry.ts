import type { Catalogue } from '../catalogue/catalogue.ts';
import type { Clock } from '../clock/clock.ts';
import { type Db, migrate } from '../storage/sqlite.ts';
import { DeviceStore } from './devices.ts';
import { createPeopleStore, type PeopleStore } from './people.ts';
import { PlaceStore } from './places.ts';
import { REGISTRY_MIGRATIONS } from './schema.ts';
import { DeviceSecretHasher } from './secrets.ts';
import { UserStore } from './users.ts';

const DEFAULT_TIME_ZONE = 'Asia/Shanghai';

/** The registry: places, devices, people and users, over the hub's SQLite database. */
export interface Registry {
  places: PlaceStore;
  devices: DeviceStore;
  people: PeopleStore;
  users: UserStore;
}

export interface RegistryOptions {
  /** The community's time zone, in which weekly duty shifts are kept (IANA name). */
  timeZone?: string;
  /**
   * The server key for device-secret hashes (`loadServerKey` of the data dir). Required: a key made up here
   * would hash secrets that no later process, nor another one on the same file, could verify.
   */
  secretKey: Buffer;
  /** scrypt N for passwords (default OWASP's 2^17). */
  passwordCost?: number;
}

export function createRegistry(
  db: Db,
  catalogue: Catalogue,
  clock: Clock,
  options: RegistryOptions,
): Registry {
  migrate(db, 'registry', REGISTRY_MIGRATIONS);
  const places = new PlaceStore(db);
  const hasher = new DeviceSecretHasher(options.secretKey);
  return {
    places,
    devices: new DeviceStore(db, places, catalogue, hasher),
    people: createPeopleStore(db, places, { timeZone: options.timeZone ?? DEFAULT_TIME_ZONE }),
    users: new UserStore(db, () => clock.now(), {
      ...(options.passwordCost ? { passwordCost: options.passwordCost } : {}),
    }),
  };
}

export type { DeviceStore, PeopleStore, PlaceStore, UserStore };
