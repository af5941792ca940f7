import { describe, expect, it } from 'vitest';
import { ManualClock } from '../clock/clock.ts';
import type { LoginAttempt } from '../domain/ports.ts';
import { createLoginGate, DEFAULT_LOGIN_GATE } from './login-gate.ts';

const options = { ...DEFAULT_LOGIN_GATE, freePerSource: 3, freePerAccount: 5, baseDelayMs: 1_000 };

describe('the login gate', () => {
  it('counts an attempt before its verification: parallel guesses beyond the free ones are refused', () => {
    const gate = createLoginGate(new ManualClock(), { ...options, perSourceInQueue: 100 });
    const answers = Array.from({ length: 10 }, () => gate.admit('10.0.0.1', 'li'));
    expect(answers.filter((a) => a.ok)).toHaveLength(3);
    expect(answers[3]).toMatchObject({ ok: false, reason: 'source', retryAfterMs: 1_000 });
  });

  it('waits double with each further failure, per account across sources', () => {
    const clock = new ManualClock();
    const gate = createLoginGate(clock, { ...options, freePerSource: 100 });
    for (let i = 0; i < 5; i++) (gate.admit(`10.0.0.${i}`, 'li') as LoginAttempt).settle(false);
    expect(gate.admit('10.0.1.1', 'li')).toMatchObject({ ok: false, reason: 'account', retryAfterMs: 1_000 });
    expect(gate.admit('10.0.1.1', 'wang').ok).toBe(true);
    clock.advance(1_000);
    (gate.admit('10.0.1.1', 'li') as LoginAttempt).settle(false);
    expect(gate.admit('10.0.1.1', 'li')).toMatchObject({ ok: false, retryAfterMs: 2_000 });
  });

  it('a success gives its attempt back and clears the account', () => {
    const gate = createLoginGate(new ManualClock(), options);
    for (let i = 0; i < 2; i++) (gate.admit('a', 'li') as LoginAttempt).settle(false);
    const ok = gate.admit('a', 'li') as LoginAttempt;
    ok.settle(true);
    // 2 failures stay counted at the source: one more free attempt, then the wait
    expect(gate.admit('a', 'li').ok).toBe(true);
    expect(gate.admit('a', 'li').ok).toBe(false);
  });

  it('the verification queue is bounded and shared fairly: one source cannot fill it', async () => {
    const gate = createLoginGate(new ManualClock(), {
      ...options,
      freePerSource: 1_000,
      freePerAccount: 1_000,
      concurrency: 1,
      queueLimit: 4,
      perSourceInQueue: 2,
    });
    const release: Array<() => void> = [];
    const slow = () => new Promise<boolean>((resolve) => release.push(() => resolve(false)));
    const a1 = gate.admit('flood', 'x') as LoginAttempt;
    const a2 = gate.admit('flood', 'y') as LoginAttempt;
    const p1 = a1.verify(slow);
    const p2 = a2.verify(slow);
    // the flooding source has its share in the queue: refused at once, not queued
    expect(gate.admit('flood', 'z')).toMatchObject({ ok: false, reason: 'busy' });
    // another user's login waits behind at most the flood's share
    const b = gate.admit('office', 'li') as LoginAttempt;
    const pb = b.verify(async () => true);
    // the flood's two run one after the other, then the office's; nothing else was let in
    for (let i = 0; i < 2; i++) {
      await new Promise((resolve) => setImmediate(resolve));
      release.shift()?.();
    }
    expect(await pb).toBe(true);
    await Promise.all([p1, p2]);
  });
});
