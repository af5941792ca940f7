/**
 * The outbox's claim statements: which lanes have due work, and claiming rows of one lane in a short transaction
 * (an UPDATE of the rows a sub-select picked). On PostgreSQL the sub-select takes `FOR UPDATE SKIP LOCKED`, so
 * hubs sharing one database never claim the same row; SQLite has one writer at a time, which gives the same.
 */
import type { Db } from '../storage/sqlite.ts';
import type { ClaimRequest, OutboxClaims } from './alert-store.ts';
import type { OutboxRow } from './tables.ts';

export interface ClaimedRow extends OutboxRow {
  claimed_by: string | null;
  lease_until: number | null;
}

export interface LaneDue {
  channel: string;
  target: string;
  /** 1 when the lane has a critical row due. */
  critical: number;
}

/** A row may be claimed when it is pending, due, and nobody holds a live claim on it. */
const CLAIMABLE = `state = 'pending' AND next_at <= @now AND (lease_until IS NULL OR lease_until <= @now)`;

/** The claim statements on SQLite, prepared once, as the store's `OutboxClaims`. */
export function prepareClaims(db: Db): OutboxClaims {
  const s = {
    /**
     * Lanes with claimable rows, those with a critical row first and among them the phones' MQTT lanes (the
     * worker's alarm is the message that cannot wait for a robot's claim).
     */
    dueLanes: db.prepare<{ now: number }, LaneDue>(
      `SELECT channel, target, max(severity = 'critical') AS critical FROM alert_outbox WHERE ${CLAIMABLE}
       GROUP BY channel, target ORDER BY critical DESC, channel = 'mqtt' DESC LIMIT 5000`,
    ),
    /** Claim up to `limit` claimable rows of one lane, critical first (only critical ones with `onlyCritical`). */
    claim: db.prepare<ClaimRequest, ClaimedRow>(
      `UPDATE alert_outbox SET claimed_by = @owner, lease_until = @leaseUntil
       WHERE id IN (
         SELECT id FROM alert_outbox
         WHERE channel = @channel AND target = @target AND ${CLAIMABLE}
           AND (@onlyCritical = 0 OR severity = 'critical') AND (@onlyFresh = 0 OR attempts = 0)
         ORDER BY (severity = 'critical') DESC, next_at, id
         -- a JS number is bound as REAL: with the cast this claim measured 185 → ~20 µs (an empty lane)
         LIMIT CAST(@limit AS INTEGER)
       )
       RETURNING *`,
    ),
    row: db.prepare<[number], ClaimedRow>('SELECT * FROM alert_outbox WHERE id = ?'),
    /** The lane's first gathered alarm that is due: a lane in back-off still folds them into one digest. */
    foldable: db.prepare<{ now: number; channel: string; target: string }, ClaimedRow>(
      `SELECT * FROM alert_outbox WHERE channel = @channel AND target = @target AND ${CLAIMABLE}
         AND digestible = 1 AND attempts = 0
       ORDER BY next_at, id LIMIT 1`,
    ),
    /** Give a row back without an outcome (folded, postponed by a rate limit, or the hub is stopping). */
    release: db.prepare<[number, string]>(
      'UPDATE alert_outbox SET claimed_by = NULL, lease_until = NULL WHERE id = ? AND claimed_by = ?',
    ),
    /** This hub's claims from before a restart: nobody is delivering them any more. */
    releaseOwn: db.prepare<[string]>(
      "UPDATE alert_outbox SET claimed_by = NULL, lease_until = NULL WHERE claimed_by = ? AND state = 'pending'",
    ),
    postpone: db.prepare<[number, number]>(
      'UPDATE alert_outbox SET next_at = ?, claimed_by = NULL, lease_until = NULL WHERE id = ?',
    ),
    done: db.prepare<[number | null, number]>(
      `UPDATE alert_outbox SET state = 'done', attempts = attempts + 1, last_status = coalesce(?, last_status),
         claimed_by = NULL, lease_until = NULL WHERE id = ?`,
    ),
    retry: db.prepare<[number, string, number | null, string, number]>(
      `UPDATE alert_outbox SET attempts = attempts + 1, next_at = ?, last_error = ?, last_status = ?, state = ?,
         claimed_by = NULL, lease_until = NULL WHERE id = ?`,
    ),
    /** The next moment something becomes claimable: a row falling due, or a claim running out. */
    nextWake: db.prepare<{ now: number }, { due: number | null }>(
      `SELECT min(due) AS due FROM (
         SELECT min(next_at) AS due FROM alert_outbox WHERE state = 'pending' AND next_at > @now
         UNION ALL
         SELECT min(lease_until) AS due FROM alert_outbox WHERE state = 'pending' AND lease_until > @now
       )`,
    ),
  };
  return {
    dueLanes: (now) => s.dueLanes.all({ now }),
    claim: (request) => s.claim.all(request),
    row: (id) => s.row.get(id),
    foldable: (now, channel, target) => s.foldable.get({ now, channel, target }),
    release: (id, owner) => s.release.run(id, owner).changes,
    releaseOwn: (owner) => s.releaseOwn.run(owner).changes,
    postpone: (nextAt, id) => s.postpone.run(nextAt, id).changes,
    done: (status, id) => s.done.run(status, id).changes,
    retry: (nextAt, error, status, state, id) => s.retry.run(nextAt, error, status, state, id).changes,
    nextWake: (now) => s.nextWake.get({ now })?.due ?? null,
  };
}
