import { GridHubError } from '../domain/errors.ts';
import type { TokenAuthenticator } from '../domain/ports.ts';
import type { User, UserRole } from '../domain/records.ts';
import { isUniqueViolation } from '../storage/sql-store.ts';
import { hashSecret, needsRehash, newSecret, PASSWORD_COST, tokenDigest, verifySecret } from './secrets.ts';
import type { UserTable } from './tables.ts';
import { TOKEN_ID_LENGTH, type UserPort, type UserRows } from './user-port.ts';

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

export const tokenIdOf = (token: string): string => tokenDigest(token).slice(0, TOKEN_ID_LENGTH);

/** Called with the ids of revoked tokens, so open channels that used them (SSE, MQTT) are closed. */
export type RevocationListener = (tokenIds: readonly string[]) => void;

/**
 * Stream tickets: short-lived and single-use, for one SSE connection (EventSource cannot send a header, and a
 * URL ends up in logs). Kept in the store, so any instance redeems one any instance issued.
 */
const TICKET_TTL_MS = 30_000;
const DEFAULT_TOKEN_TTL_MS = 90 * 86_400_000;
const MAX_TICKETS = 10_000;

/** What an admin may change of an account; a disabled account's tokens stop working at once. */
export interface UserChange {
  role?: UserRole;
  personId?: string | null;
  displayName?: string;
  locale?: string;
  enabled?: boolean;
  scope?: string[];
}

interface Account {
  user: User;
  policy: string | null;
}

/**
 * API users, their scopes, and bearer tokens (login sessions and long-lived API tokens).
 *
 * Users are few (people with a login, integrations): all of them are held in memory, read at start and again
 * when this store or another instance (the ChangeFeed, `heard`) changes one, because the dispatcher asks the
 * language of every recipient synchronously. Tokens are many and each use is checked in the store (`port`):
 * async, one indexed read, so that a revoked token or a disabled account is refused at once, on this instance
 * and on every other (src/storage/README.md, "Tokens").
 */
export class UserStore implements TokenAuthenticator {
  readonly #port: UserPort;
  readonly #now: () => number;
  readonly #passwordCost: number;
  readonly #revocationListeners = new Set<RevocationListener>();
  readonly #accounts = new Map<string, Account>();
  /** The language of each person with an account: the first of their accounts by user name. */
  #localeOf = new Map<string, string>();

  constructor(port: UserPort, now: () => number, rows: UserRows, options: { passwordCost?: number } = {}) {
    this.#port = port;
    this.#now = now;
    this.#passwordCost = options.passwordCost ?? PASSWORD_COST;
    this.#holdAll(rows);
  }

  #holdAll(rows: UserRows): void {
    const scopes = new Map<string, string[]>();
    for (const s of rows.scopes) {
      const list = scopes.get(s.username);
      if (list) list.push(s.place_id);
      else scopes.set(s.username, [s.place_id]);
    }
    this.#accounts.clear();
    for (const row of rows.users) this.#hold(row, scopes.get(row.username) ?? []);
    this.#indexLocales();
  }

  /**
   * Read every account again (the change feed was down: other instances' changes may have been missed). What
   * accounts that were enabled and are now disabled or gone had opened here is closed, as `reload` does for one.
   */
  async reloadAll(): Promise<void> {
    const wasEnabled = [...this.#accounts.values()].filter((a) => a.user.enabled).map((a) => a.user.username);
    this.#holdAll(await this.#port.rows());
    const ended = wasEnabled.filter((name) => this.#accounts.get(name)?.user.enabled !== true);
    for (const name of ended) this.#revoked(await this.#port.tokenIdsOf(name));
  }

  static async open(
    port: UserPort,
    now: () => number,
    options: { passwordCost?: number } = {},
  ): Promise<UserStore> {
    return new UserStore(port, now, await port.rows(), options);
  }

  #hold(row: UserTable, scope: string[]): Account {
    const account: Account = {
      user: Object.freeze({
        username: row.username,
        role: row.role,
        personId: row.person_id,
        displayName: row.display_name,
        locale: row.locale,
        enabled: row.enabled === 1,
        scope: Object.freeze(scope) as string[],
      }),
      policy: row.integration_policy,
    };
    this.#accounts.set(row.username, account);
    return account;
  }

  #indexLocales(): void {
    const byPerson = new Map<string, string>();
    const names = [...this.#accounts.keys()].sort();
    for (const name of names) {
      const u = (this.#accounts.get(name) as Account).user;
      if (u.personId && !byPerson.has(u.personId)) byPerson.set(u.personId, u.locale);
    }
    this.#localeOf = byPerson;
  }

  /**
   * Read one account again from the store. When it has just been disabled, whatever its tokens opened here
   * (streams, MQTT sessions) is closed.
   */
  async reload(username: string): Promise<User | undefined> {
    const was = this.#accounts.get(username)?.user.enabled;
    const found = await this.#port.user(username);
    if (!found) {
      this.#accounts.delete(username);
      this.#indexLocales();
      return undefined;
    }
    const { user } = this.#hold(found.row, found.scope);
    this.#indexLocales();
    if (was === true && !user.enabled) this.#revoked(await this.#port.tokenIdsOf(username));
    return user;
  }

  /** Another instance's change (the ChangeFeed): an account to read again, or a token it revoked. */
  async heard(change: { table: string; id: string }): Promise<void> {
    if (change.table === 'users') await this.reload(change.id);
    else if (change.table === 'api_tokens') this.#revoked([change.id]);
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
    const row: UserTable = {
      username: input.username,
      password_hash: hash,
      role: input.role,
      person_id: input.personId ?? null,
      display_name: input.displayName ?? input.username,
      locale: input.locale ?? 'zh-CN',
      enabled: 1,
      created_at: now,
      integration_policy: null,
    };
    const scope = [...(input.scope ?? [])].sort();
    try {
      await this.#port.insert(row, scope);
    } catch (err) {
      if (isUniqueViolation(err)) {
        throw new GridHubError('CONFLICT', `user ${input.username} exists`, { field: 'username' });
      }
      throw err;
    }
    const { user } = this.#hold(row, scope);
    this.#indexLocales();
    return user;
  }

  /** Change an account. Disabling it refuses its tokens at once and closes what they opened. */
  async update(username: string, change: UserChange): Promise<User> {
    const set: Parameters<UserPort['update']>[1] = {
      ...(change.role !== undefined ? { role: change.role } : {}),
      ...(change.personId !== undefined ? { person_id: change.personId } : {}),
      ...(change.displayName !== undefined ? { display_name: change.displayName } : {}),
      ...(change.locale !== undefined ? { locale: change.locale } : {}),
      ...(change.enabled !== undefined ? { enabled: change.enabled ? 1 : 0 } : {}),
    };
    const scope = change.scope ? [...change.scope].sort() : undefined;
    if (!(await this.#port.update(username, set, scope)))
      throw new GridHubError('NOT_FOUND', `no user ${username}`);
    const user = await this.reload(username);
    if (!user) throw new GridHubError('NOT_FOUND', `no user ${username}`);
    return user;
  }

  get(username: string): User | undefined {
    return this.#accounts.get(username)?.user;
  }

  /**
   * The language a person reads messages in: their account's (a phone, a board), if they have one. Asked for
   * every recipient of every alarm, synchronously: from memory.
   */
  localeOfPerson(personId: string): string | undefined {
    return this.#localeOf.get(personId);
  }

  list(): User[] {
    return [...this.#accounts.keys()].sort().map((name) => (this.#accounts.get(name) as Account).user);
  }

  /** Check a password; the same answer and about the same time for an unknown user and a wrong password. */
  async verifyPassword(username: string, password: string): Promise<User | undefined> {
    // From the store, not memory: another instance may have upgraded the hash, or disabled the account.
    const found = await this.#port.user(username);
    const ok = await verifySecret(password, found?.row.password_hash ?? dummyHash(this.#passwordCost));
    if (!ok || !found || found.row.enabled !== 1) return undefined;
    if (needsRehash(found.row.password_hash, this.#passwordCost)) {
      // The password is in hand only now: store it at today's cost (OWASP scrypt N=2^17) for the next login.
      const fresh = await hashSecret(password, this.#passwordCost);
      await this.#port.replacePasswordHash(username, found.row.password_hash, fresh);
    }
    // what the store says now, held for the requests this login's token will make
    const { user } = this.#hold(found.row, found.scope);
    this.#indexLocales();
    return user;
  }

  /** An integration's limits beyond its scope: the highest severity it may raise, the device types it may. */
  async setIntegrationPolicy(username: string, policy: IntegrationPolicy): Promise<void> {
    await this.#port.update(username, { integration_policy: JSON.stringify(policy) }, undefined);
    const account = this.#accounts.get(username);
    if (account) account.policy = JSON.stringify(policy);
  }

  integrationPolicy(username: string): IntegrationPolicy {
    const policy = this.#accounts.get(username)?.policy;
    // integrations made before policies existed: no critical alerts from a flow unless an admin says so
    return policy ? (JSON.parse(policy) as IntegrationPolicy) : { maxSeverity: 'major' };
  }

  /** The stored hash's scrypt N (for operators checking the migration, and for tests). */
  async passwordCostOf(username: string): Promise<number | undefined> {
    const hash = await this.#port.passwordHash(username);
    return hash ? Number(hash.split('$')[1]) : undefined;
  }

  /** A new bearer token; every token ends (`ttlMs`, 90 days when not given). */
  async issueToken(
    username: string,
    kind: 'session' | 'api',
    now: number,
    ttlMs?: number,
    label?: string,
  ): Promise<string> {
    const token = newSecret(32);
    const ttl = ttlMs ?? DEFAULT_TOKEN_TTL_MS;
    await this.#port.insertToken({
      token_hash: tokenDigest(token),
      username,
      kind,
      label: label ?? null,
      created_at: now,
      expires_at: now + ttl,
    });
    return token;
  }

  async revokeToken(token: string): Promise<void> {
    await this.#port.deleteToken(tokenDigest(token));
    this.#revoked([tokenIdOf(token)]);
  }

  /** Tokens of one user (or of everyone, for admins), newest first; expired ones are left out. */
  async listTokens(username: string | undefined, now: number): Promise<TokenInfo[]> {
    return (await this.#port.listTokens(username, now)).map((r) => ({
      id: r.token_hash.slice(0, TOKEN_ID_LENGTH),
      username: r.username,
      kind: r.kind,
      label: r.label,
      createdAt: r.created_at,
      expiresAt: r.expires_at,
    }));
  }

  /** Revoke by id; `username` limits it to that user's tokens. False when there was no such token. */
  async revokeTokenById(id: string, username: string | undefined): Promise<boolean> {
    if (!/^[A-Za-z0-9_-]{16}$/.test(id)) return false;
    const gone = await this.#port.deleteTokenById(id, username);
    if (gone) this.#revoked([id]);
    return gone;
  }

  onRevoked(listener: RevocationListener): () => void {
    this.#revocationListeners.add(listener);
    return () => this.#revocationListeners.delete(listener);
  }

  #revoked(ids: readonly string[]): void {
    // (a revoked token's stream tickets need no sweep: redeeming one checks that its token still lives)
    if (ids.length === 0) return;
    for (const l of this.#revocationListeners) l(ids);
  }

  /** A single-use ticket for one stream connection, valid 30 s, tied to the token it was asked with. */
  async issueStreamTicket(token: string, now: number): Promise<{ ticket: string; expiresAt: number }> {
    const user = await this.authenticateBearer(token, now);
    if (!user) throw new GridHubError('UNAUTHENTICATED');
    const ticket = newSecret(24);
    const expiresAt = now + TICKET_TTL_MS;
    const row = {
      ticket_hash: tokenDigest(ticket),
      token_id: tokenIdOf(token),
      username: user.username,
      expires_at: expiresAt,
    };
    if (!(await this.#port.insertTicket(row, now, MAX_TICKETS))) {
      throw new GridHubError('OVERLOADED', 'too many stream tickets outstanding; try again shortly');
    }
    return { ticket, expiresAt };
  }

  /** Redeem a stream ticket (once): the user and the id of the token behind it, while that token lives. */
  async redeemStreamTicket(
    ticket: string,
    now: number,
  ): Promise<{ user: User; tokenId: string } | undefined> {
    const t = await this.#port.takeTicket(tokenDigest(ticket));
    if (!t || t.expires_at <= now) return undefined;
    const live = await this.#port.liveTokenById(t.token_id, now);
    const user = live && (await this.#enabled(live.username));
    return user ? { user, tokenId: t.token_id } : undefined;
  }

  /** The user owning a live bearer token. */
  async authenticateBearer(token: string, now: number): Promise<User | undefined> {
    const live = await this.#port.liveToken(tokenDigest(token), now);
    return live ? this.#enabled(live.username) : undefined;
  }

  async authenticateToken(
    username: string,
    token: string,
  ): Promise<{ user: User; tokenId: string; expiresAt: number | null } | undefined> {
    const live = await this.#port.liveToken(tokenDigest(token), this.#now());
    if (live?.username !== username) return undefined;
    const user = await this.#enabled(username);
    return user ? { user, tokenId: tokenIdOf(token), expiresAt: live.expires_at } : undefined;
  }

  /**
   * The account behind a token the store found live (its user enabled there): from memory, or read again when
   * memory does not know it or holds it disabled (created or enabled again on another instance, not yet heard).
   */
  async #enabled(username: string): Promise<User | undefined> {
    const held = this.#accounts.get(username)?.user;
    if (held?.enabled) return held;
    const user = await this.reload(username);
    return user?.enabled ? user : undefined;
  }
}

/** Verified against when the user does not exist, so that the reply takes as long as for a wrong password. */
const dummyHash = (cost: number) =>
  `scrypt$${cost}$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA`;
