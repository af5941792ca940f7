/**
 * What a workload cost the shared database, from pg_stat_statements (a cluster started with `statementStats`,
 * test/helpers/postgres.ts): transactions and statements per alert over every instance, and the statements sent
 * most often. On a cluster under load each statement is a round trip inside a transaction that holds its
 * instance's turn (src/alerts/turns.ts), so their count, more than their execution time, is what the hubs pay.
 */
import type { HubCluster } from './hub-cluster.ts';

export interface StatementFigures {
  /** Transactions committed, per alert. */
  transactionsPerAlert: number;
  /** Statements other than BEGIN and COMMIT, per alert. */
  statementsPerAlert: number;
  /** The statements sent most often: per alert, their mean execution time, the start of their text. */
  top: { perAlert: number; meanMs: number; query: string }[];
}

type Query = HubCluster['query'];

/** Forget what was counted so far (the set-up's statements). */
export async function resetStatementStats(query: Query): Promise<void> {
  await query('SELECT pg_stat_statements_reset()');
}

export async function statementFigures(query: Query, alerts: number, topN = 20): Promise<StatementFigures> {
  // calls is a bigint: the driver answers it as a string
  const rows = await query<{ calls: string; mean: number; query: string }>(
    `SELECT s.calls, s.mean_exec_time AS mean, s.query FROM pg_stat_statements s
       JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = current_database()`,
  );
  const per = (n: number) => Math.round((n / Math.max(1, alerts)) * 100) / 100;
  let commits = 0;
  let statements = 0;
  const counted: { calls: number; mean: number; query: string }[] = [];
  for (const r of rows) {
    const calls = Number(r.calls);
    const control = /^\s*(begin|commit|rollback)\b/i.exec(r.query)?.[1]?.toLowerCase();
    if (control === 'commit') commits += calls;
    if (control) continue;
    statements += calls;
    counted.push({ calls, mean: r.mean, query: r.query.replace(/\s+/g, ' ').slice(0, 140) });
  }
  counted.sort((a, b) => b.calls - a.calls);
  return {
    transactionsPerAlert: per(commits),
    statementsPerAlert: per(statements),
    top: counted.slice(0, topN).map((c) => ({
      perAlert: per(c.calls),
      meanMs: Math.round(c.mean * 1000) / 1000,
      query: c.query,
    })),
  };
}
