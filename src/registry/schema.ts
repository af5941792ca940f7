/** Registry tables: the place tree, devices, people with their duty, API users and their tokens. */
export const REGISTRY_MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE places (
    id TEXT PRIMARY KEY,
    level TEXT NOT NULL CHECK (level IN ('street','community','grid','estate','building','unit')),
    name TEXT NOT NULL,
    parent_id TEXT REFERENCES places(id),
    -- JSON PlacePath of this node (its own id included), so lookups never walk the tree at run time.
    path TEXT NOT NULL
  );
  CREATE INDEX places_parent ON places(parent_id);

  CREATE TABLE devices (
    id TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    place_id TEXT NOT NULL REFERENCES places(id),
    floor INTEGER,
    label TEXT,
    secret_hash TEXT NOT NULL,
    enabled INTEGER NOT NULL DEFAULT 1,
    created_at INTEGER NOT NULL,
    last_seen INTEGER,
    online INTEGER NOT NULL DEFAULT 0,
    online_changed_at INTEGER
  );
  CREATE INDEX devices_place ON devices(place_id);
  CREATE INDEX devices_type ON devices(type);

  CREATE TABLE people (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    -- for role 'department': which one (fire, police, sanitation, civil_affairs, medical, elevator)
    department TEXT,
    phone TEXT,
    -- JSON: [{ "channel": "mqtt" | "webhook" | "sms" | ..., "target": "..." }]
    contacts TEXT NOT NULL DEFAULT '[]',
    deputy_id TEXT REFERENCES people(id),
    active INTEGER NOT NULL DEFAULT 1
  );

  -- Where a person serves: a grid for grid teams, a community or street for duty staff.
  CREATE TABLE person_places (
    person_id TEXT NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    place_id TEXT NOT NULL REFERENCES places(id),
    PRIMARY KEY (person_id, place_id)
  );
  CREATE INDEX person_places_place ON person_places(place_id);

  -- Weekly shifts in the community's local time: weekday 0 = Sunday … 6; minutes since midnight;
  -- end_minute may exceed 1440 for a night shift running past midnight.
  CREATE TABLE duty_shifts (
    id INTEGER PRIMARY KEY,
    person_id TEXT NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    weekday INTEGER NOT NULL CHECK (weekday BETWEEN 0 AND 6),
    start_minute INTEGER NOT NULL CHECK (start_minute BETWEEN 0 AND 1439),
    end_minute INTEGER NOT NULL CHECK (end_minute > start_minute AND end_minute <= 2880)
  );
  CREATE INDEX duty_shifts_person ON duty_shifts(person_id);

  -- Dated exceptions: on duty (leave = 0) or on leave (leave = 1) between two instants (epoch ms).
  CREATE TABLE duty_overrides (
    id INTEGER PRIMARY KEY,
    person_id TEXT NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    starts_at INTEGER NOT NULL,
    ends_at INTEGER NOT NULL CHECK (ends_at > starts_at),
    on_leave INTEGER NOT NULL DEFAULT 0,
    note TEXT
  );
  CREATE INDEX duty_overrides_person ON duty_overrides(person_id);

  CREATE TABLE users (
    username TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin','manager','worker','department','integration')),
    person_id TEXT REFERENCES people(id),
    display_name TEXT NOT NULL,
    locale TEXT NOT NULL DEFAULT 'zh-CN',
    enabled INTEGER NOT NULL DEFAULT 1,
    created_at INTEGER NOT NULL
  );

  -- Places a user may see: a manager's subtree roots, a worker's grids. Admins see everything.
  CREATE TABLE user_scopes (
    username TEXT NOT NULL REFERENCES users(username) ON DELETE CASCADE,
    place_id TEXT NOT NULL REFERENCES places(id),
    PRIMARY KEY (username, place_id)
  );

  -- Bearer tokens: login sessions and long-lived API tokens (also the MQTT password of workers and
  -- integrations). Only a SHA-256 of the token is stored.
  CREATE TABLE api_tokens (
    token_hash TEXT PRIMARY KEY,
    username TEXT NOT NULL REFERENCES users(username) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('session','api')),
    label TEXT,
    created_at INTEGER NOT NULL,
    expires_at INTEGER
  );
  CREATE INDEX api_tokens_user ON api_tokens(username);
  `,
  // API tokens end: those issued before they had a lifetime get 90 days from now.
  `
  UPDATE api_tokens SET expires_at = CAST(strftime('%s', 'now') AS INTEGER) * 1000 + 90 * 86400000
  WHERE expires_at IS NULL;
  `,
  // What an integration may do beyond its place scope: JSON { maxSeverity, deviceTypes? }; NULL = defaults.
  `
  ALTER TABLE users ADD COLUMN integration_policy TEXT;
  `,
];
