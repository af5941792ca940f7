import { sql } from 'kysely';
import { writeAll } from '../storage/batch.ts';
import { type ChangeFeed, silentFeed } from '../storage/changes.ts';
import { compileOnce, type SqlStore, type SyncSql } from '../storage/sql-store.ts';
import type {
  ApiTokenTable,
  RegistryTables,
  StreamTicketTable,
  UserScopeTable,
  UserTable,
} from './tables.ts';

/** A token's id: the first characters of its hash (see `tokenIdOf`). */
export const TOKEN_ID_LENGTH = 16;

/** Users with their scopes, as the store keeps them: what the in-memory user directory is built from. */
export interface UserRows {
  users: UserTable[];
  scopes: UserScopeTable[];
}

/** A live token: whose it is and when it ends. */
export interface LiveToken {
  username: string;
  expires_at: number | null;
}

/**
 * Users and bearer tokens in the store, behind one async interface written once with Kysely (SQLite and
 * PostgreSQL). Users are few and held in memory by the UserStore; tokens are many and are checked here, in the
 * store, on every use: a revocation or a disabled account is refused at once by every instance.
 *
 * Announces, after the write committed: `{ table: 'users', id: username }` for an account's change (the other
 * instances reload it) and `{ table: 'api_tokens', id: tokenId }` for a revoked token (the other instances close
 * the streams and MQTT sessions that used it).
 */
export interface UserPort {
  rows(): Promise<UserRows>;
  /** One user with their scope, read from the store. */
  user(username: string): Promise<{ row: UserTable; scope: string[] } | undefined>;
  insert(row: UserTable, scope: readonly string[]): Promise<void>;
  /** Change an account; `scope`, when given, replaces its scope in the same transaction. False: no such user. */
  update(
    username: string,
    set: Partial<Omit<UserTable, 'username' | 'password_hash' | 'created_at'>>,
    scope: readonly string[] | undefined,
  ): Promise<boolean>;
  passwordHash(username: string): Promise<string | undefined>;
  /** Replace a password hash only if it is still `expected` (a login on another instance may have done it). */
  replacePasswordHash(username: string, expected: string, fresh: string): Promise<boolean>;

  insertToken(row: ApiTokenTable): Promise<void>;
  /** The token with this hash, if it lives at `now` and its user is enabled. */
  liveToken(tokenHash: string, now: number): Promise<LiveToken | undefined>;
  /** The same by token id (a stream ticket holds the id, never the token). */
  liveTokenById(tokenId: string, now: number): Promise<LiveToken | undefined>;
  /** Tokens living at `now`, of one user or of all, newest first. */
  listTokens(username: string | undefined, now: number): Promise<ApiTokenTable[]>;
  /** Ids of a user's tokens (to close what they opened when the account is disabled). */
  tokenIdsOf(username: string): Promise<string[]>;
  /** Delete by hash; whether it was there. */
  deleteToken(tokenHash: string): Promise<boolean>;
  /** Delete by id, of `username` only when given; whether it was there. */
  deleteTokenById(tokenId: string, username: string | undefined): Promise<boolean>;

  /** A stream ticket, after those expired at `now` are dropped; false when `max` are outstanding. */
  insertTicket(row: StreamTicketTable, now: number, max: number): Promise<boolean>;
  /** Take a ticket out (once, whichever instance asks): what it was for, expired or not. */
  takeTicket(ticketHash: string): Promise<Omit<StreamTicketTable, 'ticket_hash'> | undefined>;
}

function userQueries(store: SqlStore) {
  const db = store.builder<RegistryTables>();
  return {
    db,
    users: () => db.selectFrom('users').selectAll().orderBy('username'),
    scopes: () => db.selectFrom('user_scopes').selectAll().orderBy('username').orderBy('place_id'),
  };
}

/** All users read synchronously: SQLite only, for registries opened synchronously. */
export function userRowsSync(store: SqlStore, sync: SyncSql): UserRows {
  const q = userQueries(store);
  return { users: sync.all(q.users()), scopes: sync.all(q.scopes()) };
}

export function createUserPort(store: SqlStore, changes: ChangeFeed = silentFeed): UserPort {
  const q = userQueries(store);
  const db = q.db;
  const tokenId = sql<string>`substr(token_hash, 1, ${sql.lit(TOKEN_ID_LENGTH)})`;
  const live = (now: number) =>
    db
      .selectFrom('api_tokens as t')
      .innerJoin('users as u', 'u.username', 't.username')
      .select(['t.username', 't.expires_at'])
      .where('u.enabled', '=', 1)
      .where((eb) => eb.or([eb('t.expires_at', 'is', null), eb('t.expires_at', '>', now)]));
  // The token checks run on every request and every MQTT login: compiled once, their values filled in per call
  // (building and compiling a join with Kysely costs several times the statement itself on SQLite).
  const checkByHash = compileOnce(
    (key: string, now: number) => live(now).where('t.token_hash', '=', key),
    ['\u0000key', -0.5],
  );
  const checkById = compileOnce(
    (key: string, now: number) => live(now).where(tokenId, '=', key),
    ['\u0000key', -0.5],
  );
  const scopeRows = (username: string, scope: readonly string[]) =>
    scope.map((place_id) => ({ username, place_id }));
  return {
    async rows() {
      const [users, scopes] = await Promise.all([store.all(q.users()), store.all(q.scopes())]);
      return { users, scopes };
    },
    async user(username) {
      const [row, scopes] = await Promise.all([
        store.first(db.selectFrom('users').selectAll().where('username', '=', username)),
        store.all(
          db
            .selectFrom('user_scopes')
            .select('place_id')
            .where('username', '=', username)
            .orderBy('place_id'),
        ),
      ]);
      return row ? { row, scope: scopes.map((s) => s.place_id) } : undefined;
    },
    async insert(row, scope) {
      await writeAll(store, [
        db.insertInto('users').values(row),
        ...(scope.length ? [db.insertInto('user_scopes').values(scopeRows(row.username, scope))] : []),
      ]);
      await changes.announce({ table: 'users', id: row.username });
    },
    async update(username, set, scope) {
      // Accounts are never deleted, so a user found here is still there for the writes below.
      const found = await store.first(
        db.selectFrom('users').select('username').where('username', '=', username),
      );
      if (!found) return false;
      await writeAll(store, [
        ...(Object.keys(set).length > 0
          ? [db.updateTable('users').set(set).where('username', '=', username)]
          : []),
        ...(scope ? [db.deleteFrom('user_scopes').where('username', '=', username)] : []),
        ...(scope?.length ? [db.insertInto('user_scopes').values(scopeRows(username, scope))] : []),
      ]);
      await changes.announce({ table: 'users', id: username });
      return true;
    },
    passwordHash: async (username) =>
      (await store.first(db.selectFrom('users').select('password_hash').where('username', '=', username)))
        ?.password_hash,
    replacePasswordHash: async (username, expected, fresh) =>
      (await store.write(
        db
          .updateTable('users')
          .set({ password_hash: fresh })
          .where('username', '=', username)
          .where('password_hash', '=', expected),
      )) > 0,

    insertToken: async (row) => {
      await store.write(db.insertInto('api_tokens').values(row));
    },
    liveToken: (hash, now) => store.first(checkByHash(hash, now)),
    liveTokenById: (id, now) => store.first(checkById(id, now)),
    listTokens: (username, now) => {
      let query = db
        .selectFrom('api_tokens')
        .selectAll()
        .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]));
      if (username !== undefined) query = query.where('username', '=', username);
      return store.all(query.orderBy('created_at', 'desc').orderBy('token_hash'));
    },
    tokenIdsOf: async (username) =>
      (
        await store.all(db.selectFrom('api_tokens').select('token_hash').where('username', '=', username))
      ).map((r) => r.token_hash.slice(0, TOKEN_ID_LENGTH)),
    async deleteToken(hash) {
      const gone = (await store.write(db.deleteFrom('api_tokens').where('token_hash', '=', hash))) > 0;
      if (gone) await changes.announce({ table: 'api_tokens', id: hash.slice(0, TOKEN_ID_LENGTH) });
      return gone;
    },
    async insertTicket(row, now, max) {
      await store.write(db.deleteFrom('stream_tickets').where('expires_at', '<=', now));
      const outstanding = await store.first(
        db.selectFrom('stream_tickets').select((eb) => eb.fn.countAll<number | string>().as('n')),
      );
      // a count is a bigint (a string) on PostgreSQL
      if (Number(outstanding?.n ?? 0) >= max) return false;
      await store.write(db.insertInto('stream_tickets').values(row));
      return true;
    },
    takeTicket: (hash) =>
      store.first(
        db
          .deleteFrom('stream_tickets')
          .where('ticket_hash', '=', hash)
          .returning(['token_id', 'username', 'expires_at']),
      ),
    async deleteTokenById(id, username) {
      let query = db.deleteFrom('api_tokens').where(tokenId, '=', id);
      if (username !== undefined) query = query.where('username', '=', username);
      const gone = (await store.write(query)) > 0;
      if (gone) await changes.announce({ table: 'api_tokens', id });
      return gone;
    },
  };
}
