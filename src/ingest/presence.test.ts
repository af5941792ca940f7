import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createCatalogue } from '../catalogue/catalogue.ts';
import { ManualClock } from '../clock/clock.ts';
import { createEventBus, type HubEvents } from '../domain/events.ts';
import { createLogger } from '../observability/logger.ts';
import { createRegistry } from '../registry/registry.ts';
import { openDatabase } from '../storage/sqlite.ts';
import { createPresence } from './presence.ts';
import type { DeviceSession } from './session.ts';
import { deviceTopics } from './topics.ts';

async function setup(devices: number, maxPerBatch?: number) {
  const statements: string[] = [];
  const db = openDatabase(':memory:', { verbose: (sql) => statements.push(sql) });
  const clock = new ManualClock(1_800_000_000_000);
  const catalogue = createCatalogue();
  const registry = createRegistry(db, catalogue, clock, { secretKey: randomBytes(32) });
  registry.places.create({ id: 's1', level: 'street', name: 'S', parentId: null });
  registry.places.create({ id: 'c1', level: 'community', name: 'C', parentId: 's1' });
  registry.places.create({ id: 'g1', level: 'grid', name: 'G', parentId: 'c1' });
  registry.places.create({ id: 'e1', level: 'estate', name: 'E', parentId: 'g1' });
  registry.places.create({ id: 'b1', level: 'building', name: 'B', parentId: 'e1' });
  const ids = Array.from({ length: devices }, (_, i) => `btn-${i}`);
  for (const id of ids)
    await registry.devices.provision({ id, type: 'call_button', placeId: 'b1', floor: null }, clock.now());
  const log = createLogger('silent');
  const bus = createEventBus(log);
  const events: string[] = [];
  const tableOnline = new Set<string>();
  const record =
    (kind: string) =>
    (e: HubEvents['device.online']): void => {
      // what an observer reads when told: the row is already written
      const row = db.prepare('SELECT online FROM devices WHERE id = ?').get(e.deviceId) as { online: number };
      if (row.online === (kind === 'online' ? 1 : 0)) tableOnline.add(e.deviceId);
      events.push(`${kind} ${e.deviceId}`);
    };
  bus.on('device.online', record('online'));
  bus.on('device.offline', record('offline'));
  const presence = createPresence({
    devices: registry.devices,
    bus,
    clock,
    log,
    batching: { transaction: (fn) => db.transaction(fn)(), ...(maxPerBatch ? { maxPerBatch } : {}) },
  });
  const session = (id: string): DeviceSession => ({
    role: 'device',
    id,
    topics: deviceTopics(id),
    entry: catalogue.get('call_button'),
    keepaliveTimedOut: false,
    offlineSource: null,
  });
  const commits = () => statements.filter((s) => s === 'COMMIT').length;
  const onlineRows = () =>
    (db.prepare('SELECT count(*) AS n FROM devices WHERE online = 1').get() as { n: number }).n;
  return { registry, presence, session, ids, events, tableOnline, commits, onlineRows };
}

const nextTurn = () => new Promise<void>((r) => setImmediate(r));

describe('presence, batched', () => {
  it('writes a burst of connects in one transaction on the next turn, then tells the bus', async () => {
    const h = await setup(50);
    const before = h.commits();
    for (const id of h.ids) h.presence.connected(h.session(id));
    expect(h.onlineRows()).toBe(0);
    expect(h.events).toEqual([]);
    await nextTurn();
    expect(h.onlineRows()).toBe(50);
    expect(h.commits() - before).toBe(1);
    expect(h.events).toEqual(h.ids.map((id) => `online ${id}`));
    // every observer was told after the row was committed
    expect(h.tableOnline.size).toBe(50);
    expect(h.registry.devices.get('btn-7')?.online).toBe(true);
  });

  it('keeps each transaction to maxPerBatch changes, the rest in later turns', async () => {
    const h = await setup(5, 2);
    const before = h.commits();
    for (const id of h.ids) h.presence.connected(h.session(id));
    await nextTurn();
    expect(h.onlineRows()).toBe(2);
    await nextTurn();
    expect(h.onlineRows()).toBe(4);
    await nextTurn();
    expect(h.onlineRows()).toBe(5);
    expect(h.commits() - before).toBe(3);
  });

  it('a status message after a queued connect lands after it: order and events as without batching', async () => {
    const h = await setup(1);
    const [id] = h.ids as [string];
    h.presence.connected(h.session(id));
    h.presence.status(id, false, 'device', 1_800_000_000_500);
    expect(h.registry.devices.get(id)?.online).toBe(false);
    expect(h.events).toEqual([`online ${id}`, `offline ${id}`]);
    await nextTurn();
    expect(h.onlineRows()).toBe(0);
    expect(h.events).toEqual([`online ${id}`, `offline ${id}`]);
  });

  it('a device that connects and goes within one turn is told online then offline, and ends offline', async () => {
    const h = await setup(1);
    const [id] = h.ids as [string];
    const s = h.session(id);
    h.presence.connected(s);
    s.keepaliveTimedOut = true;
    h.presence.disconnected(s);
    await nextTurn();
    expect(h.events).toEqual([`online ${id}`, `offline ${id}`]);
    expect(h.registry.devices.get(id)?.online).toBe(false);
    expect(h.onlineRows()).toBe(0);
  });

  it('flush writes what is queued at once (shutdown)', async () => {
    const h = await setup(3);
    for (const id of h.ids) h.presence.connected(h.session(id));
    h.presence.flush();
    expect(h.onlineRows()).toBe(3);
    await nextTurn();
    expect(h.events).toHaveLength(3);
  });
});
