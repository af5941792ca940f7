import { GridHubError } from '../domain/errors.ts';
import type { TokenAuthenticator } from '../domain/ports.ts';
import type { User, UserRole } from '../domain/records.ts';
import type { Db } from '../storage/sqlite.ts';
import { hashSecret, KDF_COST, newSecret, tokenDigest, verifySecret } from './secrets.ts';

interface UserRow {
  username: string;
  password_hash: string;
  role: UserRole;
  person_id: string | null;
  display_name: string;
  locale: string;
  enabled: number;
}

export interface UserInput {
  username: string;
  password: string;
  role: UserRole;
  personId?: string | null;
  displayName?: string;
  locale?: string;
  scope?: string[];
}

const USERNAME = /^[a-z0-9][a-z0-9._-]{1,63}$/;

/** API users, their scopes, and bearer tokens (login sessions and long-lived API tokens). */
export class UserStore implements TokenAuthenticator {
  readonly #db: Db;
  readonly #now: () => number;

  constructor(db: Db, now: () => number) {
    this.#db = db;
    this.#now = now;
  }

  async create(input: UserInput, now: number): Promise<User> {
    if (!USERNAME.test(input.username)) {
      throw new GridHubError('REQUEST_INVALID', 'user name must be 2–64 lower-case letters, digits, . _ -', {
        field: 'username',
      });
    }
    if (input.password.length < 8) {
      throw new GridHubError('REQUEST_INVALID', 'password must have at least 8 characters', {
        field: 'password',
      });
    }
    const hash = await hashSecret(input.password, KDF_COST.password);
    this.#db.transaction(() => {
      this.#db
        .prepare(
          `INSERT INTO users (username, password_hash, role, person_id, display_name, locale, enabled, created_at)
           VALUES (?, ?, ?, ?, ?, ?, 1, ?)`,
        )
        .run(
          input.username,
          hash,
          input.role,
          input.personId ?? null,
          input.displayName ?? input.username,
          input.locale ?? 'zh-CN',
          now,
        );
      const scope = this.#db.prepare('INSERT INTO user_scopes (username, place_id) VALUES (?, ?)');
      for (const placeId of input.scope ?? []) scope.run(input.username, placeId);
    })();
    return this.get(input.username) as User;
  }

  get(username: string): User | undefined {
    const row = this.#db.prepare<[string], UserRow>('SELECT * FROM users WHERE username = ?').get(username);
    return row ? this.#toUser(row) : undefined;
  }

  list(): User[] {
    return this.#db
      .prepare<[], UserRow>('SELECT * FROM users ORDER BY username')
      .all()
      .map((r) => this.#toUser(r));
  }

  /** Check a password; the same answer and about the same time for an unknown user and a wrong password. */
  async verifyPassword(username: string, password: string): Promise<User | undefined> {
    const row = this.#db.prepare<[string], UserRow>('SELECT * FROM users WHERE username = ?').get(username);
    const ok = await verifySecret(password, row?.password_hash ?? DUMMY_HASH);
    return ok && row && row.enabled === 1 ? this.#toUser(row) : undefined;
  }

  issueToken(username: string, kind: 'session' | 'api', now: number, ttlMs?: number, label?: string): string {
    const token = newSecret(32);
    this.#db
      .prepare(
        'INSERT INTO api_tokens (token_hash, username, kind, label, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)',
      )
      .run(tokenDigest(token), username, kind, label ?? null, now, ttlMs === undefined ? null : now + ttlMs);
    return token;
  }

  revokeToken(token: string): void {
    this.#db.prepare('DELETE FROM api_tokens WHERE token_hash = ?').run(tokenDigest(token));
  }

  /** The user owning a live bearer token. */
  authenticateBearer(token: string, now: number): User | undefined {
    const row = this.#db
      .prepare<[string, number], UserRow>(
        `SELECT u.* FROM api_tokens t JOIN users u ON u.username = t.username
         WHERE t.token_hash = ? AND (t.expires_at IS NULL OR t.expires_at > ?) AND u.enabled = 1`,
      )
      .get(tokenDigest(token), now);
    return row ? this.#toUser(row) : undefined;
  }

  authenticateToken(username: string, token: string): User | undefined {
    const user = this.authenticateBearer(token, this.#now());
    return user?.username === username ? user : undefined;
  }

  #toUser(row: UserRow): User {
    const scope = this.#db
      .prepare<[string], { place_id: string }>(
        'SELECT place_id FROM user_scopes WHERE username = ? ORDER BY place_id',
      )
      .all(row.username)
      .map((r) => r.place_id);
    return {
      username: row.username,
      role: row.role,
      personId: row.person_id,
      displayName: row.display_name,
      locale: row.locale,
      enabled: row.enabled === 1,
      scope,
    };
  }
}

/** Verified against when the user does not exist, so that the reply takes as long as for a wrong password. */
const DUMMY_HASH = `scrypt$${KDF_COST.password}$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA`;
