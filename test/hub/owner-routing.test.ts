import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectAsync, type MqttClient } from 'mqtt';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock/clock.ts';
import type { EventReading } from '../../src/domain/reading.ts';
import { topics } from '../../src/domain/wire.ts';
import { ownerOf } from '../../src/storage/rendezvous.ts';
import { startTestHub, type TestHub } from '../helpers/hub.ts';
import { POSTGRES_MISSING, startPostgres, type TestPostgres } from '../helpers/postgres.ts';
import { startMosquitto } from '../ingest/harness.ts';

const mosquitto = POSTGRES_MISSING ? undefined : await startMosquitto();
const MISSING = POSTGRES_MISSING ?? (mosquitto ? undefined : 'mosquitto is not installed');
if (MISSING) console.warn(`owner routing tests skipped: ${MISSING}`);

const TTL = 3_000;
const keyDir = mkdtempSync(join(tmpdir(), 'gridhub-route-key-'));
const START = Date.UTC(2026, 0, 5, 8, 0, 0);
/** A stateful rule short enough to step through in lease-sized steps: bin ≥ 90 % for 6 s. */
const RULE = `id: bin-soon
name: Bin full soon
match: { deviceTypes: [bin] }
condition: { field: fill, gte: 90 }
for: 6s
clear: { when: { field: fill, lt: 30 } }
raise: { severity: minor, category: bin_full, title: Bin full soon }
`;

/**
 * Owner routing in the external-broker mode (issue #18, "Rules that see the whole device"): two whole hubs on one
 * PostgreSQL and one Mosquitto, each receiving every device message, each device evaluated by one of them. Each
 * hub runs on its own ManualClock, moved together in steps shorter than a lease, so a `for` runs in virtual time
 * while leases stay live; a hub is killed by closing its consumers and never moving its clock again: its lease
 * runs out on the survivor's clock, as after a kill -9.
 */
describe.skipIf(MISSING !== undefined)(
  'owner routing over an external broker, two hubs on one PostgreSQL',
  () => {
    let pgc: TestPostgres;
    const hubs: TestHub[] = [];
    const clients: MqttClient[] = [];
    let sql: pg.Client | undefined;
    const db = (): pg.Client => {
      if (!sql) throw new Error('no database client');
      return sql;
    };
    beforeAll(async () => {
      pgc = await startPostgres();
    }, 60_000);
    afterEach(async () => {
      await Promise.all(clients.splice(0).map((c) => c.endAsync(true).catch(() => undefined)));
      for (const h of hubs.splice(0)) await h.close().catch(() => undefined);
      await sql?.end();
      sql = undefined;
    });
    afterAll(async () => {
      await pgc?.stop();
      await mosquitto?.stop();
      rmSync(keyDir, { recursive: true, force: true });
    });

    async function until<T>(what: string, probe: () => T | undefined | Promise<T | undefined>): Promise<T> {
      const deadline = Date.now() + 15_000;
      for (;;) {
        const v = await probe();
        if (v !== undefined && v !== false) return v;
        if (Date.now() > deadline) throw new Error(`${what} not within 15 s`);
        await new Promise((r) => setTimeout(r, 20));
      }
    }

    interface Running {
      a: TestHub;
      b: TestHub;
      clocks: Map<TestHub, ManualClock>;
      alive: Set<TestHub>;
    }

    const env = (url: string, id: string) => ({
      GRIDHUB_DATABASE_URL: url,
      GRIDHUB_INSTANCE_ID: id,
      GRIDHUB_LEASE_TTL_MS: String(TTL),
      GRIDHUB_MQTT_EXTERNAL_URL: mosquitto?.url ?? '',
      GRIDHUB_MQTT_EXTERNAL_CLIENT_ID: id,
      GRIDHUB_MQTT_EXTERNAL_CONSUMERS: '1',
      GRIDHUB_MQTT_EXTERNAL_ROUTING: 'owner',
      // instances on one database hash device secrets with one key
      GRIDHUB_SECRET_KEY_FILE: join(keyDir, 'hub.key'),
    });
    const dataDir = () => {
      const dir = mkdtempSync(join(tmpdir(), 'gridhub-route-'));
      mkdirSync(join(dir, 'rules'));
      writeFileSync(join(dir, 'rules', 'bin-soon.yaml'), RULE);
      return dir;
    };

    /** One more instance joining the running ones, its clock at `at`. */
    async function addInstance(r: Running, url: string, id: string, at: number): Promise<TestHub> {
      const clock = new ManualClock(at);
      const h = await startTestHub({ clock, demo: false, dataDir: dataDir(), env: env(url, id) });
      hubs.push(h);
      r.clocks.set(h, clock);
      r.alive.add(h);
      return h;
    }

    async function start(url: string, beforeB?: (r: Running) => Promise<void>): Promise<Running> {
      const clockA = new ManualClock(START);
      // A alone first (it seeds the demo), then B joins: B's share is handed over by A at A's next renewal
      const a = await startTestHub({ clock: clockA, dataDir: dataDir(), env: env(url, 'hub-a') });
      hubs.push(a);
      sql = new pg.Client({ connectionString: url });
      await sql.connect();
      const r: Running = { a, b: a, clocks: new Map([[a, clockA]]), alive: new Set([a]) };
      await beforeB?.(r);
      const clockB = new ManualClock(clockA.now());
      const b = await startTestHub({
        clock: clockB,
        demo: false,
        dataDir: dataDir(),
        env: env(url, 'hub-b'),
      });
      hubs.push(b);
      r.b = b;
      r.clocks.set(b, clockB);
      r.alive.add(b);
      return r;
    }

    /**
     * Move the live hubs' clocks by `ms` (< a lease), and wait until each has renewed its lease since. A renewal
     * is armed only once the one before (and its hand-over work) finished: when it was not armed yet as the clock
     * moved, the clock is nudged on by 100 ms until it fires.
     */
    async function step(r: Running, ms: number): Promise<void> {
      const move = (by: number) => {
        for (const [hub, clock] of r.clocks) if (r.alive.has(hub)) clock.advance(by);
      };
      move(ms);
      const renewed = async () => {
        const rows = (await db().query('SELECT instance_id, expires_at FROM instance_leases')).rows as {
          instance_id: string;
          expires_at: string;
        }[];
        const ends = new Map(rows.map((row) => [row.instance_id, Number(row.expires_at)]));
        // each on its own clock: a test may have moved one hub's alone
        return [...r.alive].every(
          (h) =>
            (ends.get(h.hub.config.instanceId as string) ?? 0) > (r.clocks.get(h)?.now() ?? 0) + TTL - 1_000,
        );
      };
      const deadline = Date.now() + 15_000;
      for (let tries = 0; !(await renewed()); tries++) {
        if (Date.now() > deadline) throw new Error('the leases were not renewed within 15 s');
        await new Promise((res) => setTimeout(res, 20));
        if (tries % 10 === 9) move(100);
      }
    }

    /** Step until `done`, in half-second steps (a renewal every second). */
    async function stepUntil(
      r: Running,
      what: string,
      done: () => boolean | Promise<boolean>,
    ): Promise<void> {
      for (let i = 0; i < 40; i++) {
        if (await done()) return;
        await step(r, 500);
        // the renewal's hand-over work (membership read, adoption) runs after the lease write
        await new Promise((res) => setTimeout(res, 30));
      }
      throw new Error(`${what}: not after 20 s of hub time`);
    }

    const scalar = (hub: TestHub, text: string, name: string) =>
      text
        .split('\n')
        .filter((l) => l.startsWith(name))
        .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0) +
      0 * hub.dataDir.length;

    async function metric(hub: TestHub, name: string): Promise<number> {
      const text = await hub.hub.metrics.metrics();
      return scalar(hub, text, name);
    }

    async function alerts(deviceId: string, category?: string): Promise<number> {
      const res = await db().query(
        `SELECT count(*)::int AS n FROM alerts WHERE device_id = $1 ${category ? 'AND category = $2' : ''}`,
        category ? [deviceId, category] : [deviceId],
      );
      return (res.rows[0] as { n: number }).n;
    }

    /**
     * The bin's `for` (6 s from `since`, when its state began) raised exactly once, within the step in which the
     * timer fired (alerts are recorded at the hub clock's now).
     */
    async function expectRaisedOnceWhenDue(r: Running, bin: string, since: number): Promise<void> {
      await stepUntil(r, 'the bin alert', async () => (await alerts(bin, 'bin_full')) > 0);
      await step(r, 500);
      await step(r, 500);
      expect(await alerts(bin, 'bin_full')).toBe(1);
      const opened = await db().query(`SELECT opened_at FROM alerts WHERE device_id = $1`, [bin]);
      const late = Number((opened.rows[0] as { opened_at: string }).opened_at) - (since + 6_000);
      expect(late).toBeGreaterThanOrEqual(0);
      expect(late).toBeLessThan(1_000);
    }

    async function device(id: string): Promise<MqttClient> {
      const c = await connectAsync(mosquitto?.url ?? '', {
        protocolVersion: 4,
        clientId: id,
        reconnectPeriod: 0,
      });
      clients.push(c);
      return c;
    }

    const demoDevice = (h: TestHub, type: string, owner: string) => {
      const found = h.credentials?.devices.find(
        (d) => d.type === type && ownerOf(d.id, ['hub-a', 'hub-b']) === owner,
      );
      if (!found) throw new Error(`no demo ${type} owned by ${owner}`);
      return found.id;
    };

    it('each device is evaluated by one instance: its `for` raises once, as on one instance', async () => {
      const r = await start(await pgc.createDatabase());
      const bin = demoDevice(r.a, 'bin', 'hub-b');
      const [owner, other] = [r.b, r.a];
      // B waits for A's hand-over of its share: A gives it up at its next renewal, B takes it at its own
      await stepUntil(r, 'B evaluates the bin', () => owner.hub.routing?.evaluates(bin) === true);
      expect(other.hub.routing?.evaluates(bin)).toBe(false);

      const dev = await device(bin);
      const routedBefore = await metric(other, 'gridhub_ingest_routed_away_total');
      for (let i = 0; i < 6; i++) {
        await dev.publishAsync(topics.telemetry(bin), JSON.stringify({ fill: 95 + (i % 3) }), { qos: 1 });
        await step(r, 500);
      }
      // every reading reached both; the owner evaluated them, the other kept them in its shadow
      await until('the other instance saw all six', async () =>
        (await metric(other, 'gridhub_ingest_routed_away_total')) - routedBefore >= 6 ? true : undefined,
      );
      const evaluated = async (h: TestHub) =>
        scalar(h, await h.hub.metrics.metrics(), 'gridhub_rules_evaluations_total{rule="bin-soon"}');
      await until('the owner evaluated all six', async () =>
        (await evaluated(owner)) === 6 ? true : undefined,
      );
      expect(await evaluated(other)).toBe(0);
      // held 3 s of its 6: not yet; then the timer on the owner raises once
      expect(await alerts(bin, 'bin_full')).toBe(0);
      await stepUntil(r, 'the bin alert', async () => (await alerts(bin, 'bin_full')) > 0);
      await step(r, 500);
      await step(r, 500);
      expect(await alerts(bin, 'bin_full')).toBe(1);
      // nothing was refused as written by a non-owner: one instance wrote the rule state
      const owners = await db().query(`SELECT DISTINCT owner FROM rules_state WHERE device_id = $1`, [bin]);
      expect(owners.rows).toEqual([{ owner: 'hub-b' }]);
    }, 60_000);

    it('the owner dies: the survivor adopts its `for`, replays the shadow, and each press is one alert', async () => {
      const r = await start(await pgc.createDatabase());
      const bin = demoDevice(r.a, 'bin', 'hub-a');
      const button = demoDevice(r.a, 'call_button', 'hub-a');
      const [dead, survivor] = [r.a, r.b];
      await stepUntil(
        r,
        'both hubs settled',
        () => survivor.hub.routing?.evaluates(demoDevice(r.a, 'bin', 'hub-b')) === true,
      );
      expect(dead.hub.routing?.evaluates(bin)).toBe(true);

      const binDev = await device(bin);
      const buttonDev = await device(button);
      // the `for` starts on the owner, and a press is taken there
      await binDev.publishAsync(topics.telemetry(bin), JSON.stringify({ fill: 97 }), { qos: 1 });
      // the start of a `for` is written at once: when it began is in the shared store
      const since = await until('the owner held the bin', async () => {
        const res = await db().query(
          `SELECT state FROM rules_state WHERE device_id = $1 AND rule_id = 'bin-soon'`,
          [bin],
        );
        const row = res.rows[0] as { state: string } | undefined;
        return row ? (JSON.parse(row.state) as { s: number }).s : undefined;
      });
      await step(r, 500);
      const press = (eventId: string) => JSON.stringify({ event: 'press', eventId });
      await buttonDev.publishAsync(topics.event(button), press('p1'), { qos: 1 });
      await until('the press on the owner', async () => ((await alerts(button)) === 1 ? true : undefined));
      await step(r, 500);

      // kill: its consumers go, its clock stops, its lease is never renewed nor given up
      await dead.hub.ingest.close();
      r.alive.delete(dead);
      r.clocks.get(survivor)?.advance(100);
      // what it had journaled and not yet recorded when it died: press p0, acknowledged, in its journal
      const info = dead.hub.registry.devices.get(button);
      const now = r.clocks.get(survivor)?.now() ?? 0;
      const p0: EventReading = {
        kind: 'event',
        deviceId: button,
        deviceType: 'call_button',
        placeId: info?.placeId ?? '',
        place: info?.place ?? { street: '', community: '', grid: '', estate: '' },
        floor: info?.floor ?? null,
        ts: now,
        receivedAt: now,
        qos: 1,
        event: 'press',
        data: {},
        eventId: 'p0',
      };
      await db().query(
        `INSERT INTO ingest_journal (device_id, received_at, reading, owner) VALUES ($1, $2, $3, 'hub-a')`,
        [button, now, JSON.stringify(p0)],
      );
      await db().query(
        `INSERT INTO ingest_seen (device_id, key, digest, conn, qos, expires_at) VALUES ($1, 'e:p0', '', '', 1, $2)`,
        [button, now + 86_400_000],
      );
      // during the gap: the device resends p0 (it had not seen its PUBACK), presses again, and the bin reports
      await buttonDev.publishAsync(topics.event(button), press('p0'), { qos: 1 });
      await buttonDev.publishAsync(topics.event(button), press('p2'), { qos: 1 });
      await binDev.publishAsync(topics.telemetry(bin), JSON.stringify({ fill: 98 }), { qos: 1 });
      await until('the survivor shadowed them', async () =>
        (await metric(survivor, 'gridhub_ingest_shadow_messages')) >= 3 ? true : undefined,
      );

      await stepUntil(
        r,
        'the survivor takes the devices over',
        () => survivor.hub.routing?.evaluates(bin) === true,
      );
      expect(survivor.hub.routing?.evaluates(button)).toBe(true);
      // p0 (journaled by the dead owner: the orphan sweep), p1 (the owner's), p2 (the shadow): once each
      await until('p0 and p2 raised', async () => ((await alerts(button)) >= 3 ? true : undefined));
      expect(await metric(survivor, 'gridhub_ingest_shadow_replayed_total')).toBeGreaterThanOrEqual(2);
      const ids = await db().query(`SELECT count(*)::int AS n FROM alerts WHERE device_id = $1`, [button]);
      expect((ids.rows[0] as { n: number }).n).toBe(3);
      expect(await metric(survivor, 'gridhub_ingest_duplicates_total')).toBeGreaterThanOrEqual(1);

      // the `for` began at the dead owner 1.5 s before it died: it completes on the survivor, once, at 6 s
      // raised when the dead owner's `for` ran out, not 6 s after the take-over (4.5 s after it began)
      await expectRaisedOnceWhenDue(r, bin, since);
      expect(await alerts(button)).toBe(3);
      const stateOwner = await db().query(
        `SELECT owner FROM rules_state WHERE device_id = $1 AND rule_id = 'bin-soon'`,
        [bin],
      );
      expect(stateOwner.rows).toEqual([{ owner: 'hub-b' }]);
    }, 90_000);

    it('an owner behind by more than a lease when it dies: a press it never took is raised once by the survivor', async () => {
      const r = await start(await pgc.createDatabase());
      const button = demoDevice(r.a, 'call_button', 'hub-a');
      const [dead, survivor] = [r.a, r.b];
      await stepUntil(
        r,
        'both hubs settled',
        () => survivor.hub.routing?.evaluates(demoDevice(r.a, 'bin', 'hub-b')) === true,
      );
      const buttonDev = await device(button);
      const press = (eventId: string) => JSON.stringify({ event: 'press', eventId });
      await buttonDev.publishAsync(topics.event(button), press('q1'), { qos: 1 });
      await until('the press on the owner', async () => ((await alerts(button)) === 1 ? true : undefined));

      // The owner stops taking messages (a loaded machine, seconds behind on its socket) but lives on: press q2
      // reaches the survivor's shadow only, and the owner renews its lease for more than a lease after it.
      await dead.hub.ingest.close();
      await buttonDev.publishAsync(topics.event(button), press('q2'), { qos: 1 });
      await until('the survivor shadowed q2', async () =>
        (await metric(survivor, 'gridhub_ingest_shadow_messages')) >= 1 ? true : undefined,
      );
      await step(r, TTL);
      await step(r, TTL);
      // then it dies: its clock stops, its lease is never renewed nor given up
      r.alive.delete(dead);
      await stepUntil(
        r,
        'the survivor takes the button over',
        () => survivor.hub.routing?.evaluates(button) === true,
      );
      // q2 came long before the owner's last sign of life, yet its eventId tells it was never taken: raised
      await until('q2 raised', async () => ((await alerts(button)) >= 2 ? true : undefined));
      await step(r, 500);
      expect(await alerts(button)).toBe(2);
      const events = await db().query(
        `SELECT event_id FROM alert_event_seen WHERE device_id = $1 ORDER BY event_id`,
        [button],
      );
      expect(events.rows.map((row) => (row as { event_id: string }).event_id)).toEqual(['q1', 'q2']);
    }, 90_000);

    it('a newcomer takes its share from a live owner: the state is handed over, the `for` raises once', async () => {
      let since = 0;
      let bin = '';
      const r = await start(await pgc.createDatabase(), async (alone) => {
        // A alone evaluates every device; the bin is B's share once B joins
        bin = demoDevice(alone.a, 'bin', 'hub-b');
        const dev = await device(bin);
        await dev.publishAsync(topics.telemetry(bin), JSON.stringify({ fill: 95 }), { qos: 1 });
        since = await until('A held the bin', async () => {
          const res = await db().query(
            `SELECT state, owner FROM rules_state WHERE device_id = $1 AND rule_id = 'bin-soon'`,
            [bin],
          );
          const row = res.rows[0] as { state: string; owner: string } | undefined;
          return row?.owner === 'hub-a' ? (JSON.parse(row.state) as { s: number }).s : undefined;
        });
        await step(alone, 500);
      });
      const [old, newcomer] = [r.a, r.b];
      expect(newcomer.hub.routing?.evaluates(bin)).toBe(false);
      // A gives the bin up at its next renewal (its rows nobody's, a note), B takes it at its own
      await stepUntil(r, 'B takes the bin over', () => newcomer.hub.routing?.evaluates(bin) === true);
      expect(old.hub.routing?.evaluates(bin)).toBe(false);
      // raised on B when the `for` A had started ran out
      await expectRaisedOnceWhenDue(r, bin, since);
      const owners = await db().query(`SELECT DISTINCT owner FROM rules_state WHERE device_id = $1`, [bin]);
      expect(owners.rows).toEqual([{ owner: 'hub-b' }]);
      expect((await db().query('SELECT count(*)::int AS n FROM rules_handover')).rows).toEqual([{ n: 100 }]);
    }, 60_000);

    /** The devices not evaluated by their owner among `names` alone (every live hub asked). */
    const misrouted = (r: Running, ids: readonly string[], names: readonly string[]) =>
      ids.filter((id) => {
        const on = [...r.alive]
          .filter((h) => h.hub.routing?.evaluates(id))
          .map((h) => h.hub.config.instanceId);
        return on.length !== 1 || on[0] !== ownerOf(id, names);
      });

    /** A hand-over takes a renewal of each side: each device on its owner within 8 steps (4 s), under the 12 s wait limit. */
    async function expectOwnersWithinFourSeconds(
      r: Running,
      ids: readonly string[],
      names: readonly string[],
    ) {
      for (let i = 0; i < 8 && misrouted(r, ids, names).length > 0; i++) {
        await step(r, 500);
        await new Promise((res) => setTimeout(res, 30));
      }
      expect(misrouted(r, ids, names)).toEqual([]);
    }

    const notesBy = async (id: string) =>
      (
        (await db().query('SELECT count(*)::int AS n FROM rules_handover WHERE released_by = $1', [id]))
          .rows[0] as { n: number }
      ).n;

    /** Only A's clock moves (by less than B's lease): A renews, sees B and gives B's share up with its notes. */
    async function untilAReleased(r: Running): Promise<ManualClock> {
      const clockA = r.clocks.get(r.a) as ManualClock;
      for (let i = 0; i < 15 && (await notesBy('hub-a')) === 0; i++) {
        clockA.advance(100);
        await new Promise((res) => setTimeout(res, 40));
      }
      expect(await notesBy('hub-a')).toBeGreaterThan(0);
      return clockA;
    }

    it('instances joining one after another: each device is evaluated by its one owner within a few renewals', async () => {
      const url = await pgc.createDatabase();
      const r = await start(url);
      const ids = (r.a.credentials?.devices ?? []).map((d) => d.id);
      const clockA = await untilAReleased(r);
      // B has not renewed since: it has taken nothing yet
      expect(ids.filter((id) => r.b.hub.routing?.evaluates(id))).toEqual([]);
      // C joins now, and at its start gives up with its own notes all that is not its own in its view, the
      // devices B waits for from A among them; some of B's share is C's now, which B never evaluated
      await addInstance(r, url, 'hub-c', clockA.now());
      await expectOwnersWithinFourSeconds(r, ids, ['hub-a', 'hub-b', 'hub-c']);
    }, 60_000);

    it('an instance restarted under its name moments after a crash: its share is evaluated again within a few renewals', async () => {
      const url = await pgc.createDatabase();
      const r = await start(url);
      const ids = (r.a.credentials?.devices ?? []).map((d) => d.id);
      const names = ['hub-a', 'hub-b'];
      await stepUntil(r, 'both hubs settled', () => misrouted(r, ids, names).length === 0);
      // crash: its consumers go, its clock stops, its lease is neither renewed nor given up
      const crashed = r.b;
      await crashed.hub.ingest.close();
      r.alive.delete(crashed);
      r.clocks.delete(crashed);
      // restarted at once under the same name: it takes the name once the old lease has run out
      const clockA = r.clocks.get(r.a) as ManualClock;
      const clockB = new ManualClock(clockA.now());
      let restarted: TestHub | undefined;
      const starting = startTestHub({
        clock: clockB,
        demo: false,
        dataDir: dataDir(),
        env: env(url, 'hub-b'),
      });
      void starting.then(
        (h) => {
          restarted = h;
        },
        () => undefined,
      );
      for (let i = 0; i < 300 && restarted === undefined; i++) {
        clockA.advance(100);
        clockB.advance(100);
        await new Promise((res) => setTimeout(res, 20));
      }
      const b = await starting;
      hubs.push(b);
      r.b = b;
      r.clocks.set(b, clockB);
      r.alive.add(b);
      await expectOwnersWithinFourSeconds(r, ids, names);
    }, 90_000);

    it('a note that never comes: the waiting devices are taken after four leases, not before', async () => {
      const url = await pgc.createDatabase();
      const r = await start(url);
      const ids = (r.a.credentials?.devices ?? []).map((d) => d.id);
      const bShare = ids.filter((id) => ownerOf(id, ['hub-a', 'hub-b']) === 'hub-b');
      const clockB = r.clocks.get(r.b) as ManualClock;
      await untilAReleased(r);
      // A's notes lost before B reads them (as if A's view never had B): B waits for what will not come
      await db().query('DELETE FROM rules_handover');
      const waitStart = clockB.now();
      const takenBy = () => bShare.filter((id) => r.b.hub.routing?.evaluates(id)).length;
      while (clockB.now() - waitStart < 4 * TTL - 1_000) {
        await step(r, 500);
        expect(takenBy()).toBe(0);
      }
      for (let i = 0; i < 8 && takenBy() < bShare.length; i++) {
        await step(r, 500);
        await new Promise((res) => setTimeout(res, 30));
      }
      expect(takenBy()).toBe(bShare.length);
    }, 90_000);
  },
);
