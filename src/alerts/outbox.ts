/**
 * Outbox delivery in lanes (lanes.ts): one lane per channel and target, each with its own slots, timeout and
 * back-off, so a hanging robot or a frozen phone holds only its own messages. Rows stay the source of truth: a
 * lane claims due rows (claimed_by, lease_until; outbox-claims.ts), critical first, delivers them and clears the
 * claim with the outcome; a claim whose hub died runs out and is taken over. A row due at once in a lane with a
 * free slot is written claimed by the transaction that queues it and sent the moment it commits (the worker's
 * MQTT alarm goes out then, with no claim statement before it); other rows are claimed by a pass over the lanes
 * after each commit, and a clock timer wakes the lanes for retries, rate limits, back-offs and expired claims.
 * Outcomes that end in one turn of the event loop are written in one transaction. Gathered alarms fold into
 * digests, channel rate limits postpone, failures retry with back-off until they are dead, and every outcome
 * lands in the timeline.
 */
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { Channel } from '../channels/channel.ts';
import { DeliveryError } from '../channels/channel.ts';
import type { Clock } from '../clock/clock.ts';
import type { AlertStatements, AlertStore } from './alert-store.ts';
import type { AlertsConfig } from './config.ts';
import { dueTimer } from './due-timer.ts';
import { createLanes, type Lane } from './lanes.ts';
import type { AlertsMetrics } from './metrics.ts';
import type { MustReach } from './must-reach.ts';
import type { ClaimedRow } from './outbox-claims.ts';
import { maskTarget } from './privacy.ts';
import { createRateLimits } from './rate-limits.ts';
import type { OutboxRow } from './tables.ts';
import type { AlertTransactions, TxEffects } from './transactions.ts';
import type { RunState } from './types.ts';

export type Outbox = ReturnType<typeof createOutbox>;

/** What one delivery's outcome writes in the outcome transaction; a delivered row is marked through `done`. */
type OutcomeWrite = (fx: TxEffects, done: (status: number | null, id: number) => void) => Promise<void>;

export interface OutboxDeps {
  /** The claims, and whether a transaction is open (claims wait for its commit). */
  store: AlertStore;
  clock: Clock;
  cfg: AlertsConfig;
  q: AlertStatements;
  metrics: AlertsMetrics;
  log: Logger;
  run: RunState;
  channels: ReadonlyMap<string, Channel>;
  alerts: AlertTransactions;
  tryFold: (row: OutboxRow) => Promise<boolean>;
  mustReach: MustReach;
}

export function createOutbox(deps: OutboxDeps) {
  const { clock, cfg, q, metrics: m, log, alerts } = deps;
  const { claims } = deps.store;
  const lanes = createLanes(cfg, clock);
  const owner = cfg.instanceId ?? hostname();
  /** Deliveries in flight by row id (a claim of ours that ran out on a jumping test clock is not started twice). */
  const inFlight = new Map<number, Promise<void>>();
  const retry = dueTimer(clock, {
    next: async () => {
      const now = clock.now();
      const row = await claims.nextWake(now);
      const lane = lanes.nextResume(now);
      return row === null ? lane : lane === null ? row : Math.min(row, lane);
    },
    fire: pump,
    failed: (err) => log.error({ err }, 'outbox pass failed'),
    stopped: () => deps.run.stopped,
    onlyFuture: true,
  });

  const rateWait = createRateLimits(cfg, clock);

  /** Alerts a row speaks for: its own, or every alert listed in a digest. */
  function alertsOfRow(row: OutboxRow, payload: Record<string, unknown>): string[] {
    if (payload.kind === 'digest' && Array.isArray(payload.alertIds)) {
      return [...new Set(payload.alertIds.map(String))];
    }
    return [row.alert_id];
  }

  /** One timeline event per alert the row speaks for. */
  async function recordDelivery(
    fx: TxEffects,
    row: OutboxRow,
    payload: Record<string, unknown>,
    type: string,
    data: Record<string, unknown>,
  ): Promise<void> {
    const head = {
      channel: row.channel,
      target: maskTarget(row.channel, row.target),
      attempt: row.attempts + 1,
    };
    for (const alertId of alertsOfRow(row, payload)) {
      await alerts.record(
        fx,
        alertId,
        type,
        `channel:${row.channel}`,
        { ...head, ...data },
        { sink: false, stream: false },
      );
    }
  }

  /**
   * One attempt; resolves with what it means for the lane, once its outcome is recorded. Never rejects. `sent`
   * is called the moment the channel has taken the message, before the record is written.
   */
  async function deliver(row: OutboxRow, sent: () => void): Promise<'delivered' | 'failed' | 'final'> {
    const channel = deps.channels.get(row.channel);
    const attempt = row.attempts + 1;
    const payload = JSON.parse(row.payload) as Record<string, unknown>;
    try {
      if (!channel) throw new DeliveryError(`no channel ${row.channel}`, { retryable: false });
      const res = await withTimeout(
        channel.deliver(row.target, payload, {
          idempotencyKey: row.idempotency_key,
          alertId: row.alert_id,
          attempt,
        }),
        lanes.timeoutOf(row.channel),
      );
      m.deliveries.inc({ channel: row.channel, outcome: 'delivered' });
      if (res?.status !== undefined) m.responses.inc({ channel: row.channel, code: String(res.status) });
      sent();
      await recordOutcome(async (fx, done) => {
        done(res?.status ?? null, row.id);
        if (channel.recordInTimeline) {
          await recordDelivery(fx, row, payload, 'delivered', {
            status: res?.status ?? null,
            receipt: res?.receipt ?? null,
            idempotencyKey: row.idempotency_key,
            ...rungOf(row),
            ...(payload.kind === 'digest' ? { digestId: payload.digestId, version: payload.version } : {}),
          });
        }
      });
      return 'delivered';
    } catch (err) {
      // Stopping (the broker connection closing under a last delivery, say) says nothing about the target: the
      // row keeps its claim and no attempt is counted; the next start, or another instance once this one's lease
      // has gone, sends it again under the same idempotency key.
      if (deps.run.stopped) {
        log.info(
          { alertId: row.alert_id, channel: row.channel },
          'delivery left for the next start: stopping',
        );
        return 'final';
      }
      return await failed(row, payload, err, channel !== undefined, channel?.recordInTimeline !== false);
    }
  }

  /**
   * Outcomes of deliveries, written together in one transaction: one commit for many. The transaction is asked
   * for at the end of the turn in which the first of them ended (none runs before a delivery started in that turn
   * has left the hub), and takes every outcome waiting when its body starts: behind a busy store (a shared
   * database under load, where each statement is a round trip) the outcomes that ended meanwhile go in it too.
   */
  const outcomes: {
    write: OutcomeWrite;
    resolve: () => void;
    reject: (err: unknown) => void;
  }[] = [];
  function recordOutcome(write: OutcomeWrite): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      outcomes.push({ write, resolve, reject });
      if (outcomes.length === 1) setImmediate(() => void writeOutcomes());
    });
  }
  async function writeOutcomes(): Promise<void> {
    let batch: typeof outcomes | undefined;
    try {
      await alerts.tx(async (fx) => {
        batch = outcomes.splice(0);
        await writeAll(fx, batch);
      });
      for (const o of batch ?? []) o.resolve();
    } catch {
      // a transaction that failed before its body ran took nothing: what waits is this call's to write
      batch ??= outcomes.splice(0);
      // One outcome that cannot be written must not take the others with it: each on its own, then.
      for (const o of batch) {
        try {
          await alerts.tx((fx) => writeAll(fx, [o]));
          o.resolve();
        } catch (err) {
          o.reject(err);
        }
      }
    }
  }

  /** The outcomes' writes, then their rows marked done: one UPDATE per status (on a shared store, round trips). */
  async function writeAll(fx: TxEffects, batch: readonly { write: OutcomeWrite }[]): Promise<void> {
    const done = new Map<number | null, number[]>();
    for (const o of batch)
      await o.write(fx, (status, id) => {
        const ids = done.get(status);
        if (ids) ids.push(id);
        else done.set(status, [id]);
      });
    for (const [status, ids] of done) await deps.store.outboxDone(status, ids);
  }

  async function failed(
    row: OutboxRow,
    payload: Record<string, unknown>,
    err: unknown,
    known: boolean,
    inTimeline: boolean,
  ): Promise<'failed' | 'final'> {
    const attempt = row.attempts + 1;
    const status = err instanceof DeliveryError ? err.status : undefined;
    const retryable = !(err instanceof DeliveryError) || err.retryable;
    const maxAttempts = row.max_attempts ?? cfg.maxAttempts;
    const final = !known || !retryable || attempt >= maxAttempts;
    // Exponential back-off with jitter, so many rows failing together do not retry in lockstep.
    const base = Math.min(cfg.retryMaxMs, cfg.retryBaseMs * 2 ** (attempt - 1));
    const jitter = cfg.retryJitter ? 1 + (Math.random() * 2 - 1) * cfg.retryJitter : 1;
    const nextAt = clock.now() + Math.max(1, Math.round(base * jitter));
    const message = err instanceof Error ? err.message : String(err);
    const reason = final
      ? !retryable || !known
        ? `not retryable: ${message}`
        : `gave up after ${attempt} attempts: ${message}`
      : message;
    m.deliveries.inc({ channel: row.channel, outcome: final ? 'dead' : 'failed' });
    m.responses.inc({ channel: row.channel, code: status === undefined ? 'none' : String(status) });
    log.warn(
      {
        err,
        alertId: row.alert_id,
        channel: row.channel,
        target: maskTarget(row.channel, row.target),
        attempt,
        status,
      },
      final ? 'delivery dead' : 'delivery failed',
    );
    await recordOutcome(async (fx) => {
      await claims.retry(nextAt, reason, status ?? null, final ? 'dead' : 'pending', row.id);
      // pending again at a later time: the pass after the commit arms the timer for it
      if (!final) fx.queued = true;
      if (inTimeline) {
        await recordDelivery(fx, row, payload, final ? 'delivery_dead' : 'delivery_failed', {
          status: status ?? null,
          error: message,
          ...(final ? { reason } : {}),
          idempotencyKey: row.idempotency_key,
          nextAt: final ? null : nextAt,
          ...rungOf(row),
        });
      }
      if (final && row.rung !== null) await deps.mustReach.rungDead(fx, row.alert_id, row.rung);
    });
    // A message that can never go says nothing about its target: only retryable failures back the lane off.
    return retryable && known ? 'failed' : 'final';
  }

  /** Forget delivered outbox rows and spent timers after the retention time; the timeline keeps the record. */
  async function prune(): Promise<void> {
    const before = clock.now() - cfg.outboxRetentionMs;
    const a = await q.pruneOutbox(before);
    await q.pruneJournal(before);
    await q.pruneEventSeen(before);
    const b = await q.pruneTimers(before);
    if (a || b) log.info({ outbox: a, timers: b }, 'pruned delivered outbox rows');
    lastPrune = clock.now();
  }
  let lastPrune = 0;

  // One pass at a time; what it starts runs on. A wake-up during a pass (a fold commits, say) asks for one more,
  // and whoever awaits a pump awaits the pass running now.
  let pass: Promise<void> | undefined;
  let again = false;
  let recovered = false;
  /**
   * The last pass left due rows it had no slot for (this instance's or another's: every instance claims from the
   * one table, each with slots of its own). Until a pass finds none, every commit passes again, so that slots
   * coming free here take rows other instances queued; a pass that took every due row ends that.
   */
  let backlog = false;

  /** Fill every lane that has due rows and free slots: claim, then start each delivery. */
  function pump(): Promise<void> {
    if (deps.run.stopped) return Promise.resolve();
    if (deps.store.inTransaction) {
      // Woken while a transaction is open: claim only after it commits, or a rollback would un-queue messages
      // already sent. On SQLite it has committed by the next turn; on PostgreSQL this looks again each turn.
      return new Promise((resolve) => setImmediate(() => resolve(pump())));
    }
    if (pass !== undefined) {
      again = true;
      return pass;
    }
    pass = pumpPass().finally(() => {
      pass = undefined;
    });
    return pass;
  }

  async function pumpPass(): Promise<void> {
    try {
      if (!recovered) {
        // Our own claims from before a restart: nobody is delivering them now, so they need not wait out the lease.
        const n = await claims.releaseOwn(owner);
        if (n) log.info({ rows: n, owner }, 'outbox claims of the previous run released');
        recovered = true;
      }
      do {
        again = false;
        const now = clock.now();
        let left = false;
        for (const due of await claims.dueLanes(now)) {
          if (deps.run.stopped) break;
          const lane = lanes.get(due.channel, due.target);
          await fill(lane, now, due.critical === 1);
          left ||= lane.backlog;
        }
        backlog = left;
      } while (again && !deps.run.stopped);
      if (clock.now() - lastPrune > 3_600_000) await prune();
    } catch (err) {
      log.error({ err }, 'outbox pass failed');
    }
    await retry.arm();
  }

  /**
   * Claim what the lane has room for (critical first; one slot kept for critical) and start it. `hasCritical`
   * false (the lane's due rows hold none) spares the critical-only claim: each claim is a statement on the path
   * from an alert's commit to its alarms.
   */
  async function fill(lane: Lane, now: number, hasCritical = true): Promise<void> {
    const slots = lanes.free(lane, now);
    const base = { now, channel: lane.channel, target: lane.target, owner, leaseUntil: leaseFrom(lane, now) };
    if (lane.pausedUntil > now) {
      lane.backlog = true;
      // Backing off from a failing target: a storm still folds into one digest meanwhile (only with company: a
      // single alarm left to tryFold would open the robot's window without being sent)…
      const first = await claims.foldable(now, lane.channel, lane.target);
      const company = first
        ? (await q.digestSiblings(lane.channel, lane.target, now + cfg.digestWaitMs, now)).length
        : 0;
      if (first && company >= 2) await deps.tryFold(first);
      // …and a new critical message is let through, one at a time: it may find the target back.
      if (lane.active === 0) {
        const probe = await claims.claim({ ...base, limit: 1, onlyCritical: 1, onlyFresh: 1 });
        for (const claimed of probe) await take(lane, claimed);
      }
    } else if (slots.any === 0) {
      // full: whatever is due waits for the next free slot
      lane.backlog = true;
    } else {
      const rows = hasCritical
        ? await claims.claim({ ...base, limit: slots.any, onlyCritical: 1, onlyFresh: 0 })
        : [];
      // Rows may be left when a claim took all it asked for, or when no slot was left to ask for the others.
      let backlog = rows.length === slots.any;
      const left = Math.min(slots.any - rows.length, slots.other);
      if (left > 0) {
        const others = await claims.claim({ ...base, limit: left, onlyCritical: 0, onlyFresh: 0 });
        backlog ||= others.length === left;
        rows.push(...others);
      } else backlog = true;
      lane.backlog = backlog;
      // RETURNING has no order of its own
      rows.sort(claimOrder);
      for (const claimed of rows) await take(lane, claimed);
    }
    lanes.dropIfIdle(lane);
  }

  /** A claim outlives the attempt it covers (twice the lane's timeout on the hub clock, at least the lease). */
  function leaseFrom(lane: Lane, now: number): number {
    return now + Math.max(cfg.claimLeaseMs, 2 * lanes.timeoutOf(lane.channel) * clock.speed);
  }

  async function take(lane: Lane, claimed: ClaimedRow): Promise<void> {
    if (inFlight.has(claimed.id)) return;
    // Folding an earlier row of this batch may have changed it since the claim.
    const row = await claims.row(claimed.id);
    if (row?.state !== 'pending' || row.claimed_by !== owner) return;
    if (row.digestible === 1 && row.attempts === 0 && (await deps.tryFold(row))) {
      await claims.release(row.id, owner);
      return;
    }
    const wait = rateWait(row.channel, row.target);
    if (wait > 0) {
      await claims.postpone(clock.now() + wait, row.id);
      m.rateLimited.inc({ channel: row.channel });
      return;
    }
    // Another pass may have started the row while this one read it.
    if (inFlight.has(claimed.id)) return;
    lanes.started(lane, row.severity === 'critical');
    run(lane, row);
  }

  /** Deliver a row whose lane slot is taken; the slot is given back with the outcome, and the lane refilled. */
  function run(lane: Lane, row: OutboxRow): void {
    const critical = row.severity === 'critical';
    // The slot goes back the moment the channel has the message; its record is bookkeeping. A lane whose slots
    // waited for the outcome's commit carried one phone a few dozen alarms a second behind a busy shared store
    // (every smoke alarm of a burning building goes to the same grid worker), and alarms queued for seconds.
    // The row stays in flight, and claimed, until its outcome is written.
    let free = true;
    const release = (outcome: 'delivered' | 'failed' | 'final') => {
      if (!free) return;
      free = false;
      lanes.finished(lane, critical, outcome);
      void refill(lane);
    };
    const attempt = deliver(row, () => release('delivered')).then(release, (err: unknown) => {
      // deliver records its own failures; this is a bug or the database going away
      release('failed');
      log.error({ err, alertId: row.alert_id, channel: row.channel }, 'outbox delivery failed');
    });
    inFlight.set(
      row.id,
      attempt.finally(() => inFlight.delete(row.id)),
    );
  }

  /**
   * A slot of this lane came free: give it the lane's next row. Other lanes gain nothing from an outcome (what it
   * queued anew, a retry or a must-reach rung, makes its commit wake every lane), so this is one claim, not a pass
   * over all of them.
   */
  async function refill(lane: Lane): Promise<void> {
    if (deps.run.stopped) return;
    if (!lane.backlog) {
      // Its last fill took every due row: a claim now would find none. A lane backing off wakes at its end.
      const now = clock.now();
      if (lane.pausedUntil > now) retry.armBy(lane.pausedUntil);
      return;
    }
    if (pass !== undefined || deps.store.inTransaction) {
      again = true;
      await pump();
      return;
    }
    try {
      await fill(lanes.get(lane.channel, lane.target), clock.now());
    } catch (err) {
      log.error({ err, channel: lane.channel }, 'outbox lane refill failed');
    }
    await retry.arm();
  }

  // Rows due now in a lane with a free slot are claimed at their insert and sent right after the commit. Not for
  // rows that may fold into a digest or wait for a rate limit, nor before the first pass released the claims
  // left by this hub's previous run.
  alerts.useHandOff({
    claim(o, now) {
      if (deps.run.stopped || !recovered || o.nextAt > now || o.digestible) return undefined;
      if (!deps.channels.has(o.channel) || Object.hasOwn(cfg.rateLimits, o.channel)) return undefined;
      const lane = lanes.get(o.channel, o.target);
      const critical = o.severity === 'critical';
      const slots = lanes.free(lane, now);
      if ((critical ? slots.any : slots.other) === 0) {
        lanes.dropIfIdle(lane);
        return undefined;
      }
      lanes.started(lane, critical);
      return { owner, leaseUntil: leaseFrom(lane, now) };
    },
    start(rows) {
      for (const row of rows) run(lanes.get(row.channel, row.target), row);
    },
    abandon(rows) {
      for (const row of rows) lanes.released(lanes.get(row.channel, row.target), row.severity === 'critical');
    },
  });

  /** Start whatever is due now; deliveries run on by themselves (the promise is for callers that await it). */
  async function drain(): Promise<void> {
    await pump();
  }

  /**
   * The heartbeat's sweep on a shared database: rows claimed by an instance that died are claimable now (its lease
   * ran out, outbox-claims.ts); deliver them at once instead of at the end of their claim. Answers how many.
   */
  async function takeOverOrphans(now: number): Promise<number> {
    const orphaned = await claims.orphaned(now);
    if (orphaned > 0)
      log.warn({ rows: orphaned }, 'taking over the outbox rows claimed by an instance whose lease ran out');
    // Every sweep passes over the lanes: rows another instance wrote unclaimed and left due (it died before its
    // own pass) are claimable now, and this instance's commits no longer pass after every outcome.
    await pump();
    return orphaned;
  }

  /** Deliver until nothing is due and nothing is in flight: a delivery may queue more (a digest, the next rung). */
  async function settle(): Promise<void> {
    await pump();
    while (!deps.run.stopped && inFlight.size) {
      await Promise.all(inFlight.values());
      await pump();
    }
  }

  async function stop(): Promise<void> {
    retry.cancel();
    // Most deliveries in flight end in milliseconds and their outcome is recorded. One still hanging at the end of
    // the grace keeps its claim: the next start takes it back and sends it again under the same idempotency key.
    let grace: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(inFlight.values()),
      new Promise<void>((resolve) => {
        grace = setTimeout(resolve, STOP_GRACE_MS);
        grace.unref();
      }),
    ]);
    clearTimeout(grace);
  }

  return {
    drain,
    /** The last pass over the lanes left due rows it had no slot for: every commit passes again. */
    get backlog() {
      return backlog;
    },
    /** A transaction of this instance committed rows whose claims run out at `at`: the timer wakes by then. */
    wakeBy: (at: number) => retry.armBy(at),
    settle,
    takeOverOrphans,
    prune,
    stop,
    /** Lanes busy or backing off (deliveries in flight, failures in a row). */
    get lanes() {
      return lanes.size;
    },
  };
}

/** How long stopping waits for deliveries in flight (real time), so a hanging receiver cannot hold a shutdown. */
const STOP_GRACE_MS = 3_000;

function claimOrder(a: OutboxRow, b: OutboxRow): number {
  const ca = a.severity === 'critical' ? 0 : 1;
  const cb = b.severity === 'critical' ? 0 : 1;
  return ca - cb || a.next_at - b.next_at || a.id - b.id;
}

function rungOf(row: OutboxRow): { rung?: number } {
  return row.rung !== null ? { rung: row.rung } : {};
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`delivery timed out after ${ms} ms`)), ms);
    t.unref();
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (err: unknown) => {
        clearTimeout(t);
        reject(err);
      },
    );
  });
}
