import { describe, expect, it } from 'vitest';
import { sqliteBuilder } from './sqlite-runner.ts';
import type { AlertDb } from './store-ops.ts';
import { bind, first, lit, standInRow, write } from './store-ops.ts';

// Compile-only: bind() never runs a statement, it finds each call's arguments among the compiled parameters.
const db = sqliteBuilder() as unknown as AlertDb;

describe('an operation compiled once', () => {
  it('passes the arguments as they come when they are the parameters in order', () => {
    const op = write((alertId: string, ref: number) =>
      db
        .updateTable('alert_timers')
        .set({ state: lit('void') })
        .where('alert_id', '=', alertId)
        .where('ref', '=', ref),
    );
    const bound = bind(op);
    expect(bound.direct).toBe(true);
    expect(bound.sql).toContain(`"state" = 'void'`);
    expect(bound.with(['a1', 3]).parameters).toEqual(['a1', 3]);
  });

  it('maps repeated arguments, fields of a row and constants of the statement', () => {
    const op = first(
      (r: { now: number; target: string }) =>
        db
          .selectFrom('alert_outbox')
          .select('id')
          .where('target', '=', r.target)
          .where('next_at', '<=', r.now)
          .where('lease_until', '<=', r.now)
          .where('state', '=', 'pending'),
      undefined,
      [standInRow<{ now: number; target: string }>(['now', 'target'])],
    );
    const bound = bind(op);
    expect(bound.direct).toBe(false);
    expect(bound.with([{ now: 5, target: 'w1' }]).parameters).toEqual(['w1', 5, 5, 'pending']);
  });

  it('refuses a statement that leaves an argument out (its value would be silently ignored)', () => {
    const op = write((id: number, _unused: string) => db.deleteFrom('alert_outbox').where('id', '=', id));
    expect(() => bind(op)).toThrow(/stand-in 1 is not in the statement/);
  });
});
