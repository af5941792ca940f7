/** Channel rate limits of the outbox (`alerts.rateLimits`): a token bucket per channel and target. */
import type { Clock } from '../clock/clock.ts';
import type { AlertsConfig } from './config.ts';

/**
 * Token buckets per channel and target (messages per minute): the platforms limit each robot, e.g. DingTalk 20 a
 * minute per robot. On the hub clock so virtual time drives them too. Answers what the outbox asks before each
 * delivery.
 */
export function createRateLimits(
  cfg: Pick<AlertsConfig, 'rateLimits'>,
  clock: Clock,
): (channel: string, target: string) => number {
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
  return rateWait;
}
