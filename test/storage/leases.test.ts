import { expect, it } from 'vitest';
import { ManualClock } from '../../src/clock/clock.ts';
import { createInstanceLease, leaseCheck, migrateLeases } from '../../src/storage/leases.ts';
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
