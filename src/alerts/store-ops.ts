/**
 * The alert store's operations as data: each one a Kysely builder written once for both dialects, the stand-ins
 * it is compiled with, how its result is read (`all` rows, the `first` row, or the rows a `write` changed) and
 * how that result is shaped into what the port answers. The SQLite store compiles each once and prepares it
 * (sqlite-alert-store.ts, synchronous); the PostgreSQL store compiles each once and runs it on the open
 * transaction or the pool (postgres-alert-store.ts). So the SQL and the shaping of results exist once.
 */
import { type CompiledQuery, type Kysely, sql } from 'kysely';
import { compiled, type Statement } from '../storage/sql-store.ts';
import type { AlertStoreTables } from './tables.ts';

/** The builder the alert store's statements are written with (it only builds; each store runs them). */
export type AlertDb = Kysely<AlertStoreTables>;

/** A constant in the statement's text rather than a parameter. */
export const lit = <T extends string | number>(value: T) => sql.lit<T>(value);

export type ReadKind = 'all' | 'first' | 'write';

/** One operation: `A` its arguments, `Out` what it answers. */
export interface Op<A extends readonly unknown[], Out> {
  readonly kind: ReadKind;
  readonly standIns: A;
  /** A method, so that an `Op` of any arguments is an `AnyOp` (method parameters are compared bivariantly). */
  build(...args: A): Statement<unknown>;
  /** From the raw result (rows, a row or undefined, a count) to the answer. */
  readonly shape: (raw: never) => Out;
}

/** The widest operation, for tables of them. */
export type AnyOp = Op<readonly unknown[], unknown>;

/** The operations as synchronous functions (SQLite). */
export type SyncOps<O extends Record<string, AnyOp>> = {
  [K in keyof O]: O[K] extends Op<infer A, infer Out> ? (...args: A) => Out : never;
};

/** The operations as functions answering promises (PostgreSQL). */
export type AsyncOps<O extends Record<string, AnyOp>> = {
  [K in keyof O]: O[K] extends Op<infer A, infer Out> ? (...args: A) => Promise<Out> : never;
};

const same = <T>(x: T): T => x;

/** The shape of operations that answer their raw result as it is (a runner may skip calling it). */
export const isIdentity = (shape: unknown): boolean => shape === same;

/** Stand-ins for each parameter of `build`, unless its arguments are objects (`standInRow`). */
const standInsFor = <A extends readonly unknown[]>(
  build: (...args: A) => unknown,
  standIns: A | undefined,
): A => standIns ?? (Array.from({ length: build.length }, () => standIn<unknown>()) as unknown as A);

/** Every row of a SELECT (or of a write … RETURNING). */
export function all<A extends readonly unknown[], R>(
  build: (...args: A) => Statement<R>,
  standIns?: A,
): Op<A, R[]> {
  return { kind: 'all', standIns: standInsFor(build, standIns), build, shape: same as (raw: R[]) => R[] };
}

/** The first row, shaped (by default the row or undefined). */
export function first<A extends readonly unknown[], R, Out = R | undefined>(
  build: (...args: A) => Statement<R>,
  shape?: (row: R | undefined) => Out,
  standIns?: A,
): Op<A, Out> {
  return {
    kind: 'first',
    standIns: standInsFor(build, standIns),
    build,
    shape: (shape ?? same) as (row: R | undefined) => Out,
  };
}

/** An INSERT, UPDATE or DELETE: answers how many rows it changed. */
export function write<A extends readonly unknown[]>(
  build: (...args: A) => Statement<unknown>,
  standIns?: A,
): Op<A, number> {
  return {
    kind: 'write',
    standIns: standInsFor(build, standIns),
    build,
    shape: same as (n: number) => number,
  };
}

let counter = 0;

/**
 * A value to build a statement with in the place of an argument: a string that occurs in no real statement, so
 * the compiled parameter it became is found again. Its type is the argument's (the builder never looks at it).
 */
export function standIn<T>(): T {
  counter += 1;
  return `\u0000arg${counter}` as T;
}

/** An object argument whose every field is a stand-in (inserts take a row). */
export function standInRow<T extends object>(keys: readonly (keyof T & string)[]): T {
  return Object.fromEntries(keys.map((k) => [k, standIn<unknown>()])) as T;
}

/**
 * An operation compiled once: its SQL, and a function from a call's arguments to its parameters. Each parameter
 * is an argument, a field of an object argument, or a constant of the statement (a status, a limit).
 */
export interface BoundOp {
  readonly sql: string;
  readonly query: CompiledQuery<unknown>;
  readonly params: (args: readonly unknown[]) => unknown[];
  /** The compiled statement with a call's arguments as its parameters. */
  readonly with: (args: readonly unknown[]) => CompiledQuery<unknown>;
  /** True when the parameters are the arguments themselves, in order: no mapping per call. */
  readonly direct: boolean;
}

export function bind(op: AnyOp): BoundOp {
  const query = compiled(op.build(...op.standIns));
  const standIns = op.standIns as readonly unknown[];
  type Slot = { arg: number; field?: string; value?: unknown };
  const slots: Slot[] = query.parameters.map((p) => {
    for (const [arg, s] of standIns.entries()) {
      if (s === p) return { arg };
      if (typeof s === 'object' && s !== null)
        for (const [field, v] of Object.entries(s)) if (v === p) return { arg, field };
    }
    return { arg: -1, value: p };
  });
  for (const [i, s] of standIns.entries()) {
    const used =
      typeof s === 'object' && s !== null
        ? Object.keys(s).every((f) => slots.some((slot) => slot.arg === i && slot.field === f))
        : slots.some((slot) => slot.arg === i);
    if (!used) throw new Error(`stand-in ${i} is not in the statement ${query.sql}`);
  }
  const direct = slots.length === standIns.length && slots.every((s, i) => s.arg === i && !s.field);
  const params = (args: readonly unknown[]): unknown[] =>
    slots.map((s) => {
      if (s.arg === -1) return s.value;
      const a = args[s.arg];
      // an absent field is NULL, as a missing column value would be
      return s.field === undefined ? a : ((a as Record<string, unknown>)[s.field] ?? null);
    });
  const withArgs = (args: readonly unknown[]): CompiledQuery<unknown> => ({
    ...query,
    parameters: params(args),
  });
  return { sql: query.sql, query, params, with: withArgs, direct };
}
