import { expect, it, vi } from 'vitest';
import { ManualClock } from '../../src/clock/clock.ts';
import { createInstanceLease, leaseCheck, migrateLeases } from '../../src/storage/leases.ts';
import { createMembership } from '../../src/storage/membership.ts';
import { describeStores } from './stores.ts';

/**
 * The instance lease as `/readyz` reads it, on both stores: ready while renewals reach the database, not ready
 * once they have not for a whole lease length (the other instances take over this one's work then).
 */
const T0 = Date.parse('2026-12-02T08:00:00+08:00');
const TTL = 15_000;

describeStores('instance lease readiness', ({ fresh }) => {
  it('is ready while renewals reach the database and not once the lease ran out unrenewed', async () => {
    const sut = await fresh();
    await migrateLeases(sut.store);
    const clock = new ManualClock(T0);
    const lease = createInstanceLease(sut.reopen(), { instanceId: 'hub-a', clock, ttlMs: TTL });
    const ready = leaseCheck(lease, clock);
    expect(ready()).toMatch(/lease renewal/);
    await lease.renew();
    expect(ready()).toBe(true);
    clock.advance(TTL - 1_000);
    await lease.renew();
    clock.advance(TTL - 1);
    expect(ready()).toBe(true);

    // the database stops taking this instance's writes (here: its table is gone): the renewals fail, and it says
    // so once its lease has run out
    await sut.store.write(sut.store.builder().schema.dropTable('instance_leases'));
    await expect(lease.renew()).rejects.toThrow(/instance_leases/);
    expect(ready()).toBe(true);
    clock.advance(1);
    expect(ready()).toMatch(/other instances take over/);
  });
});

describeStores('instance lease heartbeat', ({ fresh }) => {
  it('sweeps just after another instance’s lease ends unrenewed, not up to a renewal period later', async () => {
    const sut = await fresh();
    await migrateLeases(sut.store);
    const clock = new ManualClock(T0);
    const dead = createInstanceLease(sut.reopen(), { instanceId: 'hub-b', clock, ttlMs: TTL });
    await dead.renew();
    const membership = createMembership(sut.reopen(), { instanceId: 'hub-a', ttlMs: TTL });
    const lease = createInstanceLease(sut.reopen(), { instanceId: 'hub-a', clock, ttlMs: TTL });
    const seen: { at: number; live: readonly string[] }[] = [];
    clock.advance(2_000);
    lease.start(
      (err) => {
        throw err;
      },
      async (now) => {
        await membership.refresh(now);
        seen.push({ at: now - T0, live: membership.live() });
      },
      (now) => membership.nextExpiry(now),
    );
    // each sweep, then its next renewal armed (the store may answer in real time, the clock is virtual)
    const swept = async (n: number) => {
      await vi.waitUntil(() => seen.length === n);
      await vi.waitUntil(() => clock.pending === 1);
    };
    await swept(1);
    // hub-b renewed at T0 and never again: its lease ends at T0 + 15 s; hub-a renews every 5 s from 2 s
    await clock.advanceAsync(5_000);
    await swept(2);
    await clock.advanceAsync(5_000);
    await swept(3);
    expect(seen[2]?.live).toEqual(['hub-a', 'hub-b']);
    // the next renewal would be at 17 s: the heartbeat wakes just after hub-b's end instead
    await clock.advanceAsync(3_001);
    await swept(4);
    await lease.stop();
    expect(seen.map((s) => s.at)).toEqual([2_000, 7_000, 12_000, 15_001]);
    expect(seen[3]?.live).toEqual(['hub-a']);
  });

  it('renews on time while a sweep runs longer than the lease, and sweeps again right after it, once', async () => {
    const sut = await fresh();
    await migrateLeases(sut.store);
    const clock = new ManualClock(T0);
    const lease = createInstanceLease(sut.reopen(), { instanceId: 'hub-a', clock, ttlMs: TTL });
    const other = createInstanceLease(sut.reopen(), { instanceId: 'hub-b', clock, ttlMs: TTL });
    let release = () => {};
    const busy = new Promise<void>((resolve) => {
      release = resolve;
    });
    const sweeps: number[] = [];
    lease.start(
      (err) => {
        throw err;
      },
      async (now) => {
        sweeps.push(now - T0);
        // the first sweep takes a dead instance's backlog over on a busy store: longer than the whole lease
        if (sweeps.length === 1) await busy;
      },
    );
    await vi.waitUntil(() => sweeps.length === 1 && clock.pending === 1);
    const period = TTL / 3;
    for (let i = 1; i <= 4; i++) {
      await clock.advanceAsync(period);
      await vi.waitUntil(() => lease.heldUntil() === T0 + i * period + TTL && clock.pending === 1);
    }
    // four periods on, past the lease's first end: renewed all along, so alive to the others
    expect(await other.isLive('hub-a')).toBe(true);
    expect(sweeps).toEqual([0]);
    // the renewals that came during the long sweep have one more sweep run as soon as it ends
    release();
    await vi.waitUntil(() => sweeps.length === 2);
    expect(sweeps).toEqual([0, 4 * period]);
    await lease.stop();
  });
});
