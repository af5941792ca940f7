/**
 * The outbox delivery loop: due rows go out (critical first), gathered alarms fold into digests, channel rate
 * limits postpone, failures retry with back-off until they are dead, and every outcome lands in the timeline.
 */
import { DeliveryError } from '../channels/channel.ts';
import type { AlertsContext } from './context.ts';
import { dueTimer } from './due-timer.ts';
import type { MustReach } from './must-reach.ts';
import type { OutboxRow } from './rows.ts';
import type { AlertStore, TxEffects } from './store.ts';
import { maskTarget } from './stores.ts';

export type Outbox = ReturnType<typeof createOutbox>;

export function createOutbox(
  ctx: AlertsContext,
  store: AlertStore,
  parts: { tryFold: (row: OutboxRow) => boolean; mustReach: MustReach },
) {
  const { clock, cfg, q, m, log } = ctx;
  const retry = dueTimer(clock, {
    next: () => q.nextOutbox.get()?.due ?? null,
    fire: () => void drain(),
    stopped: () => ctx.run.stopped,
    onlyFuture: true,
  });

  // Token buckets per channel and target (messages per minute): the platforms limit each robot, e.g. DingTalk
  // 20 a minute per robot. On the hub clock so virtual time drives them too.
  const buckets = new Map<string, { tokens: number; at: number }>();
  /** 0 when the target may be sent to now (a token is taken); else how long to wait for the next token. */
  function rateWait(channel: string, target: string): number {
    if (!Object.hasOwn(cfg.rateLimits, channel)) return 0;
    const limit = cfg.rateLimits[channel];
    if (!limit) return 0;
    const perMs = limit.perMinute / 60_000;
    const cap = Math.max(1, limit.perMinute);
    const now = clock.now();
    const key = `${channel}\u0000${target}`;
    const b = buckets.get(key) ?? { tokens: cap, at: now };
    b.tokens = Math.min(cap, b.tokens + (now - b.at) * perMs);
    b.at = now;
    buckets.set(key, b);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return Math.ceil((1 - b.tokens) / perMs);
  }

  /** Alerts a row speaks for: its own, or every alert listed in a digest. */
  function alertsOfRow(row: OutboxRow, payload: Record<string, unknown>): string[] {
    if (payload.kind === 'digest' && Array.isArray(payload.alertIds)) {
      return [...new Set(payload.alertIds.map(String))];
    }
    return [row.alert_id];
  }

  /** One timeline event per alert the row speaks for. */
  function recordDelivery(
    fx: TxEffects,
    row: OutboxRow,
    payload: Record<string, unknown>,
    type: string,
    data: Record<string, unknown>,
  ): void {
    const head = {
      channel: row.channel,
      target: maskTarget(row.channel, row.target),
      attempt: row.attempts + 1,
    };
    for (const alertId of alertsOfRow(row, payload)) {
      store.record(
        fx,
        alertId,
        type,
        `channel:${row.channel}`,
        { ...head, ...data },
        { sink: false, stream: false },
      );
    }
  }

  async function deliver(row: OutboxRow): Promise<void> {
    const channel = ctx.channels.get(row.channel);
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
        cfg.deliveryTimeoutMs,
      );
      m.deliveries.inc({ channel: row.channel, outcome: 'delivered' });
      if (res?.status !== undefined) m.responses.inc({ channel: row.channel, code: String(res.status) });
      store.tx((fx) => {
        q.outboxDone.run(row.id);
        if (res?.status !== undefined) q.outboxDoneStatus.run(res.status, row.id);
        if (channel.recordInTimeline) {
          recordDelivery(fx, row, payload, 'delivered', {
            status: res?.status ?? null,
            receipt: res?.receipt ?? null,
            idempotencyKey: row.idempotency_key,
            ...rungOf(row),
            ...(payload.kind === 'digest' ? { digestId: payload.digestId, version: payload.version } : {}),
          });
        }
      });
    } catch (err) {
      failed(row, payload, err, channel !== undefined, channel?.recordInTimeline !== false);
    }
  }

  function failed(
    row: OutboxRow,
    payload: Record<string, unknown>,
    err: unknown,
    known: boolean,
    inTimeline: boolean,
  ): void {
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
    store.tx((fx) => {
      q.outboxRetry.run(nextAt, reason, status ?? null, final ? 'dead' : 'pending', row.id);
      if (inTimeline) {
        recordDelivery(fx, row, payload, final ? 'delivery_dead' : 'delivery_failed', {
          status: status ?? null,
          error: message,
          ...(final ? { reason } : {}),
          idempotencyKey: row.idempotency_key,
          nextAt: final ? null : nextAt,
          ...rungOf(row),
        });
      }
      if (final && row.rung !== null) parts.mustReach.rungDead(fx, row.alert_id, row.rung);
    });
  }

  /** Forget delivered outbox rows and spent timers after the retention time; the timeline keeps the record. */
  function prune(): void {
    const before = clock.now() - cfg.outboxRetentionMs;
    const a = q.pruneOutbox.run(before);
    q.pruneJournal.run(before);
    const b = q.pruneTimers.run(before);
    if (a.changes || b.changes)
      log.info({ outbox: a.changes, timers: b.changes }, 'pruned delivered outbox rows');
    lastPrune = clock.now();
  }
  let lastPrune = 0;

  let draining: Promise<void> | null = null;
  let again = false;
  // `running` is cleared inside the loop itself, synchronously when it ends, so a wake-up that arrives after the
  // last query always starts a new pass instead of joining a loop that has already finished.
  let running = false;

  async function drainLoop(): Promise<void> {
    try {
      do {
        again = false;
        for (;;) {
          const rows = q.dueOutbox.all(clock.now());
          if (!rows.length || ctx.run.stopped) break;
          for (const listed of rows) {
            if (ctx.run.stopped) break;
            // Folding or an earlier row of this pass may have changed it since the query.
            const row = q.outboxRow.get(listed.id);
            if (row?.state !== 'pending' || row.next_at > clock.now()) continue;
            if (row.digestible === 1 && row.attempts === 0 && parts.tryFold(row)) continue;
            const wait = rateWait(row.channel, row.target);
            if (wait > 0) {
              q.postpone.run(clock.now() + wait, row.id);
              m.rateLimited.inc({ channel: row.channel });
              continue;
            }
            await deliver(row);
          }
        }
      } while (again && !ctx.run.stopped);
      if (clock.now() - lastPrune > 3_600_000) prune();
      retry.arm();
    } finally {
      running = false;
    }
  }

  /** Deliver every row that is due now; joins the pass that is running, asking it for one more round. */
  function drain(): Promise<void> {
    if (ctx.run.stopped) return Promise.resolve();
    if (running && draining !== null) {
      again = true;
      return draining;
    }
    running = true;
    draining = drainLoop().catch((err: unknown) => log.error({ err }, 'outbox loop failed'));
    return draining;
  }

  /** Drain until nothing is due: a delivery may have queued more (timeline → stream). */
  async function settle(): Promise<void> {
    await drain();
    while (!ctx.run.stopped && q.dueOutbox.all(clock.now()).length) await drain();
  }

  async function stop(): Promise<void> {
    retry.cancel();
    await draining;
  }

  return { drain, settle, prune, stop };
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
