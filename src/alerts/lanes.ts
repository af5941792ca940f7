/**
 * Delivery lanes: one per channel and target (a group robot, one worker's phone, an SMS number). Each lane has
 * its own slots (deliveries in flight), its own timeout (per channel) and its own back-off after failures, so a
 * target that hangs or fails holds only its own messages (Alertmanager's notify pipeline runs each receiver's
 * integration the same way). Only bookkeeping lives here: the rows themselves stay in the outbox table, claimed.
 */
import type { Clock } from '../clock/clock.ts';
import type { AlertsConfig } from './config.ts';

export interface Lane {
  readonly key: string;
  readonly channel: string;
  readonly target: string;
  /** Deliveries in flight, and how many of them are not critical. */
  active: number;
  activeOther: number;
  /** Failed attempts in a row; reset by a delivery that goes through. */
  failures: number;
  /** After failures, nothing more is tried in this lane before this time (hub clock). */
  pausedUntil: number;
  /**
   * The lane's last fill may have left due rows unclaimed (its slots ran out, or it was backing off): a slot that
   * comes free is given the next one. After a fill that took every due row there is nothing to wait for: what
   * falls due later comes with a commit or the outbox's timer, each of which passes over every lane.
   */
  backlog: boolean;
}

export type Lanes = ReturnType<typeof createLanes>;

/** A lane's back-off stays short (hub clock): a target that comes back is tried again within a minute. */
const LANE_BACKOFF_MAX_MS = 60_000;

/**
 * Timeout of one attempt in a channel's lanes, in real milliseconds (the network does not run on the hub clock);
 * HTTP channels abort their request at the same time.
 */
export function laneTimeoutOf(
  cfg: Pick<AlertsConfig, 'laneTimeoutsMs' | 'deliveryTimeoutMs'>,
  channel: string,
): number {
  return Object.hasOwn(cfg.laneTimeoutsMs, channel)
    ? (cfg.laneTimeoutsMs[channel] ?? cfg.deliveryTimeoutMs)
    : cfg.deliveryTimeoutMs;
}

export function createLanes(
  cfg: Pick<
    AlertsConfig,
    'laneConcurrency' | 'laneTimeoutsMs' | 'deliveryTimeoutMs' | 'retryBaseMs' | 'retryMaxMs' | 'retryJitter'
  >,
  clock: Clock,
) {
  const lanes = new Map<string, Lane>();
  // With more than one slot, one is kept for critical messages: a storm of minor ones never fills a lane.
  const otherSlots = cfg.laneConcurrency > 1 ? cfg.laneConcurrency - 1 : 1;

  function get(channel: string, target: string): Lane {
    const key = `${channel}\u0000${target}`;
    let lane = lanes.get(key);
    if (!lane) {
      lane = { key, channel, target, active: 0, activeOther: 0, failures: 0, pausedUntil: 0, backlog: false };
      lanes.set(key, lane);
    }
    return lane;
  }

  /** Free slots of a lane now: how many rows it may take, and how many of them may be non-critical. */
  function free(lane: Lane, now: number): { any: number; other: number } {
    if (lane.pausedUntil > now) return { any: 0, other: 0 };
    const any = Math.max(0, cfg.laneConcurrency - lane.active);
    return { any, other: Math.min(any, Math.max(0, otherSlots - lane.activeOther)) };
  }

  function started(lane: Lane, critical: boolean): void {
    lane.active++;
    if (!critical) lane.activeOther++;
  }

  function finished(lane: Lane, critical: boolean, outcome: 'delivered' | 'failed' | 'final'): void {
    lane.active--;
    if (!critical) lane.activeOther--;
    if (outcome === 'delivered') {
      lane.failures = 0;
      lane.pausedUntil = 0;
    } else if (outcome === 'failed') {
      // The target is down or hanging: back off the whole lane, doubling, with jitter so lanes do not retry
      // in lockstep. A message that will never go (4xx) says nothing about the target and does not count.
      lane.failures++;
      const base = Math.min(cfg.retryMaxMs, LANE_BACKOFF_MAX_MS, cfg.retryBaseMs * 2 ** (lane.failures - 1));
      const jitter = cfg.retryJitter ? 1 + (Math.random() * 2 - 1) * cfg.retryJitter : 1;
      lane.pausedUntil = Math.max(lane.pausedUntil, clock.now() + Math.max(1, Math.round(base * jitter)));
    }
    dropIfIdle(lane);
  }

  /** A slot taken for a delivery that never started (its transaction rolled back): no outcome to learn from. */
  function released(lane: Lane, critical: boolean): void {
    lane.active--;
    if (!critical) lane.activeOther--;
    dropIfIdle(lane);
  }

  /** Idle lanes in good health carry no state worth keeping. */
  function dropIfIdle(lane: Lane): void {
    if (lane.active === 0 && lane.failures === 0) lanes.delete(lane.key);
  }

  const timeoutOf = (channel: string) => laneTimeoutOf(cfg, channel);

  /** The earliest end of a lane's back-off still ahead, or null. */
  function nextResume(now: number): number | null {
    let next: number | null = null;
    for (const lane of lanes.values()) {
      if (lane.pausedUntil > now && (next === null || lane.pausedUntil < next)) next = lane.pausedUntil;
    }
    return next;
  }

  return {
    get,
    free,
    started,
    finished,
    released,
    dropIfIdle,
    timeoutOf,
    nextResume,
    /** Lanes with deliveries in flight or in back-off (for /metrics). */
    get size() {
      return lanes.size;
    },
  };
}
