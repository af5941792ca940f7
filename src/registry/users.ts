import type Database from 'better-sqlite3';
import { GridHubError } from '../domain/errors.ts';
import type { TokenAuthenticator } from '../domain/ports.ts';
import type { User, UserRole } from '../domain/records.ts';
import type { Db } from '../storage/sqlite.ts';
import { hashSecret, needsRehash, newSecret, PASSWORD_COST, tokenDigest, verifySecret } from './secrets.ts';

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
  /** null: an account that logs in with API tokens only (integrations, phones); no password works for it. */
  password: string | null;
  role: UserRole;
  personId?: string | null;
  displayName?: string;
  locale?: string;
  scope?: string[];
}

const USERNAME = /^[a-z0-9][a-z0-9._-]{1,63}$/;

export interface IntegrationPolicy {
  maxSeverity: 'critical' | 'major' | 'minor';
  /** Device types its alerts may concern; absent = any in its scope. */
  deviceTypes?: string[];
}

/** One bearer token as its owner and admins see it: never the token itself. */
export interface TokenInfo {
  /** A prefix of the token's SHA-256: names it for listing and revoking, reveals nothing of it. */
  id: string;
  username: string;
  kind: 'session' | 'api';
  label: string | null;
  createdAt: number;
  expiresAt: number | null;
}

interface TokenRow {
  token_hash: string;
  username: string;
  kind: 'session' | 'api';
  label: string | null;
  created_at: number;
  expires_at: number | null;
}

const TOKEN_ID_LENGTH = 16;
export const tokenIdOf = (token: string): string => tokenDigest(token).slice(0, TOKEN_ID_LENGTH);

/** Called with the ids of revoked tokens, so open channels that used them (SSE, MQTT) are closed. */
export type RevocationListener = (tokenIds: readonly string[]) => void;

/** A short-lived ticket for one SSE connection: EventSource cannot send a header, and a URL ends up in logs. */
interface StreamTicket {
  tokenId: string;
  username: string;
  expiresAt: number;
}
const TICKET_TTL_MS = 30_000;
const DEFAULT_TOKEN_TTL_MS = 90 * 86_400_000;
const MAX_TICKETS = 10_000;

/** API users, their scopes, and bearer tokens (login sessions and long-lived API tokens). */
export class UserStore implements TokenAuthenticator {
  readonly #db: Db;
  readonly #now: () => number;
  readonly #passwordCost: number;
  readonly #revocationListeners = new Set<RevocationListener>();
  readonly #tickets = new Map<string, StreamTicket>();

  constructor(db: Db, now: () => number, options: { passwordCost?: number } = {}) {
    this.#db = db;
    this.#now = now;
    this.#passwordCost = options.passwordCost ?? PASSWORD_COST;
  }

  async create(input: UserInput, now: number): Promise<User> {
    if (!USERNAME.test(input.username)) {
      throw new GridHubError('REQUEST_INVALID', 'user name must be 2–64 lower-case letters, digits, . _ -', {
        field: 'username',
      });
    }
    if (input.password !== null && input.password.length < 8) {
      throw new GridHubError('REQUEST_INVALID', 'password must have at least 8 characters', {
        field: 'password',
      });
    }
    // token-only accounts pay no KDF: `none$` matches no password (verifySecret knows only scrypt$…)
    const hash = input.password === null ? 'none$' : await hashSecret(input.password, this.#passwordCost);
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

  #localeStmt: Database.Statement<[string], { locale: string }> | undefined;

  /**
   * The language a person reads messages in: their account's (a phone, a board), if they have one. Asked for
   * every recipient of every alarm: one statement, not the list of users with their scopes.
   */
  localeOfPerson(personId: string): string | undefined {
    this.#localeStmt ??= this.#db.prepare<[string], { locale: string }>(
      'SELECT locale FROM users WHERE person_id = ? ORDER BY username LIMIT 1',
    );
    return this.#localeStmt.get(personId)?.locale;
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
    const ok = await verifySecret(password, row?.password_hash ?? dummyHash(this.#passwordCost));
    if (!ok || !row || row.enabled !== 1) return undefined;
    if (needsRehash(row.password_hash, this.#passwordCost)) {
      // The password is in hand only now: store it at today's cost (OWASP scrypt N=2^17) for the next login.
      const fresh = await hashSecret(password, this.#passwordCost);
      this.#db
        .prepare('UPDATE users SET password_hash = ? WHERE username = ? AND password_hash = ?')
        .run(fresh, username, row.password_hash);
    }
    return this.#toUser(row);
  }

  /** An integration's limits beyond its scope: the highest severity it may raise, the device types it may. */
  setIntegrationPolicy(username: string, policy: IntegrationPolicy): void {
    this.#db
      .prepare('UPDATE users SET integration_policy = ? WHERE username = ?')
      .run(JSON.stringify(policy), username);
  }

  integrationPolicy(username: string): IntegrationPolicy {
    const row = this.#db
      .prepare<[string], { integration_policy: string | null }>(
        'SELECT integration_policy FROM users WHERE username = ?',
      )
      .get(username);
    // integrations made before policies existed: no critical alerts from a flow unless an admin says so
    return row?.integration_policy
      ? (JSON.parse(row.integration_policy) as IntegrationPolicy)
      : { maxSeverity: 'major' };
  }

  /** The stored hash's scrypt N (for operators checking the migration, and for tests). */
  passwordCostOf(username: string): number | undefined {
    const row = this.#db
      .prepare<[string], { password_hash: string }>('SELECT password_hash FROM users WHERE username = ?')
      .get(username);
    return row ? Number(row.password_hash.split('$')[1]) : undefined;
  }

  /** A new bearer token; every token ends (`ttlMs`, 90 days when not given). */
  issueToken(username: string, kind: 'session' | 'api', now: number, ttlMs?: number, label?: string): string {
    const token = newSecret(32);
    const ttl = ttlMs ?? DEFAULT_TOKEN_TTL_MS;
    this.#db
      .prepare(
        'INSERT INTO api_tokens (token_hash, username, kind, label, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)',
      )
      .run(tokenDigest(token), username, kind, label ?? null, now, now + ttl);
    return token;
  }

  revokeToken(token: string): void {
    this.#db.prepare('DELETE FROM api_tokens WHERE token_hash = ?').run(tokenDigest(token));
    this.#revoked([tokenIdOf(token)]);
  }

  /** Tokens of one user (or of everyone, for admins), newest first; expired ones are left out. */
  listTokens(username: string | undefined, now: number): TokenInfo[] {
    const rows = this.#db
      .prepare<[string | null, string | null, number], TokenRow>(
        `SELECT * FROM api_tokens WHERE (? IS NULL OR username = ?) AND (expires_at IS NULL OR expires_at > ?)
         ORDER BY created_at DESC`,
      )
      .all(username ?? null, username ?? null, now);
    return rows.map((r) => ({
      id: r.token_hash.slice(0, TOKEN_ID_LENGTH),
      username: r.username,
      kind: r.kind,
      label: r.label,
      createdAt: r.created_at,
      expiresAt: r.expires_at,
    }));
  }

  /** Revoke by id; `username` limits it to that user's tokens. False when there was no such token. */
  revokeTokenById(id: string, username: string | undefined): boolean {
    if (!/^[A-Za-z0-9_-]{16}$/.test(id)) return false;
    const r = this.#db
      .prepare('DELETE FROM api_tokens WHERE substr(token_hash, 1, 16) = ? AND (? IS NULL OR username = ?)')
      .run(id, username ?? null, username ?? null);
    if (r.changes > 0) this.#revoked([id]);
    return r.changes > 0;
  }

  onRevoked(listener: RevocationListener): () => void {
    this.#revocationListeners.add(listener);
    return () => this.#revocationListeners.delete(listener);
  }

  #revoked(ids: readonly string[]): void {
    for (const [ticket, t] of this.#tickets) if (ids.includes(t.tokenId)) this.#tickets.delete(ticket);
    for (const l of this.#revocationListeners) l(ids);
  }

  /** A single-use ticket for one stream connection, valid 30 s, tied to the token it was asked with. */
  issueStreamTicket(token: string, now: number): { ticket: string; expiresAt: number } {
    const user = this.authenticateBearer(token, now);
    if (!user) throw new GridHubError('UNAUTHENTICATED');
    for (const [k, t] of this.#tickets) if (t.expiresAt <= now) this.#tickets.delete(k);
    if (this.#tickets.size >= MAX_TICKETS) {
      throw new GridHubError('OVERLOADED', 'too many stream tickets outstanding; try again shortly');
    }
    const ticket = newSecret(24);
    const expiresAt = now + TICKET_TTL_MS;
    this.#tickets.set(tokenDigest(ticket), { tokenId: tokenIdOf(token), username: user.username, expiresAt });
    return { ticket, expiresAt };
  }

  /** Redeem a stream ticket (once): the user and the id of the token behind it, while that token lives. */
  redeemStreamTicket(ticket: string, now: number): { user: User; tokenId: string } | undefined {
    const key = tokenDigest(ticket);
    const t = this.#tickets.get(key);
    this.#tickets.delete(key);
    if (!t || t.expiresAt <= now) return undefined;
    const row = this.#db
      .prepare<[string, number], UserRow>(
        `SELECT u.* FROM api_tokens t JOIN users u ON u.username = t.username
         WHERE substr(t.token_hash, 1, 16) = ? AND (t.expires_at IS NULL OR t.expires_at > ?) AND u.enabled = 1`,
      )
      .get(t.tokenId, now);
    return row ? { user: this.#toUser(row), tokenId: t.tokenId } : undefined;
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

  authenticateToken(
    username: string,
    token: string,
  ): { user: User; tokenId: string; expiresAt: number | null } | undefined {
    const now = this.#now();
    const user = this.authenticateBearer(token, now);
    if (user?.username !== username) return undefined;
    const row = this.#db
      .prepare<[string], { expires_at: number | null }>(
        'SELECT expires_at FROM api_tokens WHERE token_hash = ?',
      )
      .get(tokenDigest(token));
    return { user, tokenId: tokenIdOf(token), expiresAt: row?.expires_at ?? null };
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
const dummyHash = (cost: number) =>
  `scrypt$${cost}$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA`;
