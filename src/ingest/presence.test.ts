import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createCatalogue } from '../catalogue/catalogue.ts';
import { ManualClock } from '../clock/clock.ts';
import { createEventBus } from '../domain/events.ts';
import { createLogger } from '../observability/logger.ts';
import { createRegistry } from '../registry/registry.ts';
import { openDatabase } from '../storage/sqlite.ts';
import { createPresence } from './presence.ts';
import type { DeviceSession } from './session.ts';

async function setup(devices: number, maxPerBatch?: number) {
  const db = openDatabase(':memory:');
  const clock = new ManualClock(1_800_000_000_000);
  const catalogue = createCatalogue();
  const registry = createRegistry(db, catalogue, clock, { secretKey: randomBytes(32) });
  await registry.places.create({ id: 's1', level: 'street', name: 'S', parentId: null });
  await registry.places.create({ id: 'c1', level: 'community', name: 'C', parentId: 's1' });
  await registry.places.create({ id: 'g1', level: 'grid', name: 'G', parentId: 'c1' });
  await registry.places.create({ id: 'e1', level: 'estate', name: 'E', parentId: 'g1' });
  await registry.places.create({ id: 'b1', level: 'building', name: 'B', parentId: 'e1' });
  const ids = Array.from({ length: devices }, (_, i) => `btn-${i}`);
  for (const id of ids)
    await registry.devices.provision({ id, type: 'call_button', placeId: 'b1', floor: null }, clock.now());
  const log = createLogger('silent');
  const bus = createEventBus(log);
  const events: string[] = [];
  bus.on('device.online', (e) => events.push(`online ${e.deviceId}`));
  bus.on('device.offline', (e) => events.push(`offline ${e.deviceId}`));
  const presence = createPresence({
    devices: registry.devices,
    bus,
    clock,
    log,
    batching: maxPerBatch ? { maxPerBatch } : {},
  });
  const session = (id: string): DeviceSession => ({
    role: 'device',
    id,
    entry: catalogue.get('call_button'),
    keepaliveTimedOut: false,
    offlineSource: null,
  });
  /** Devices online in the table, once the registry's writes issued so far are done. */
  const onlineRows = async () => {
    await registry.devices.settled();
    return (db.prepare('SELECT count(*) AS n FROM devices WHERE online = 1').get() as { n: number }).n;
  };
  const onlineNow = () => ids.filter((id) => registry.devices.get(id)?.online).length;
  return { registry, presence, session, ids, events, onlineRows, onlineNow };
}

const nextTurn = () => new Promise<void>((r) => setImmediate(r));

describe('presence, batched', () => {
  it('hands a burst of connects to the registry on the next turn, in order, then tells the bus', async () => {
    const h = await setup(50);
    for (const id of h.ids) h.presence.connected(h.session(id));
    expect(h.onlineNow()).toBe(0);
    expect(h.events).toEqual([]);
    await nextTurn();
    expect(h.onlineNow()).toBe(50);
    expect(h.events).toEqual(h.ids.map((id) => `online ${id}`));
    expect(await h.onlineRows()).toBe(50);
  });

  it('hands at most maxPerBatch changes over a turn, the rest in later turns', async () => {
    const h = await setup(5, 2);
    for (const id of h.ids) h.presence.connected(h.session(id));
    await nextTurn();
    expect(h.onlineNow()).toBe(2);
    await nextTurn();
    expect(h.onlineNow()).toBe(4);
    await nextTurn();
    expect(h.onlineNow()).toBe(5);
    expect(await h.onlineRows()).toBe(5);
  });

  it('a status message after a queued connect lands after it: order and events as without batching', async () => {
    const h = await setup(1);
    const [id] = h.ids as [string];
    h.presence.connected(h.session(id));
    h.presence.status(id, false, 'device', 1_800_000_000_500);
    expect(h.registry.devices.get(id)?.online).toBe(false);
    expect(h.events).toEqual([`online ${id}`, `offline ${id}`]);
    await nextTurn();
    expect(await h.onlineRows()).toBe(0);
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
    expect(await h.onlineRows()).toBe(0);
  });

  it('flush hands over what is queued at once (shutdown)', async () => {
    const h = await setup(3);
    for (const id of h.ids) h.presence.connected(h.session(id));
    h.presence.flush();
    expect(h.onlineNow()).toBe(3);
    expect(h.events).toHaveLength(3);
    expect(await h.onlineRows()).toBe(3);
  });
});
