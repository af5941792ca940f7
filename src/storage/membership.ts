import type { Kysely } from 'kysely';
import type { LeaseTables } from './leases.ts';
import { ownerOf } from './rendezvous.ts';
import type { SqlStore } from './sql-store.ts';

/**
 * Which hub instances are live on the shared database, as the routing of devices to owners reads it (issue #18,
 * owner routing in the external-broker mode): the instances holding a lease at the last `refresh`, and the
 * owner of a device among them (rendezvous hashing, rendezvous.ts). Read after each lease renewal; between two
 * reads the answer is the last one, so deciding per message costs no round trip.
 */
export interface MembershipChange {
  readonly before: readonly string[];
  readonly after: readonly string[];
  /**
   * When an instance that left was last known to run: its last renewal (its lease's end − the lease length;
   * this instance's own ttl is assumed, the instances of one deployment share it). Undefined: never seen.
   */
  lastAlive(instanceId: string): number | undefined;
}

export interface Membership {
  readonly instanceId: string;
  /** Live instances at the last refresh, sorted; empty before the first. */
  live(): readonly string[];
  /** The device's owner among the live instances. */
  ownerOf(deviceId: string): string | undefined;
  /** Read the lease table at `now`; the change, or undefined when the same instances are live. */
  refresh(now: number): Promise<MembershipChange | undefined>;
  /**
   * The earliest end of another live instance's lease after `now`, as last read: the moment it is gone if it has
   * stopped renewing, so the next refresh can be made then rather than up to a renewal period later.
   */
  nextExpiry(now: number): number | undefined;
}

export function createMembership(
  store: SqlStore,
  options: { instanceId: string; ttlMs: number },
): Membership {
  const { instanceId, ttlMs } = options;
  const db: Kysely<LeaseTables> = store.builder<LeaseTables>();
  let live: readonly string[] = [];
  /** The latest lease end read per instance, kept after it left (for `lastAlive`). */
  const ends = new Map<string, number>();
  return {
    instanceId,
    live: () => live,
    ownerOf: (deviceId) => ownerOf(deviceId, live),
    nextExpiry(now) {
      let next: number | undefined;
      for (const id of live) {
        const end = ends.get(id);
        if (id === instanceId || end === undefined || end <= now) continue;
        next = Math.min(next ?? end, end);
      }
      return next;
    },
    async refresh(now) {
      // every row, expired ones too: a dead instance's row keeps the end of its very last renewal (a stopped
      // one gave its row up, and the end read before stands)
      const rows = await store.all(db.selectFrom('instance_leases').select(['instance_id', 'expires_at']));
      const next: string[] = [];
      for (const r of rows) {
        const end = Number(r.expires_at);
        ends.set(r.instance_id, end);
        if (end > now) next.push(r.instance_id);
      }
      next.sort();
      // this instance counts itself live even when its own renewal is a moment late: it is running
      if (!next.includes(instanceId)) {
        next.push(instanceId);
        next.sort();
      }
      if (next.length === live.length && next.every((id, i) => id === live[i])) return undefined;
      const before = live;
      live = next;
      return {
        before,
        after: next,
        lastAlive: (id) => {
          const end = ends.get(id);
          return end === undefined ? undefined : end - ttlMs;
        },
      };
    },
  };
}
