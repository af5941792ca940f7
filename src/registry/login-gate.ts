import type { Clock } from '../clock/clock.ts';
import type { LoginAdmission, LoginGate } from '../domain/ports.ts';

export interface LoginGateOptions {
  /** Attempts from one source (address) that may fail before each further one waits. */
  freePerSource: number;
  /** Attempts on one account (from anywhere) that may fail before each further one waits. */
  freePerAccount: number;
  /** Wait after the first attempt over the free ones; doubles with each further failure. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** Verifications (the password KDF) running at once; the rest wait in the queue. */
  concurrency: number;
  /** Verifications waiting at most; more are refused at once (answered 429 / CONNACK 3). */
  queueLimit: number;
  /** Of the running and waiting verifications, at most this many from one source. */
  perSourceInQueue: number;
}

export const DEFAULT_LOGIN_GATE: LoginGateOptions = {
  freePerSource: 10,
  freePerAccount: 10,
  baseDelayMs: 1_000,
  maxDelayMs: 5 * 60_000,
  concurrency: 2,
  queueLimit: 32,
  perSourceInQueue: 2,
};

const FORGET_AFTER_MS = 15 * 60_000;
const MAX_TRACKED = 10_000;

interface Counter {
  /** Attempts that failed, plus those still being verified (counted before the verification starts). */
  count: number;
  last: number;
  /** No attempt is admitted before this instant. */
  until: number;
}

/**
 * The one login throttle of the hub, for HTTP logins and MQTT CONNECTs alike. An attempt is counted *before*
 * its (asynchronous) verification, per source and per account, so a burst of parallel guesses cannot all get
 * through while the first ones are still being checked: over the free attempts, each further one is refused
 * with the time to wait. A success takes its own attempt back and clears the account. Verifications run
 * through a bounded queue with a per-source share, so a flood from a few sources cannot keep the KDF busy and
 * delay everybody else's login.
 */
export function createLoginGate(clock: Clock, options: LoginGateOptions = DEFAULT_LOGIN_GATE): LoginGate {
  const sources = new Map<string, Counter>();
  const accounts = new Map<string, Counter>();
  const inQueueBySource = new Map<string, number>();
  let running = 0;
  const waiting: Array<() => void> = [];

  const counter = (map: Map<string, Counter>, key: string, now: number): Counter => {
    let c = map.get(key);
    if (c && now - c.last > FORGET_AFTER_MS && c.until <= now) {
      map.delete(key);
      c = undefined;
    }
    if (!c) {
      c = { count: 0, last: now, until: 0 };
      if (map.size >= MAX_TRACKED) {
        const oldest = map.keys().next().value;
        if (oldest !== undefined) map.delete(oldest);
      }
      map.set(key, c);
    }
    return c;
  };

  const delayFor = (count: number, free: number): number =>
    count < free ? 0 : Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** Math.min(30, count - free));

  const charge = (c: Counter, free: number, now: number) => {
    c.count++;
    c.last = now;
    const d = delayFor(c.count, free);
    if (d > 0) c.until = Math.max(c.until, now + d);
  };

  const refund = (c: Counter | undefined): void => {
    if (c && c.count > 0) c.count--;
  };

  const next = () => {
    while (running < options.concurrency && waiting.length > 0) {
      running++;
      (waiting.shift() as () => void)();
    }
  };

  return {
    admit(source, account): LoginAdmission {
      const now = clock.now();
      const s = counter(sources, source, now);
      const a = counter(accounts, account, now);
      const wait = Math.max(s.until, a.until) - now;
      if (wait > 0) return { ok: false, reason: s.until > now ? 'source' : 'account', retryAfterMs: wait };
      const queued = inQueueBySource.get(source) ?? 0;
      if (queued >= options.perSourceInQueue || waiting.length >= options.queueLimit) {
        return { ok: false, reason: 'busy', retryAfterMs: options.baseDelayMs };
      }
      charge(s, options.freePerSource, now);
      charge(a, options.freePerAccount, now);
      let done = false;
      return {
        ok: true,
        async verify<T>(check: () => Promise<T> | T): Promise<T> {
          inQueueBySource.set(source, (inQueueBySource.get(source) ?? 0) + 1);
          let slot = false;
          await new Promise<void>((resolve) => {
            waiting.push(() => {
              slot = true;
              resolve();
            });
            next();
          });
          try {
            return await check();
          } finally {
            if (slot) running--;
            const q = (inQueueBySource.get(source) ?? 1) - 1;
            if (q <= 0) inQueueBySource.delete(source);
            else inQueueBySource.set(source, q);
            next();
          }
        },
        settle(success) {
          if (done) return;
          done = true;
          if (!success) return;
          // A success was not a guess: take the attempt back from the source, and clear the account.
          const src = sources.get(source);
          refund(src);
          if (src && src.count < options.freePerSource) src.until = 0;
          const acc = accounts.get(account);
          if (acc) {
            acc.count = 0;
            acc.until = 0;
          }
        },
      };
    },
  };
}
